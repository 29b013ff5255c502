"""``python -m modelseal.guard [options] script.py args...``: run a program with every loader guarded.

The module is also callable, so ``modelseal.guard()`` keeps working after ``import modelseal.guard``
has bound this module to that attribute; the typed API is :func:`modelseal.runtime.guard`.
"""

from __future__ import annotations

import argparse
import runpy
import sys
import types
from typing import Any

from modelseal.runtime import GuardConfig, ModelBlocked
from modelseal.runtime import guard as install


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m modelseal.guard",
        description="Run a Python program with every model loader scanning its input first.",
    )
    parser.add_argument("--warn", action="store_true", help="warn instead of refusing to load")
    parser.add_argument("--threshold", default="high", help="lowest severity that blocks (default: high)")
    parser.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="MODULE:NAME",
        help="extra pickle global to allow (repeatable; patterns like 'mypkg.*:*')",
    )
    parser.add_argument("--lockfile", help="verify each loaded file against this lockfile")
    parser.add_argument("-m", dest="module", help="run a module instead of a script")
    parser.add_argument("target", nargs=argparse.REMAINDER, help="script.py and its arguments")
    args = parser.parse_args(argv)
    if not args.module and not args.target:
        parser.error("name a script to run, or -m MODULE")
    install(
        "warn" if args.warn else "block", threshold=args.threshold, allow=args.allow, lockfile=args.lockfile
    )
    try:
        if args.module:
            sys.argv = [args.module, *args.target]
            runpy.run_module(args.module, run_name="__main__", alter_sys=True)
        else:
            sys.argv = list(args.target)
            runpy.run_path(args.target[0], run_name="__main__")
    except ModelBlocked as exc:
        print(exc, file=sys.stderr)  # its message starts with "modelseal blocked"
        return 1
    return 0


class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> GuardConfig:
        return install(*args, **kwargs)


if __name__ == "__main__":
    sys.exit(main())
else:
    sys.modules[__name__].__class__ = _CallableModule
