"""The layout both confidence gates share (the numpy one in ``validate``, the compiled one in
``gatekernel``): one word per answer, one byte per gate column, and the compiled gate's parameters."""

from __future__ import annotations

COLUMNS = 8
"""Gate columns of a word (the conformal set has two; the rest pass unless NaN)."""
ALL_PASS = int.from_bytes(bytes([1] * COLUMNS), "little")
"""Eight true bytes read as one word (the same in either byte order): every gate passed."""
PARAMS_HEAD = 4
"""The compiled gate's ``params`` hold the least passing values of gate columns 1-4 (minus the entropy,
the margin, the conformal set's two bounds), then the negated per-class thresholds."""
