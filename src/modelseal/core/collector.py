"""Python's cyclic garbage collector, paused while one input is analysed.

The analysis of a file makes up to millions of small working records (a checkpoint's pickle values, its zip
directory's entries), all alive until the file is done. With the collector on, every few hundred records it
walks all of them again (quadratic in a hostile file), and the first allocation after they are made pays a
walk of all of them at once. They hold no cycles but the rare ones a pickle makes on purpose (DUP and
APPEND): reference counting frees the rest when the analysis drops them.

Those cycles are garbage only the collector frees, so a file whose many pickles each make them must not pile
them up until the file is done: when a nested block ends (one pickle's run) with more than
:data:`YOUNG_CEILING` objects made and not freed since the last collection, the young generation is
collected there. A checkpoint of 50 000 tensors makes about a million records; the ceiling is twice that.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_CEILING = 2_000_000
"""Objects made and not yet freed, counted by the collector, past which a nested block's end collects."""

_paused = False
"""Whether a block of this module paused the collector (a caller's own ``gc.disable()`` is left alone)."""


@contextmanager
def collector_paused() -> Iterator[None]:
    """The collector off for the block; nested blocks leave it off, collecting past the ceiling."""
    global _paused
    if _paused or not gc.isenabled():
        try:
            yield
        finally:
            if _paused and gc.get_count()[0] > YOUNG_CEILING:
                gc.collect(0)
        return
    gc.disable()
    _paused = True
    try:
        yield
    finally:
        _paused = False
        gc.enable()
