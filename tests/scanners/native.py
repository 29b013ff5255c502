"""What the tests of the compiled accelerators need to know about this machine."""

from __future__ import annotations

import os
import shutil
import sysconfig


def compiler_here() -> bool:
    """A C compiler and Python's headers are here, so ``pip install`` built the optional extensions (a
    broken build falls back in silence, which these tests must catch)."""
    compiler = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    return bool(compiler) and os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h"))
