"""The contract of `modelseal sanitize`, `monitor` and `canary run`: exit codes, outputs, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from modelseal.cli.app import run


def test_sanitize_text_and_refusal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.txt"
    src.write_bytes("p\u0430ypal\u200b \u202eok".encode())
    out = tmp_path / "out.txt"
    assert run(["sanitize", str(src), "-o", str(out), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert out.read_text() == "paypal ok"
    assert {c["what"] for c in report["changes"]} == {"invisible", "bidi-control", "confusable"}
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok\xc3")
    assert run(["sanitize", str(bad), "-o", str(tmp_path / "x")]) == 2
    assert "invalid UTF-8" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    assert run(["sanitize", str(tmp_path / "missing"), "-o", str(out)]) == 2


def _records(path: Path, n: int, shift: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    with path.open("w") as fh:
        for _ in range(n):
            z = rng.normal(size=3) + np.array([2.0, 0.0, 0.0]) - shift * np.array([1.5, 0, 0])
            p = np.exp(z) / np.exp(z).sum()
            fh.write(json.dumps({"input": [float(rng.normal(shift))], "probs": p.round(4).tolist()}) + "\n")


def test_monitor_quiet_then_alerting(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("prometheus_client")
    ref, same, moved = tmp_path / "ref.jsonl", tmp_path / "same.jsonl", tmp_path / "moved.jsonl"
    _records(ref, 3000, 0.0, 0)
    _records(same, 1000, 0.0, 1)
    _records(moved, 1000, 1.0, 2)
    profile = tmp_path / "profile.json"
    args = ["--window", "250", "--format", "json"]
    assert run(["monitor", str(same), "--reference", str(ref), "--save-profile", str(profile), *args]) == 0
    assert json.loads(capsys.readouterr().out)["alerts"] == []
    metrics = tmp_path / "metrics.prom"
    assert run(["monitor", str(moved), "--reference", str(profile), "--metrics", str(metrics), *args]) == 1
    alerts = json.loads(capsys.readouterr().out)["alerts"]
    assert {a["feature"] for a in alerts} >= {"input.0", "confidence"}
    assert "modelseal_alerts_total" in metrics.read_text()
    (tmp_path / "broken.jsonl").write_text("{not json\n")
    assert run(["monitor", str(tmp_path / "broken.jsonl"), "--reference", str(profile)]) == 2


def test_canary_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch = pytest.importorskip("torch")
    from modelseal.defense.canary import CanarySuite

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3)).eval()
    path = tmp_path / "m.pt"
    torch.jit.script(model).save(str(path))
    x = np.random.default_rng(0).random((20, 1, 4, 4)).astype(np.float32)
    with torch.no_grad():
        probs = torch.softmax(model(torch.as_tensor(x)), 1).numpy()
    CanarySuite(x, probs.argmax(1), probs).save(tmp_path / "ok.npz")
    assert run(["canary", "run", str(path), "--probes", str(tmp_path / "ok.npz"), "--count", "2"]) == 0
    assert capsys.readouterr().out.count("passed") == 2
    CanarySuite(x, (probs.argmax(1) + 1) % 3, probs + 0.5).save(tmp_path / "bad.npz")
    assert run(["canary", "run", str(path), "--probes", str(tmp_path / "bad.npz")]) == 1
    assert "MS-RUNTIME-CANARY" in capsys.readouterr().out
