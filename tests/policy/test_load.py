"""Malformed policies are errors naming the file and line, never a silent allow."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from modelseal.core.errors import ConfigError
from modelseal.policy.load import DEFAULT_POLICY, find_policy, load_policy
from modelseal.policy.model import Check, Mode, Verdict

HEAD = "modelseal-policy: 1\nenvironments:\n  prod:\n    rules:\n"


@pytest.mark.parametrize(
    ("body", "line", "needle"),
    [
        ("      - {id: a, check: findings, mode: enforcing}\n", 5, "enforcing"),
        ("      - {id: a, check: findings, serverity: high}\n", 5, "unknown key 'serverity'"),
        ("      - {id: a, check: findingz}\n", 5, "findingz"),
        ("      - {id: a, check: findings, severity: huge}\n", 5, "huge"),
        ("      - {id: a, check: formats}\n", 5, "needs 'allow' or 'forbid'"),
        ("      - {id: a, check: reputation, minimum: godlike}\n", 5, "godlike"),
        ("      - id: a\n        check: findings\n        on-violation: maybe\n", 7, "maybe"),
        ("      - {check: findings}\n", 5, "needs 'id'"),
        ("      - {id: a, check: findings}\n      - {id: a, check: lockfile}\n", 6, "duplicate rule id"),
        ("      - {id: a, check: findings\n", 6, "not valid YAML"),
        ("      - {id: a, check: formats, forbid: pickle}\n", 5, "list of strings"),
    ],
)
def test_rule_errors_name_file_and_line(
    write: Callable[..., Path], body: str, line: int, needle: str
) -> None:
    path = write(HEAD + body)
    with pytest.raises(ConfigError) as err:
        load_policy(path)
    assert f"{path}:{line}" in str(err.value)
    assert needle in str(err.value)


def test_bad_cel_is_a_load_error(write: Callable[..., Path]) -> None:
    pytest.importorskip("celpy")
    path = write(HEAD + "      - id: a\n        check: expression\n        violation-if: 'tier == '\n")
    with pytest.raises(ConfigError, match=rf"{path}:7: CEL expression does not compile"):
        load_policy(path)


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("environments: {}\n", 1, "modelseal-policy: 1"),
        ("modelseal-policy: 1\n", None, "needs 'environments'"),
        ("modelseal-policy: 1\nenvironment:\n  prod: {}\n", 2, "unknown key 'environment'"),
        (
            "modelseal-policy: 1\nenvironments:\n  prod: {rules: []}\nwaivers:\n  - rule: x\n",
            5,
            "a waiver needs",
        ),
        (
            "modelseal-policy: 1\nenvironments:\n  prod: {rules: []}\nwaivers:\n  - rule: x\n"
            "    digest: abc\n"
            "    justification: j\n    approver: a\n    expires: 2026-01-01\n",
            6,
            "sha256:<64 hex digits>",
        ),
        (
            "modelseal-policy: 1\nenvironments:\n  prod: {rules: []}\nwaivers:\n  - rule: x\n"
            f"    digest: sha256:{'a' * 64}\n    justification: j\n    approver: a\n    expires: soon\n",
            9,
            "not a date",
        ),
        ("modelseal-policy: 1\na: &x [1]\nb: *x\n", 2, "aliases are not allowed"),
        ("modelseal-policy: 1\nmodelseal-policy: 1\n", 2, "duplicate key"),
        ("modelseal-policy: 1\nenvironments:\n  prod: {allow-bypass: sometimes}\n", 3, "true or false"),
    ],
)
def test_document_errors(write: Callable[..., Path], text: str, line: int | None, needle: str) -> None:
    path = write(text)
    with pytest.raises(ConfigError) as err:
        load_policy(path)
    assert str(err.value).startswith(f"{path}:{line}:" if line else str(path))
    assert needle in str(err.value)


def test_empty_and_binary_files_are_errors(write: Callable[..., Path], tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_policy(write(""))
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="cannot read"):
        load_policy(binary)
    with pytest.raises(ConfigError, match="cannot read"):
        load_policy(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="ends in"):
        load_policy(write("x", name="policy.json"))


def test_pyproject_table(write: Callable[..., Path]) -> None:
    path = write(
        '[project]\nname = "x"\n\n[tool.modelseal.policy]\nmodelseal-policy = 1\n\n'
        '[[tool.modelseal.policy.environments.prod.rules]]\nid = "high"\ncheck = "findings"\n'
        'on-violation = "review"\n',
        name="pyproject.toml",
    )
    policy = load_policy(path)
    (rule,) = policy.environment("prod").rules
    assert (rule.id, rule.check, rule.mode, rule.on_violation) == (
        "high",
        Check.FINDINGS,
        Mode.ENFORCE,
        Verdict.REVIEW,
    )


def test_toml_errors_point_at_the_key(write: Callable[..., Path]) -> None:
    path = write(
        "[tool.modelseal.policy]\nmodelseal-policy = 1\n\n[[tool.modelseal.policy.environments.prod.rules]]\n"
        'id = "high"\ncheck = "findings"\nmode = "loud"\n',
        name="pyproject.toml",
    )
    with pytest.raises(ConfigError, match=rf"{path}:7: .*'loud'"):
        load_policy(path)
    broken = write("[tool.modelseal.policy\n", name="pyproject.toml")
    with pytest.raises(ConfigError, match=r"not valid TOML.*line 1"):
        load_policy(broken)


def test_unknown_environment_is_an_error(write: Callable[..., Path]) -> None:
    policy = load_policy(write(HEAD + "      - {id: a, check: findings}\n"))
    with pytest.raises(ConfigError, match=r"no environment 'qa'.*prod"):
        policy.environment("qa")


def test_policy_discovery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODELSEAL_POLICY", raising=False)
    assert find_policy(None, tmp_path) == DEFAULT_POLICY
    (tmp_path / "pyproject.toml").write_text('[tool.modelseal]\nallow = ["x.y"]\n')
    assert find_policy(None, tmp_path) == DEFAULT_POLICY
    (tmp_path / "pyproject.toml").write_text("[tool.modelseal.policy]\nmodelseal-policy = 1\n")
    assert find_policy(None, tmp_path) == tmp_path / "pyproject.toml"
    (tmp_path / "modelseal-policy.yaml").write_text("x")
    assert find_policy(None, tmp_path) == tmp_path / "modelseal-policy.yaml"
    monkeypatch.setenv("MODELSEAL_POLICY", "/elsewhere.yaml")
    assert find_policy(None, tmp_path) == Path("/elsewhere.yaml")
    assert find_policy(Path("given.yaml"), tmp_path) == Path("given.yaml")


def test_hostile_nesting_is_an_error(write: Callable[..., Path]) -> None:
    deep = "modelseal-policy: 1\nx: " + "[" * 50_000 + "]" * 50_000 + "\n"
    with pytest.raises(ConfigError, match=r"nested too deeply|not valid YAML"):
        load_policy(write(deep))
    with pytest.raises(ConfigError, match=r"nested too deeply|not valid TOML"):
        load_policy(write("x = " + "[" * 50_000 + "]" * 50_000 + "\n", name="policy.toml"))
