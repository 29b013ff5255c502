"""What a new user meets first (issue 17): ``sandbox run`` starts where the user is and passes the command's
output through, nothing is left in the temporary folder, and loading a clean file with its own library is
not evidence while a payload's attempts still are."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from modelseal.cli import sandbox as sandbox_cli
from modelseal.sandbox import Event, IsolationLevel, SandboxConfig, SandboxResult, run
from modelseal.sandbox.dynamic import dynamic_scan, evidence_findings
from tests.sandbox.conftest import hostile_model

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox layers are Linux facilities")


def _cli() -> typer.Typer:
    app = typer.Typer()
    sandbox_cli.register(app)
    app.callback()(lambda: None)
    return app


def test_command_runs_in_the_callers_folder_with_a_relative_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small: SandboxConfig
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("convert.py").write_text("open('out/result.txt', 'w').write('converted')\n")
    if shutil.which("python", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("no `python` beside this interpreter for the docs' example")
    result = run(["python", "convert.py"], replace(small, output_dir=Path("out")))
    assert result.ok, result.stderr_tail
    assert (tmp_path / "out" / "result.txt").read_text() == "converted"


def test_cli_run_passes_output_through_and_reports_elsewhere(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    command = ["sh", "-c", "echo out; echo err >&2"]
    args = ["sandbox", "run", "--timeout", "30", "--report", str(report), "--", *command]
    done = CliRunner().invoke(_cli(), args)
    assert done.exit_code == 0, done.output
    assert done.stdout == "out\n"
    assert done.stderr.startswith("err\n") and "modelseal sandbox: exited with status 0" in done.stderr
    doc = json.loads(report.read_text())
    assert doc["limits"]["max_processes"] == 64 and isinstance(doc["limits"]["max_processes"], int)
    assert isinstance(doc["limits"]["wall_seconds"], int)


def test_check_run_and_load_leave_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    model = tmp_path / "m" / "clean.pkl"
    model.parent.mkdir()
    model.write_bytes(__import__("pickle").dumps({"w": [1.0]}))
    runner, app = CliRunner(), _cli()
    assert runner.invoke(app, ["sandbox", "check"]).exit_code == 0
    assert runner.invoke(app, ["sandbox", "run", "--timeout", "30", "--", "true"]).exit_code == 0
    load = runner.invoke(app, ["sandbox", "load", str(model), "--loader", "pickle", "--min-level", "weak"])
    assert load.exit_code == 0, load.output
    assert json.loads(load.stdout)["sandbox"]["output_dir"] == ""
    assert list(scratch.iterdir()) == []


def _clean_files(tmp_path: Path) -> dict[str, Path]:
    """The four everyday files issue 17 saw flagged, written by their own libraries."""
    np = pytest.importorskip("numpy")
    torch = pytest.importorskip("torch")
    joblib = pytest.importorskip("joblib")
    linear = pytest.importorskip("sklearn.linear_model")
    files = {
        "state_dict": tmp_path / "state.pt",
        "torchscript": tmp_path / "script.pt",
        "npy": tmp_path / "arange.npy",
        "sklearn": tmp_path / "model.joblib",
    }
    torch.save(torch.nn.Linear(4, 2).state_dict(), files["state_dict"])
    torch.jit.save(torch.jit.trace(torch.nn.Linear(4, 2), torch.zeros(1, 4)), files["torchscript"])
    np.save(files["npy"], np.arange(10))
    x = np.random.default_rng(0).normal(size=(30, 2))
    joblib.dump(linear.LogisticRegression().fit(x, x[:, 0] > 0), files["sklearn"])
    return files


def test_the_loaders_own_activity_is_not_evidence(tmp_path: Path, small: SandboxConfig) -> None:
    roomy = replace(small, limits=replace(small.limits, memory_bytes=8 << 30, max_processes=64))
    for kind, path in _clean_files(tmp_path).items():
        findings = dynamic_scan(path, "auto", roomy)
        assert {f.rule_id for f in findings} == {"MS-SANDBOX-ISOLATION"}, (kind, findings[1:4])


@pytest.mark.parametrize(
    ("code", "rule", "evidence"),
    [
        ("x = 1", "MS-DYNAMIC-NATIVE-CODE", "x = 1"),  # the file's own string, compiled
        ("import pydoc; pydoc.locate('smtplib')", "MS-DYNAMIC-IMPORT", "smtplib"),  # imported by pydoc
        # installed code that compiles, called by the file rather than by an import: still evidence
        ("import collections; collections.namedtuple('P', 'alpha beta')", "MS-DYNAMIC-NATIVE-CODE", "alpha"),
    ],
)
def test_what_the_file_does_through_installed_code_is_still_evidence(
    tmp_path: Path, small: SandboxConfig, code: str, rule: str, evidence: str
) -> None:
    findings = dynamic_scan(hostile_model(tmp_path, code), "pickle", small)
    assert any(f.rule_id == rule and evidence in f.evidence for f in findings), findings


def test_a_missing_loader_library_says_so() -> None:
    result = SandboxResult(
        ("probe",),
        IsolationLevel.STRONG,
        (),
        3,
        events=(Event("load", "load.unavailable", "transformers: No module named 'transformers'"),),
    )
    findings = evidence_findings(result, "model-dir")
    rules = {f.rule_id for f in findings}
    assert "MS-DYNAMIC-EVIDENCE-TAMPERED" not in rules and "MS-DYNAMIC-LOAD-FAILED" in rules
    failed = next(f for f in findings if f.rule_id == "MS-DYNAMIC-LOAD-FAILED")
    assert "missing library" in failed.message and "transformers" in failed.message


_ORIGIN_SCRIPT = """
import json, os, pickle, sys
from pathlib import Path
from modelseal.sandbox import probe

lib_dir, evidence, model = sys.argv[1:4]
sys.path.insert(0, lib_dir)
read, write = os.pipe()
recorder = probe.Recorder(write, *probe._installed_paths(Path(model)))
sys.addaudithook(recorder.hook)
import fakelib  # installed code whose load() imports a module that writes a file as it is imported

def attempt(name, loader, lib):
    for mod in ("sidefx",):
        sys.modules.pop(mod, None)
    recorder.active = True
    try:
        probe._load(loader, lib, Path(model + "." + name))
    except Exception:
        pass
    recorder.active = False
    os.write(write, (json.dumps({"kind": "mark", "action": name, "detail": ""}) + "\\n").encode())

attempt("lazy-import-by-library", "pickle", fakelib)
attempt("global-named-by-file", "pickle", pickle)
attempt("import-module-called-by-file", "pickle", pickle)
os.close(write)
lines = os.read(read, 1 << 20).decode().splitlines()
print(json.dumps([json.loads(line) for line in lines]))
"""


def test_only_imports_the_library_starts_itself_are_its_own(tmp_path: Path) -> None:
    """A module written to disk on import: imported by installed code's own ``import`` statement it is the
    library's doing; imported because the file names it (a GLOBAL, or ``importlib.import_module``) it is
    evidence."""
    lib = tmp_path / "lib"
    lib.mkdir()
    planted = tmp_path / "planted.txt"
    (lib / "sidefx.py").write_text(f"open({str(planted)!r}, 'w').close()\nX = 1\n")
    (lib / "fakelib.py").write_text("def load(fh):\n    import sidefx\n    return sidefx.X\n")
    model = tmp_path / "m" / "model"
    model.parent.mkdir()
    Path(f"{model}.lazy-import-by-library").write_bytes(b"\x80\x04N.")
    Path(f"{model}.global-named-by-file").write_bytes(b"\x80\x02csidefx\nX\nq\x00.")
    Path(f"{model}.import-module-called-by-file").write_bytes(
        b"\x80\x02cimportlib\nimport_module\nq\x00X\x06\x00\x00\x00sidefxq\x01\x85q\x02Rq\x03."
    )
    done = subprocess.run(
        [sys.executable, "-c", _ORIGIN_SCRIPT, str(lib), str(tmp_path / "evidence"), str(model)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    writes: dict[str, bool] = {}
    seen = False
    for record in json.loads(done.stdout):
        if record["kind"] == "mark":
            writes[record["action"]], seen = seen, False
        elif record["kind"] == "file-write" and str(planted) in record["detail"]:
            seen = True
    assert writes == {
        "lazy-import-by-library": False,
        "global-named-by-file": True,
        "import-module-called-by-file": True,
    }
