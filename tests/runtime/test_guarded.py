"""Guarded (sanitise -> STRIP -> predict -> validate -> monitor) and the FastAPI example behind the
ASGI middleware, answering real requests through starlette's test client."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from modelseal.behavior.strip import StripDetector  # noqa: E402
from modelseal.defense.monitor import Monitor, ReferenceProfile  # noqa: E402
from modelseal.defense.validate import ConfidenceGate, OutputValidator, ReviewItem  # noqa: E402
from modelseal.runtime import Guarded, GuardMiddleware  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)).eval()


def _x(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 1, 8, 8)).astype(np.float32)


def test_guarded_batch_composes_every_stage() -> None:
    model = _model()
    clean = _x(400)
    g = Guarded(model)
    probs = g.probabilities(clean)
    assert np.allclose(probs.sum(1), 1.0, atol=1e-5)
    held: list[ReviewItem] = []
    gate = ConfidenceGate.calibrate(probs, probs.argmax(1), false_reject=0.05)
    g.validator = OutputValidator(gate=gate, review=held.append)
    g.monitor = Monitor(ReferenceProfile.fit(g.default_columns(probs)), window=64)
    g.strip = StripDetector.calibrate(model, clean[:100], false_alarm=0.05)
    g.strip_share = 1.0
    out = g.predict(_x(64, seed=1), client="c1")
    assert out.probs.shape == (64, 10) and out.accepted.dtype == bool
    assert 0.5 < out.accepted.mean() < 1.0  # a few answers held, by the gate or STRIP
    assert len(held) == sum(1 for why in out.held.values() if why != ("strip",))
    assert [v.accepted for v in out.verdicts()] == out.accepted.tolist()
    assert out.strip_checked is not None and len(out.strip_checked) == 64
    shifted = g.predict(np.clip(_x(256, seed=2) + 0.5, 0, 1))
    assert g.monitor.flush() == []  # the full window was processed at once
    assert g.monitor.flush() == []  # a full window was processed at once
    assert {a.kind for a in shifted.alerts} >= {"drift"}
    assert Guarded(lambda x: np.tile([0.1, 0.9], (len(x), 1))).predict(_x(3)).labels.tolist() == [1, 1, 1]


def _example() -> object:
    spec = importlib.util.spec_from_file_location("fastapi_service", ROOT / "examples" / "fastapi_service.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _png(exif: bool = True) -> bytes:
    from PIL import Image

    img = Image.new("L", (16, 16), 30)
    buf = io.BytesIO()
    extra = {}
    if exif:
        e = Image.Exif()
        e[0x010E] = "hidden"
        extra["exif"] = e.tobytes()
    img.save(buf, format="PNG", **extra)
    return buf.getvalue() + b"appended"


def test_example_service_answers_through_the_middleware() -> None:
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    from starlette.testclient import TestClient

    example = _example()
    g = Guarded(_model())
    reference = {"confidence": np.linspace(0, 1, 100), "predicted": np.arange(100) % 10}
    g.monitor = Monitor(ReferenceProfile.fit(reference), window=10, metrics=True)
    app = example.create_app(g)  # type: ignore[attr-defined]
    assert isinstance(app, GuardMiddleware)
    client = TestClient(app)
    r = client.post("/predict", content=_png())
    assert r.status_code == 200, r.text
    assert len(r.json()["probs"]) == 10
    assert set(r.headers["x-modelseal-sanitized"].split(",")) == {"exif", "appended-bytes"}
    bad = client.post("/predict", content=b"\x89PNG\r\n\x1a\n" + b"\x00" * 30)
    assert bad.status_code == 400 and "malformed" in bad.json()["reason"]
    # A gate no answer can pass: every answer is held for review, with the reason.
    held: list[ReviewItem] = []
    g.validator = OutputValidator(gate=ConfidenceGate((1.1,) * 10, 0.0, 99.0), review=held.append)
    r = client.post("/predict", content=_png(exif=False), headers={"x-client-id": "alice"})
    assert r.status_code == 422 and r.json()["reasons"] == ["low-confidence"]
    assert held and held[0].client == "alice"
    for _ in range(10):
        client.post("/predict", content=_png(exif=False))
    assert b"modelseal_drift_psi" in client.get("/metrics").content
    assert app.counts == {"requests": 13, "refused": 1, "held": 11}
