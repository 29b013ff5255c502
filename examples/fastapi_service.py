"""An image-classification service behind modelseal's run-time defences.

    pip install 'modelseal[runtime,behavior]' fastapi uvicorn
    MODEL=digits.pt uvicorn examples.fastapi_service:app

``POST /predict`` takes an image (PNG, JPEG or WebP bytes) and answers ``{"label": n, "probs": [...]}``.
The middleware cleans the upload before the endpoint sees it (metadata, appended bytes, EXIF orientation;
malformed images and decompression bombs are answered 400), validates the answer (a calibrated
confidence gate when ``calibration.npz`` is given; 422 when held, with the reasons) and feeds the drift
monitor; ``GET /metrics`` exposes the monitor's Prometheus metrics.
"""

from __future__ import annotations

import io
import os
from typing import Any

from fastapi import FastAPI, Request, Response

from modelseal.runtime import Guarded, GuardMiddleware


def to_input(data: bytes, side: int = 8) -> Any:
    """Decode (already sanitised) image bytes into the model's input: a grey ``side`` x ``side`` in [0, 1]."""
    import numpy as np
    from PIL import Image

    img = Image.open(io.BytesIO(data)).convert("L").resize((side, side))
    return (np.asarray(img, dtype=np.float32) / 255.0)[None, None]


def create_app(guarded: Guarded) -> Any:
    """The FastAPI app wrapped in the guard middleware (returned as the ASGI app to serve)."""
    api = FastAPI(title="digits")

    @api.post("/predict")
    async def predict(request: Request) -> dict[str, Any]:
        probs = guarded.probabilities(to_input(await request.body()))[0]
        return {"label": int(probs.argmax()), "probs": [float(p) for p in probs]}

    @api.get("/metrics")
    def metrics() -> Response:
        text = guarded.monitor.metrics_text() if guarded.monitor is not None else b""
        return Response(text, media_type="text/plain; version=0.0.4")

    return GuardMiddleware(api, guarded, paths=("/predict",))


def _from_environment() -> Any:
    import numpy as np

    from modelseal.behavior.loading import load_model
    from modelseal.defense.monitor import Monitor, ReferenceProfile
    from modelseal.defense.validate import ConfidenceGate, OutputValidator

    model = load_model(os.environ["MODEL"]).module
    guarded = Guarded(model)
    calibration = os.environ.get("CALIBRATION")
    if calibration:
        with np.load(calibration, allow_pickle=False) as data:
            x, y = data["x"], data["y"]
        probs = guarded.probabilities(x)
        guarded.validator = OutputValidator(gate=ConfidenceGate.calibrate(probs, y))
        guarded.monitor = Monitor(
            ReferenceProfile.fit({"confidence": probs.max(1), "predicted": probs.argmax(1)}), metrics=True
        )
    return create_app(guarded)


if os.environ.get("MODEL"):
    app = _from_environment()
