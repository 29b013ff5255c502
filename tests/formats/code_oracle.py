"""The oracle for Python code: import each module in a subprocess under an audit hook that records the first
process, network or dynamic-code event and then refuses it (the hook raises), so that even the harmless
``echo`` payloads never run. Events raised by the import itself (compiling and executing the module's own
code) are not counted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

_SCRIPT = r"""
import atexit, importlib.util, json, os, sys
folder, names, report = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
# Everything the generated modules import, imported before the hook so that their loading is not counted.
import builtins, code, codeop, ctypes, functools, http.client, importlib, logging, marshal, operator, pickle
import pkgutil, pty, pydoc, shutil
import encodings.idna, pkgutil, runpy, socket, subprocess, threading, timeit, urllib.request
PREFIXES = ("os.system", "os.exec", "os.spawn", "os.posix_spawn", "os.fork", "os.startfile", "subprocess.",
            "pty.", "socket.", "urllib.", "http.client.", "ftplib.", "smtplib.", "ctypes.", "marshal.load",
            "pickle.find_class", "code.__new__", "function.__new__", "webbrowser.")
state = {"current": None, "own": ()}
seen = {}

def hook(event, args):
    name = state["current"]
    if name is None:
        return
    if event in ("exec", "compile"):
        target = args[0] if event == "exec" else args[1]
        filename = getattr(target, "co_filename", target)
        if filename in state["own"]:
            return
    elif not event.startswith(PREFIXES):
        return
    seen.setdefault(name, []).append(event)
    raise RuntimeError(f"refused by the oracle: {event}")

def set_current(name):
    state["current"] = name
    state["own"] = (os.path.join(folder, name + ".py"),)

def dump():
    with open(report, "w") as fh:
        json.dump(seen, fh)

atexit.register(dump)  # runs last: registered first
sys.addaudithook(hook)
for name in names:
    set_current(name)
    spec = importlib.util.spec_from_file_location(name, os.path.join(folder, name + ".py"))
    try:
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
    except BaseException:
        pass
    atexit.register(set_current, name)  # at exit, marks what this module registered (LIFO)
    state["current"] = None
"""


def import_events(folder: Path, names: list[str]) -> dict[str, list[str]]:
    """For each module ``folder/<name>.py`` whose import (or exit handlers) fired a process, network or
    dynamic-code event: the events, in order."""
    report = folder / "oracle.json"
    subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(folder), json.dumps(names), str(report)],
        capture_output=True,
        timeout=300,
        check=False,
        cwd=folder,
    )
    events: dict[str, list[str]] = json.loads(report.read_text())
    return events
