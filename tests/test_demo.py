"""The quick start's demo (issue 17, item 15): its models are written without torch, NumPy or scikit-learn,
real loaders read the benign ones as what they claim to be, and the script tells the whole story in a
virtual environment of its own with only the extras it shows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import modelseal
from modelseal.core.findings import Severity

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "numpy", "sklearn", "joblib", "safetensors")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "demo"
    block = f"import sys; sys.modules.update(dict.fromkeys({HEAVY!r}))"  # as if none were installed
    run = f"{block}; import runpy; sys.argv = ['make_demo.py', {str(out)!r}]; "
    run += f"runpy.run_path({str(ROOT / 'scripts' / 'make_demo.py')!r}, run_name='__main__')"
    done = subprocess.run([sys.executable, "-c", run], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return out


def test_benign_models_pass_and_malicious_ones_are_blocked(demo: Path) -> None:
    benign = modelseal.scan([str(demo / "benign")])
    assert not [f for f in benign.findings if f.severity >= Severity.MEDIUM]
    assert len(list((demo / "benign").rglob("*.*"))) >= 6
    malicious = modelseal.scan([str(demo / "malicious")])
    flagged = {Path(f.file).name for f in malicious.findings if f.severity >= Severity.HIGH}
    assert flagged == {p.name for p in (demo / "malicious").iterdir()}


def test_real_loaders_read_the_hand_written_models(demo: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("safetensors")
    code = """
import json, sys, numpy, torch
from safetensors.torch import load_file
root = sys.argv[1]
state = torch.load(root + "/state_dict.pt", weights_only=True)
tensors = load_file(root + "/tiny-model/model.safetensors")
array = numpy.load(root + "/embeddings.npy", allow_pickle=False)
print(json.dumps([state["linear.weight"].tolist(), tensors["linear.weight"].tolist(), array.tolist(),
                  state["linear.bias"].tolist(), tensors["linear.bias"].tolist()]))
"""
    done = subprocess.run(
        [sys.executable, "-c", code, str(demo / "benign")], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    state, tensors, array, bias, bias2 = json.loads(done.stdout)
    weights = [[0.25, -0.5, 0.75, 1.0], [-1.25, 1.5, 0.125, -0.0625]]
    assert state == tensors == array == weights and bias == bias2 == [0.25, -0.5]


def test_demo_script_installs_only_what_it_shows_and_tells_the_whole_story() -> None:
    script = (ROOT / "scripts" / "demo.sh").read_text()
    assert "python3 -m venv" in script and ".venv-demo" in script
    assert "-e '.[signing,bom]'" in script and "[dev]" not in script
    lines = [line for line in script.splitlines() if not line.lstrip().startswith(("#", "echo", "step"))]
    commands = [line.split("modelseal ", 1)[1].split()[0] for line in lines if "modelseal " in line]
    assert {"scan", "lock", "sign", "verify", "gate", "bom"} <= set(commands), commands
    assert "b[-1] ^= 1" in script  # one byte tampered with, then verified again
    assert "/.venv-demo/" in (ROOT / ".gitignore").read_text().splitlines()
