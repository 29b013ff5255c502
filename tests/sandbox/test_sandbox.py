"""Inside the sandbox, a model that reaches for the network, writes outside its folder, forks many
processes or allocates too much is stopped, and the result says what it tried."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from modelseal.sandbox import IsolationLevel, SandboxConfig, SandboxLimits, run
from modelseal.sandbox.dynamic import dynamic_scan, evidence_findings, load_in_sandbox
from modelseal.sandbox.layers import LANDLOCK_FS, NAMESPACES, NO_NEW_PRIVS, RLIMITS, SECCOMP, Layer, level_of
from tests.sandbox.conftest import (
    expected_level,
    hostile_model,
    landlock_abi,
    seccomp_available,
    userns_permitted,
)

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox layers are Linux facilities")


def _rules(findings: tuple[object, ...]) -> set[str]:
    return {f.rule_id for f in findings}  # type: ignore[attr-defined]


def test_isolation_level_is_what_this_host_permits(small: SandboxConfig) -> None:
    result = run(["true"], small)
    assert result.ok
    active = {layer.name for layer in result.layers if layer.active}
    assert result.level == expected_level()
    assert (NAMESPACES in active) == userns_permitted()
    assert (LANDLOCK_FS in active) == (landlock_abi() >= 1)
    assert (SECCOMP in active) == seccomp_available()
    assert {RLIMITS, NO_NEW_PRIVS} <= active


def test_reported_layers_are_really_in_force(small: SandboxConfig) -> None:
    result = run(
        ["sh", "-c", "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status; ulimit -v; ulimit -c"], small
    )
    status = dict(line.split(":\t") for line in result.stdout_tail.splitlines()[:2])
    layers = {layer.name: layer.active for layer in result.layers}
    assert status["NoNewPrivs"] == ("1" if layers[NO_NEW_PRIVS] else "0")
    assert status["Seccomp"] == ("2" if layers[SECCOMP] else "0")
    assert result.stdout_tail.splitlines()[2:] == [str((1 << 30) // 1024), "0"]


def test_network_connection_is_stopped_and_reported(tmp_path: Path, small: SandboxConfig) -> None:
    if not (userns_permitted() or seccomp_available() or landlock_abi() >= 4):
        pytest.skip("this host grants no layer that cuts the network (reported as weak isolation)")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    model = hostile_model(
        tmp_path, f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=3)"
    )
    with listener:
        findings = dynamic_scan(model, "pickle", small)
        with pytest.raises(socket.timeout):
            listener.accept()  # nothing reached the host
    assert "MS-DYNAMIC-NETWORK" in _rules(findings)
    net = [f for f in findings if f.rule_id == "MS-DYNAMIC-NETWORK"]
    assert any("socket" in f.message for f in net)


def test_write_outside_its_folder_is_stopped(tmp_path: Path, small: SandboxConfig) -> None:
    if landlock_abi() < 1:
        pytest.skip("no Landlock on this kernel: writes are not confined (reported as weak isolation)")
    target = tmp_path / "outside" / "planted.txt"
    target.parent.mkdir()
    model = hostile_model(tmp_path, f"open({str(target)!r}, 'w').write('x')")
    result = load_in_sandbox(model, "pickle", small)
    assert not target.exists()
    findings = evidence_findings(result, str(model))
    writes = [f for f in findings if f.rule_id == "MS-DYNAMIC-FILE-WRITE"]
    assert writes and str(target) in writes[0].evidence
    assert any(e.action == "load.error" and "PermissionError" in e.detail for e in result.events)


def test_output_folder_is_writable(tmp_path: Path, small: SandboxConfig) -> None:
    out = tmp_path / "out"
    result = run(["sh", "-c", 'echo done > "$MODELSEAL_OUTPUT/result.txt"'], replace(small, output_dir=out))
    assert result.ok, result.stderr_tail
    assert (out / "result.txt").read_text() == "done\n"


def test_fork_bomb_is_stopped(tmp_path: Path, small: SandboxConfig) -> None:
    if os.getuid() == 0 and not userns_permitted():
        pytest.skip("root without a pid namespace has no process limit (the rlimits layer says so)")
    code = "import os, time\nfor i in range(200):\n if os.fork() == 0:\n  time.sleep(20); os._exit(0)"
    result = load_in_sandbox(hostile_model(tmp_path, code), "pickle", small)
    findings = evidence_findings(result)
    assert "MS-DYNAMIC-PROCESS" in _rules(findings)
    assert "MS-DYNAMIC-RESOURCE" in _rules(findings) or any(
        e.action == "load.error" and "BlockingIOError" in e.detail for e in result.events
    )
    assert sum(e.action == "os.fork" for e in result.events) < 200  # the loop did not run to its end
    assert result.seconds < 15  # stopped, not waited out


def test_memory_hog_is_stopped(tmp_path: Path, small: SandboxConfig) -> None:
    result = load_in_sandbox(hostile_model(tmp_path, "x = bytearray(4 << 30)"), "pickle", small)
    findings = evidence_findings(result)
    resource = [f for f in findings if f.rule_id == "MS-DYNAMIC-RESOURCE"]
    assert resource and "memory" in resource[0].message


def test_wall_clock_kills_the_whole_group(tmp_path: Path) -> None:
    tag = "31.4159"
    config = SandboxConfig(limits=SandboxLimits(wall_seconds=1.0))
    result = run(["sh", "-c", f"sleep {tag} & sleep {tag}"], config)
    assert result.timed_out and result.exit_code is None
    assert result.seconds < 5
    deadline = time.monotonic() + 3  # SIGKILLed processes may take a moment to be gone from /proc
    while _processes_with(tag) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _processes_with(tag) == []


def _processes_with(text: str) -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if text in Path(f"/proc/{pid}/cmdline").read_text():
                found.append(pid)
        except OSError:
            continue
    return found


def test_minimal_environment(monkeypatch: pytest.MonkeyPatch, small: SandboxConfig) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value")
    result = run(["sh", "-c", "env"], replace(small, env={"GIVEN": "yes"}))
    env = dict(line.split("=", 1) for line in result.stdout_tail.splitlines() if "=" in line)
    assert "HF_TOKEN" not in env and "hf_secret_value" not in result.stdout_tail
    assert env["GIVEN"] == "yes"
    assert env["HOME"] != os.environ.get("HOME") and "modelseal-sandbox-" in env["HOME"]


def test_min_level_refuses_before_running(tmp_path: Path) -> None:
    out = tmp_path / "out"
    config = SandboxConfig(output_dir=out, seccomp=False, namespaces=False, min_level=IsolationLevel.STRONG)
    result = run(["sh", "-c", "touch ran"], config)
    assert result.refused and not result.ok
    assert not (out / "ran").exists()
    assert "below the required strong" in result.stopped_by


def test_clean_model_loads(tmp_path: Path, small: SandboxConfig) -> None:
    path = tmp_path / "clean.pkl"
    path.write_bytes(__import__("pickle").dumps({"weights": [0.25, 0.5], "name": "tiny"}))
    result = load_in_sandbox(path, "pickle", small)
    assert any(e.action == "load.ok" for e in result.events)
    assert _rules(evidence_findings(result)) == {"MS-SANDBOX-ISOLATION"}


def test_torch_checkpoint_in_sandbox(tmp_path: Path, small: SandboxConfig) -> None:
    torch = pytest.importorskip("torch")
    path = tmp_path / "model.pt"
    torch.save({"w": torch.ones(3)}, path)
    roomy = replace(small, limits=replace(small.limits, memory_bytes=8 << 30))
    result = load_in_sandbox(path, "auto", roomy)
    assert any(e.action == "load.start" and e.detail.startswith("torch") for e in result.events)
    assert any(e.action == "load.ok" for e in result.events), result.stderr_tail


def test_tampered_evidence_is_a_finding(tmp_path: Path, small: SandboxConfig) -> None:
    out = tmp_path / "out"
    code = f"open({str(out / 'evidence.jsonl')!r}, 'a').write('not a record\\n')"
    result = load_in_sandbox(hostile_model(tmp_path, code), "pickle", replace(small, output_dir=out))
    assert "MS-DYNAMIC-EVIDENCE-TAMPERED" in _rules(evidence_findings(result))


def test_result_is_json_only(small: SandboxConfig) -> None:
    result = run(["sh", "-c", "echo out; echo err >&2; exit 3"], small)
    doc = json.loads(result.dumps())
    assert doc["exit_code"] == 3 and doc["stdout_tail"] == "out\n" and doc["stderr_tail"] == "err\n"
    assert doc["isolation"]["level"] == result.level.label
    assert [layer["name"] for layer in doc["isolation"]["layers"]] == [layer.name for layer in result.layers]


@pytest.mark.parametrize(
    ("active", "level"),
    [
        ({RLIMITS, NO_NEW_PRIVS, LANDLOCK_FS, SECCOMP, NAMESPACES}, IsolationLevel.STRONG),
        ({RLIMITS, NO_NEW_PRIVS, LANDLOCK_FS, SECCOMP}, IsolationLevel.MEDIUM),
        ({RLIMITS, NO_NEW_PRIVS, LANDLOCK_FS, NAMESPACES}, IsolationLevel.MEDIUM),
        ({RLIMITS, NO_NEW_PRIVS, SECCOMP, NAMESPACES}, IsolationLevel.WEAK),  # writes not confined
        ({RLIMITS, LANDLOCK_FS, SECCOMP, NAMESPACES}, IsolationLevel.WEAK),  # no no_new_privs
        ({RLIMITS, NO_NEW_PRIVS}, IsolationLevel.WEAK),
    ],
)
def test_level_of(active: set[str], level: IsolationLevel) -> None:
    names = (RLIMITS, NO_NEW_PRIVS, LANDLOCK_FS, SECCOMP, NAMESPACES)
    assert level_of(Layer(n, n in active) for n in names) == level


def test_degraded_layers_are_reported_as_such(small: SandboxConfig) -> None:
    result = run(["true"], replace(small, namespaces=False, seccomp=False))
    layers = {layer.name: layer for layer in result.layers}
    assert not layers[NAMESPACES].active and layers[NAMESPACES].detail == "turned off"
    assert not layers[SECCOMP].active and layers[SECCOMP].detail == "turned off"
    assert result.level == IsolationLevel.WEAK
    without_ns = run(["true"], replace(small, namespaces=False))
    medium = landlock_abi() >= 1 and seccomp_available()
    assert without_ns.level == (IsolationLevel.MEDIUM if medium else IsolationLevel.WEAK)


def test_cli_run_and_check(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from modelseal.cli import sandbox as sandbox_cli

    app = typer.Typer()
    sandbox_cli.register(app)
    app.callback()(lambda: None)
    runner = CliRunner()
    out = tmp_path / "out"
    ok = runner.invoke(
        app, ["sandbox", "run", "--timeout", "30", "--output", str(out), "--", "sh", "-c", "echo hi"]
    )
    assert ok.exit_code == 0, ok.output
    assert ok.stdout == "hi\n"
    failed = runner.invoke(app, ["sandbox", "run", "--timeout", "30", "--", "sh", "-c", "exit 5"])
    assert failed.exit_code == 1 and "exited with status 5" in failed.stderr
    check = runner.invoke(app, ["sandbox", "check"])
    assert json.loads(check.output)["level"] == expected_level().label
    strict = runner.invoke(app, ["sandbox", "check", "--min-level", "strong"])
    assert strict.exit_code == (0 if expected_level() == IsolationLevel.STRONG else 1)
    model = hostile_model(tmp_path, "import subprocess; subprocess.run(['true'])")
    load = runner.invoke(app, ["sandbox", "load", str(model), "--loader", "pickle", "--min-level", "weak"])
    assert load.exit_code == 1
    assert "MS-DYNAMIC-PROCESS" in {f["rule_id"] for f in json.loads(load.output)["findings"]}
