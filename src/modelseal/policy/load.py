"""Reads a policy (YAML, a TOML file, or ``[tool.modelseal.policy]`` in pyproject.toml) into a Policy.

Every mistake is a ConfigError naming the file and line: unknown keys, wrong types, unknown modes,
CEL that does not compile. A policy that cannot be read never turns into an allow.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any, NoReturn

from modelseal.core import toml
from modelseal.core.errors import ConfigError
from modelseal.core.findings import Severity
from modelseal.policy.model import Check, Environment, Expression, Mode, Policy, Rule, Verdict, Waiver

MAX_POLICY_BYTES = 1 << 20
ENV_POLICY = "MODELSEAL_POLICY"
DEFAULT_POLICY = Path(__file__).with_name("default-policy.toml")
LOCAL_NAMES = ("modelseal-policy.yaml", "modelseal-policy.yml", ".modelseal/policy.yaml")

Path_ = tuple[str | int, ...]


class _Doc:
    """The parsed text plus a way to turn a key path back into a line number."""

    def __init__(self, source: str, line_of: Callable[[Path_], int | None]) -> None:
        self.source = source
        self.line_of = line_of

    def where(self, path: Path_) -> str:
        """``file:line`` of the key, or of the nearest enclosing one (a missing key has no line)."""
        for depth in range(len(path), -1, -1):
            line = self.line_of(path[:depth])
            if line is not None:
                return f"{self.source}:{line}"
        dotted = ".".join(str(p) for p in path)
        return f"{self.source} (at {dotted})" if dotted else self.source

    def fail(self, path: Path_, message: str) -> NoReturn:
        raise ConfigError(f"{self.where(path)}: {message}")

    def mapping(self, value: Any, path: Path_, known: set[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(path, f"expected a mapping, got {type(value).__name__}")
        for key in value:
            if key not in known:
                self.fail((*path, key), f"unknown key {key!r}; expected one of: {', '.join(sorted(known))}")
        return value

    def text(self, value: Any, path: Path_) -> str:
        if not isinstance(value, str) or not value.strip():
            hint = "" if isinstance(value, str) else f", got {value!r} (quote it if it is meant as text)"
            self.fail(path, f"expected a non-empty string{hint}")
        return value.strip()

    def texts(self, value: Any, path: Path_) -> tuple[str, ...]:
        if not isinstance(value, list):
            self.fail(path, "expected a list of strings")
        return tuple(self.text(v, (*path, i)) for i, v in enumerate(value))

    def choice(self, value: Any, path: Path_, choices: tuple[str, ...]) -> str:
        text = self.text(value, path).lower()
        if text not in choices:
            self.fail(path, f"{value!r} is not one of: {', '.join(choices)}")
        return text


# --- reading the text -------------------------------------------------------------------------------


def _yaml(text: str, source: str) -> tuple[Any, Callable[[Path_], int | None]]:
    import yaml

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{source}{line}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    lines: dict[Path_, int] = {}
    seen: set[int] = set()
    constructor = yaml.SafeLoader("")

    def convert(node: yaml.Node, path: Path_) -> Any:
        lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.ScalarNode):
            return constructor.construct_object(node, deep=True)
        if id(node) in seen:  # an alias: refuse rather than expand (billion laughs)
            raise ConfigError(
                f"{source}:{node.start_mark.line + 1}: YAML anchors and aliases are not allowed"
            )
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            return [convert(item, (*path, i)) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.MappingNode)
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = (
                constructor.construct_object(key_node, deep=True)
                if isinstance(key_node, yaml.ScalarNode)
                else None
            )
            if not isinstance(key, str):
                raise ConfigError(f"{source}:{key_node.start_mark.line + 1}: keys must be strings")
            if key in out:
                raise ConfigError(f"{source}:{key_node.start_mark.line + 1}: duplicate key {key!r}")
            where = (*path, key)
            out[key] = convert(value_node, where)
            lines[where] = key_node.start_mark.line + 1
        return out

    data = {} if root is None else convert(root, ())
    return data, lines.get


def _nesting_guard(parse: Callable[[], tuple[Any, Callable[[Path_], int | None]]], source: str) -> Any:
    """Hostile nesting must be an error, not a crash: parsers and our converter recurse."""
    try:
        return parse()
    except RecursionError:
        raise ConfigError(f"{source}: the policy is nested too deeply") from None


def _toml(text: str, source: str, pyproject: bool) -> tuple[Any, Callable[[Path_], int | None]]:
    try:
        data: Any = toml.loads(text)
    except toml.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc})") from None
    if pyproject:
        data = data.get("tool", {}).get("modelseal", {}).get("policy")
        if data is None:
            raise ConfigError(f"{source}: no [tool.modelseal.policy] table")
    text_lines = text.splitlines()

    def line_of(path: Path_) -> int | None:
        """TOML parsers keep no positions: find the last named key's first definition."""
        names = [p for p in path if isinstance(p, str)]
        if not names:
            return None
        pattern = re.compile(rf"""^\s*(\[+.*)?["']?{re.escape(names[-1])}["']?\s*(=|\]|\.)""")
        return next((n for n, line in enumerate(text_lines, 1) if pattern.search(line)), None)

    return data, line_of


def read_text(path: Path) -> str:
    try:
        if path.stat().st_size > MAX_POLICY_BYTES:
            raise ConfigError(f"{path}: policy is larger than {MAX_POLICY_BYTES} bytes")
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the policy ({exc})") from None


def load_policy(path: Path) -> Policy:
    """Parse and validate one policy file."""
    text = read_text(path)
    source = str(path)
    if path.suffix in (".yaml", ".yml"):
        data, line_of = _nesting_guard(lambda: _yaml(text, source), source)
    elif path.suffix == ".toml":
        pyproject = path.name == "pyproject.toml"
        data, line_of = _nesting_guard(lambda: _toml(text, source, pyproject), source)
    else:
        raise ConfigError(f"{path}: a policy file ends in .yaml, .yml or .toml")
    digest = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    return _build(_Doc(source, line_of), data, digest)


def find_policy(explicit: Path | None, cwd: Path) -> Path:
    """``--policy``, else ``MODELSEAL_POLICY``, else a policy in the working folder, else the shipped one."""
    if explicit is not None:
        return explicit
    env = os.environ.get(ENV_POLICY)
    if env:
        return Path(env)
    for name in LOCAL_NAMES:
        if (cwd / name).is_file():
            return cwd / name
    pyproject = cwd / "pyproject.toml"
    if pyproject.is_file():
        try:
            has = "policy" in toml.loads(read_text(pyproject)).get("tool", {}).get("modelseal", {})
        except toml.TOMLDecodeError as exc:
            raise ConfigError(f"{pyproject}: not valid TOML ({exc})") from None
        if has:
            return pyproject
    return DEFAULT_POLICY


# --- validation -------------------------------------------------------------------------------------

_TOP = {"modelseal-policy", "tiers", "classes", "environments", "waivers"}
_RULE = {
    "id",
    "check",
    "mode",
    "on-violation",
    "message",
    "severity",
    "rule-ids",
    "allow",
    "forbid",
    "signers",
    "minimum",
    "applies-to",
    "when",
    "violation-if",
}


def _compile(doc: _Doc, value: Any, path: Path_) -> Expression:
    source = doc.text(value, path)
    try:
        import celpy
    except ImportError:
        doc.fail(path, "CEL conditions need the 'cel' extra: pip install 'modelseal[cel]'")
    env = celpy.Environment()
    try:
        program = env.program(env.compile(source))
    except Exception as exc:  # celpy raises its own parse error types
        doc.fail(path, f"CEL expression does not compile: {str(exc).strip().splitlines()[0]}")
    return Expression(source, doc.where(path), program)


def _rule(doc: _Doc, value: Any, path: Path_, policy: dict[str, Any]) -> Rule:
    data = doc.mapping(value, path, _RULE)
    for key in ("id", "check"):
        if key not in data:
            doc.fail(path, f"a rule needs {key!r}")
    check = Check(doc.choice(data["check"], (*path, "check"), tuple(c.value for c in Check)))
    kw: dict[str, Any] = {
        "id": doc.text(data["id"], (*path, "id")),
        "check": check,
        "origin": doc.where(path),
    }
    if "mode" in data:
        kw["mode"] = Mode(doc.choice(data["mode"], (*path, "mode"), tuple(m.value for m in Mode)))
    if "on-violation" in data:
        kw["on_violation"] = Verdict[
            doc.choice(data["on-violation"], (*path, "on-violation"), ("block", "review")).upper()
        ]
    if "message" in data:
        kw["message"] = doc.text(data["message"], (*path, "message"))
    if "severity" in data:
        labels = tuple(s.label for s in Severity)
        kw["severity"] = Severity.parse(doc.choice(data["severity"], (*path, "severity"), labels))
    if "rule-ids" in data:
        kw["rule_ids"] = doc.texts(data["rule-ids"], (*path, "rule-ids"))
    if "allow" in data:
        kw["allow"] = doc.texts(data["allow"], (*path, "allow"))
    if "forbid" in data:
        kw["forbid"] = doc.texts(data["forbid"], (*path, "forbid"))
    if "signers" in data:
        kw["signers"] = doc.texts(data["signers"], (*path, "signers"))
    if "minimum" in data:
        kw["minimum"] = doc.choice(data["minimum"], (*path, "minimum"), policy["tiers"])
    if "applies-to" in data:
        where = (*path, "applies-to")
        scope = doc.mapping(data["applies-to"], where, {"criticality", "data-sensitivity"})
        for key, classes, attr in (
            ("criticality", policy["criticality"], "criticality"),
            ("data-sensitivity", policy["sensitivity"], "data_sensitivity"),
        ):
            if key in scope:
                kw[attr] = tuple(doc.choice(v, (*where, key, i), classes) for i, v in enumerate(scope[key]))
    if "when" in data:
        kw["when"] = _compile(doc, data["when"], (*path, "when"))
    if "violation-if" in data:
        kw["violation_if"] = _compile(doc, data["violation-if"], (*path, "violation-if"))
    needs = {
        Check.FORMATS: ("allow", "forbid"),
        Check.REPUTATION: ("minimum",),
        Check.EXPRESSION: ("violation-if",),
    }.get(check, ())
    if needs and not any(k in data for k in needs):
        doc.fail(path, f"a {check.value!r} rule needs {' or '.join(repr(k) for k in needs)}")
    return Rule(**kw)


def _date(doc: _Doc, value: Any, path: Path_) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(doc.text(value, path))
    except ValueError:
        doc.fail(path, f"{value!r} is not a date (YYYY-MM-DD)")


def _waiver(doc: _Doc, value: Any, path: Path_, environments: set[str]) -> Waiver:
    keys = {"rule", "digest", "justification", "approver", "expires", "environments"}
    data = doc.mapping(value, path, keys)
    for key in ("rule", "digest", "justification", "approver", "expires"):
        if key not in data:
            doc.fail(path, f"a waiver needs {key!r} (rule, digest, justification, approver, expires)")
    digest = doc.text(data["digest"], (*path, "digest"))
    if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
        doc.fail((*path, "digest"), "a waiver names one model by its digest: sha256:<64 hex digits>")
    envs = doc.texts(data.get("environments", []), (*path, "environments"))
    for i, env in enumerate(envs):
        if env not in environments:
            doc.fail((*path, "environments", i), f"no environment {env!r} in this policy")
    return Waiver(
        rule=doc.text(data["rule"], (*path, "rule")),
        digest=digest,
        justification=doc.text(data["justification"], (*path, "justification")),
        approver=doc.text(data["approver"], (*path, "approver")),
        expires=_date(doc, data["expires"], (*path, "expires")),
        environments=envs,
        origin=doc.where(path),
    )


def _build(doc: _Doc, data: Any, digest: str) -> Policy:
    top = doc.mapping(data, (), _TOP)
    version = top.get("modelseal-policy")
    if version != 1:
        doc.fail(
            ("modelseal-policy",), "the policy must start with 'modelseal-policy: 1' (the format version)"
        )
    defaults = Policy(doc.source, digest, {})
    tiers = doc.texts(top["tiers"], ("tiers",)) if "tiers" in top else defaults.tiers
    classes = doc.mapping(top.get("classes", {}), ("classes",), {"criticality", "data-sensitivity"})
    ctx = {
        "tiers": tiers,
        "criticality": doc.texts(classes["criticality"], ("classes", "criticality"))
        if "criticality" in classes
        else defaults.criticality_classes,
        "sensitivity": doc.texts(classes["data-sensitivity"], ("classes", "data-sensitivity"))
        if "data-sensitivity" in classes
        else defaults.sensitivity_classes,
    }
    envs_data = top.get("environments")
    if not isinstance(envs_data, dict) or not envs_data:
        doc.fail(
            ("environments",), "the policy needs 'environments', a mapping of environment names to rules"
        )
    environments: dict[str, Environment] = {}
    for name, env_value in envs_data.items():
        where = ("environments", name)
        env = doc.mapping(env_value, where, {"rules", "allow-bypass"})
        rules_value = env.get("rules", [])
        if not isinstance(rules_value, list):
            doc.fail((*where, "rules"), "expected a list of rules")
        rules = tuple(_rule(doc, r, (*where, "rules", i), ctx) for i, r in enumerate(rules_value))
        ids = [r.id for r in rules]
        for i, rid in enumerate(ids):
            if rid in ids[:i]:
                doc.fail((*where, "rules", i, "id"), f"duplicate rule id {rid!r} in environment {name!r}")
        bypass = env.get("allow-bypass", True)
        if not isinstance(bypass, bool):
            doc.fail((*where, "allow-bypass"), "expected true or false")
        environments[name] = Environment(name, rules, bypass)
    waivers_value = top.get("waivers", [])
    if not isinstance(waivers_value, list):
        doc.fail(("waivers",), "expected a list of waivers")
    waivers = tuple(_waiver(doc, w, ("waivers", i), set(environments)) for i, w in enumerate(waivers_value))
    return Policy(doc.source, digest, environments, waivers, tiers, ctx["criticality"], ctx["sensitivity"])
