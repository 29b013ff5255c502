"""Save recovered triggers as PNG images a person can look at (Pillow, imported lazily)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from modelseal.behavior.loading import BehaviorError

if TYPE_CHECKING:
    import numpy as np

    from modelseal.behavior.trigger import TriggerReport

MIN_SIDE = 224
"""Small inputs (8x8 digits) are enlarged with nearest-neighbour scaling up to about this many pixels."""


def _to_image(array: np.ndarray, low: float, high: float) -> object:
    import numpy as np
    from PIL import Image

    a = np.asarray(array, dtype=np.float64)
    if a.ndim == 3 and a.shape[0] in (1, 3):
        a = a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0)
    if a.ndim not in (2, 3):
        raise BehaviorError("only image inputs (H, W) or (C, H, W) can be saved as PNG")
    scaled = np.clip((a - low) / max(high - low, 1e-12), 0.0, 1.0)
    img = Image.fromarray((scaled * 255).round().astype(np.uint8))
    factor = max(1, MIN_SIDE // max(img.size))
    return img.resize((img.size[0] * factor, img.size[1] * factor), Image.Resampling.NEAREST)


def save_trigger_images(report: TriggerReport, label: int, out_dir: str | Path) -> list[Path]:
    """Write ``mask-class<label>.png`` (white: where the trigger sits) and ``trigger-class<label>.png``
    (the mask applied to the pattern: what gets stamped onto an input)."""
    import numpy as np

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    mask, pattern = report.masks[label], report.patterns[label]
    low, high = float(np.min(report.patterns)), float(np.max(report.patterns))
    written = []
    for name, array, lo, hi in (
        (f"mask-class{label}.png", mask, 0.0, 1.0),
        (f"trigger-class{label}.png", mask * pattern, low, high),
    ):
        path = out / name
        _to_image(array, lo, hi).save(path)  # type: ignore[attr-defined]
        written.append(path)
    return written
