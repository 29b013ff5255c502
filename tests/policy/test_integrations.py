"""The GitHub Action and the pre-commit hooks, exercised by running the command lines they define."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.policy.helpers import bad_model, good_model

ROOT = Path(__file__).resolve().parents[2]
EXPR = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """PATH with a ``modelseal`` command that runs this checkout's CLI, as the installed script does."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "modelseal"
    shim.write_text(f"#!{sys.executable}\nfrom modelseal.cli.app import main\nmain()\n")
    shim.chmod(0o755)
    out = {k: v for k, v in os.environ.items() if not k.startswith("MODELSEAL_")}
    out["PATH"] = f"{bin_dir}{os.pathsep}{out['PATH']}"
    out["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), out.get("PYTHONPATH", "")])
    out["MODELSEAL_AUDIT_LOG"] = str(tmp_path / "audit.sqlite")
    return out


# --- GitHub Action ------------------------------------------------------------------------------------


def run_action(
    inputs: dict[str, str], workdir: Path, env: dict[str, str]
) -> tuple[int, dict[str, str], list[dict[str, str]]]:
    """Run the composite action's shell steps like the runner does; returns exit code, outputs, uses-steps."""
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    values = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()} | inputs
    for name, spec in action["inputs"].items():
        assert not spec.get("required") or name in inputs, f"required input {name} missing"
    outputs: dict[str, dict[str, str]] = {}

    def render(text: str) -> str:
        def one(m: re.Match[str]) -> str:
            expr = m.group(1)
            if expr.startswith("inputs."):
                return values[expr[len("inputs.") :]]
            step, _, key = expr[len("steps.") :].partition(".outputs.")
            return outputs.get(step, {}).get(key, "")

        return EXPR.sub(one, text)

    used = []
    for step in action["runs"]["steps"]:
        if "uses" in step:
            rendered = {k: render(v) for k, v in step.get("with", {}).items()}
            condition = re.sub(
                r"\b(inputs|steps)\.[\w.-]+", lambda m: render("${{ " + m.group(0) + " }}"), step["if"]
            )
            used.append(rendered | {"uses": step["uses"], "if": condition})
            continue
        assert "${{" not in step["run"], "inputs reach scripts through env only (no script injection)"
        output_file = workdir / f"output-{len(outputs)}"
        output_file.write_text("")
        step_env = (
            env
            | {k: render(str(v)) for k, v in step.get("env", {}).items()}
            | {"GITHUB_OUTPUT": str(output_file)}
        )
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=workdir,
            env=step_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if "id" in step:
            outputs[step["id"]] = dict(
                line.split("=", 1) for line in output_file.read_text().splitlines() if "=" in line
            )
        if proc.returncode != 0:
            return proc.returncode, outputs.get("gate", {}), used
    return 0, outputs.get("gate", {}), used


@pytest.mark.parametrize(
    ("maker", "gate_env", "want_code", "want_verdict"),
    [(good_model, "dev", 0, "allow"), (bad_model, "prod", 1, "block"), (good_model, "prod", 3, "review")],
)
def test_action_runs_gate_and_writes_sarif(
    tmp_path: Path,
    env: dict[str, str],
    maker: Callable[[Path], Path],
    gate_env: str,
    want_code: int,
    want_verdict: str,
) -> None:
    model = maker(tmp_path / "model")
    code, outputs, used = run_action(
        {
            "model": str(model),
            "env": gate_env,
            "install": "false",
            "audit-log": str(tmp_path / "audit.sqlite"),
        },
        tmp_path,
        env,
    )
    assert (code, outputs["verdict"], outputs["exit-code"]) == (want_code, want_verdict, str(want_code))
    (upload,) = used
    assert upload["uses"].startswith("github/codeql-action/upload-sarif@")
    assert upload["if"] == "always() && true == 'true' && true == 'true'"  # rendered: the upload runs
    sarif = json.loads((tmp_path / upload["sarif_file"]).read_text())
    assert sarif["version"] == "2.1.0"
    rule_ids = {r["ruleId"] for run in sarif["runs"] for r in run["results"]}
    assert ("MS-PICKLE-DANGEROUS-CALLABLE" in rule_ids) == (maker is bad_model)


def test_action_review_can_be_allowed_through(tmp_path: Path, env: dict[str, str]) -> None:
    model = good_model(tmp_path / "model")
    code, outputs, _ = run_action(
        {"model": str(model), "env": "prod", "install": "false", "fail-on-review": "false"}, tmp_path, env
    )
    assert code == 0 and outputs["verdict"] == "review"


# --- pre-commit ---------------------------------------------------------------------------------------


def hook_command(hook_id: str, files: list[Path]) -> list[str]:
    """The command pre-commit runs: entry, args, then the staged files the hook's filters select."""
    hooks = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    hook = hooks[hook_id]
    if "files" in hook:
        selected = [f for f in files if re.search(hook["files"], f.name)]
    else:
        kinds = {"python": (".py",), "jupyter": (".ipynb",)}
        suffixes = tuple(s for t in hook["types_or"] for s in kinds[t])
        selected = [f for f in files if f.name.endswith(suffixes)]
    return [*shlex.split(hook["entry"]), *hook.get("args", []), *map(str, selected)]


def run_hook(
    hook_id: str, files: list[Path], env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        hook_command(hook_id, files), env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_gate_hook(tmp_path: Path, env: dict[str, str]) -> None:
    good = good_model(tmp_path / "good") / "model.safetensors"
    bad = bad_model(tmp_path / "bad") / "model.pkl"
    readme = tmp_path / "README.md"
    readme.write_text("hello")
    cmd = hook_command("modelseal-gate", [good, readme])
    assert str(readme) not in cmd
    assert run_hook("modelseal-gate", [good, readme], env, tmp_path).returncode == 0
    proc = run_hook("modelseal-gate", [good, bad], env, tmp_path)
    assert proc.returncode == 1 and "BLOCK" in proc.stdout


def test_inventory_hook(tmp_path: Path, env: dict[str, str]) -> None:
    safe = tmp_path / "safe.py"
    safe.write_text(
        "from transformers import AutoModel\n"
        "AutoModel.from_pretrained('google/bert', revision='0123456789abcdef0123456789abcdef01234567')\n"
    )
    risky = tmp_path / "risky.py"
    risky.write_text("import torch\nstate = torch.load('downloaded.pt')\n")
    ok = run_hook("modelseal-inventory", [safe], env, tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = run_hook("modelseal-inventory", [safe, risky], env, tmp_path)
    assert bad.returncode == 1 and "torch.load" in bad.stdout
