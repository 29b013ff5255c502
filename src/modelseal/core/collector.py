"""Python's cyclic garbage collector, paused while one input is analysed.

The analysis of a file makes up to millions of small working records (a checkpoint's pickle values, its zip
directory's entries), all alive until the file is done. With the collector on, every few hundred records it
walks all of them again (quadratic in a hostile file), and the first allocation after they are made pays a
walk of all of them at once. They hold no cycles but the rare ones a pickle makes on purpose (DUP and
APPEND): reference counting frees the rest when the analysis drops them, and the cycles are collected once
the collector is back on.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """The collector off for the block; nested blocks leave it to the outermost."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
