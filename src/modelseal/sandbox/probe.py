"""Runs inside the sandbox: loads one model with its real loader while an audit hook records what the
load attempts (processes, network, file writes, sensitive imports, native code).

This is the only place in modelseal that executes a model's code, and it only ever runs under
:func:`modelseal.sandbox.run`. Records are JSON lines written straight to a descriptor opened before
the load, so the hook itself triggers no further audit events.

What the loader library does on its own while loading a clean file is not evidence (the precision a static
finding has), recognised by the call stack: imports and compiles made while an installed module runs its body
(scikit-learn and SciPy build dataclasses and named tuples as a pickle's classes are imported), any attempt
made inside an import that installed code started itself (torch's and transformers' lazy imports probing the
host), and compiles that only build a syntax tree or an annotation (``ast.parse`` under NumPy's header
reader, ``typing.ForwardRef``). Installed means on the import path before the load started (never the
model's folder, never code compiled from a string) or frozen into the interpreter.
"""

from __future__ import annotations

import argparse
import contextlib
import dis
import importlib
import importlib.util
import json
import os
import socket
import sys
from pathlib import Path
from types import FrameType
from typing import Any

PROCESS_EVENTS = frozenset(
    {
        "subprocess.Popen",
        "os.system",
        "os.exec",
        "os.posix_spawn",
        "os.spawn",
        "os.fork",
        "os.forkpty",
        "pty.spawn",
        "os.startfile",
    }
)
NETWORK_EVENTS = frozenset(
    {
        "socket.connect",
        "socket.bind",
        "socket.getaddrinfo",
        "socket.gethostbyname",
        "socket.gethostbyname_ex",
        "socket.gethostbyaddr",
        "socket.sendto",
        "socket.sendmsg",
        "http.client.connect",
        "urllib.Request",
    }
)
FILE_EVENTS = frozenset(
    {
        "os.remove",
        "os.rename",
        "os.rmdir",
        "os.mkdir",
        "os.truncate",
        "os.symlink",
        "os.link",
        "os.chmod",
        "os.chown",
        "shutil.rmtree",
        "shutil.move",
    }
)
SENSITIVE_MODULES = frozenset(
    {
        "subprocess",
        "socket",
        "ctypes",
        "pty",
        "urllib.request",
        "http.client",
        "ftplib",
        "smtplib",
        "telnetlib",
        "requests",
        "webbrowser",
        "multiprocessing",
        "runpy",
        "code",
        "pdb",
        "shutil",
        "tempfile",
    }
)
_SOCKET_METHODS = frozenset({"socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg"})
"""Events whose first argument is the socket object itself (left out of the evidence)."""
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
_INET = (socket.AF_INET, socket.AF_INET6)
_LIBRARY_KINDS = frozenset({"import", "native-code"})
"""Kinds that installed code running a module body may cause, whoever started the import; the others only
count as the library's when installed code started the import itself."""
_COMPILE_ONLY = frozenset({("ast", "parse"), ("typing", "ForwardRef.__init__")})
"""Functions that compile source into a syntax tree or a code object they never run."""
_IMPORTLIB = "<frozen importlib"
_IMPORT_NAME = dis.opmap["IMPORT_NAME"]


class Recorder:
    def __init__(self, fd: int, installed: tuple[str, ...] = (), excluded: tuple[str, ...] = ()) -> None:
        self._fd = fd
        self.active = False
        self._installed = tuple(os.path.join(p, "") for p in installed)
        self._excluded = tuple(os.path.join(p, "") for p in excluded)

    def emit(self, kind: str, action: str, detail: str) -> None:
        line = json.dumps({"kind": kind, "action": action, "detail": detail[:2000]}) + "\n"
        with contextlib.suppress(OSError):
            os.write(self._fd, line.encode("utf-8", "replace"))

    def hook(self, event: str, args: tuple[Any, ...]) -> None:
        if not self.active:
            return
        record = _classify(event, args)
        if record and not self._library_own(record[0], sys._getframe(1)):
            self.emit(*record)

    def _is_installed(self, filename: str) -> bool:
        """Code on the import path before the load, or frozen into the interpreter (``<frozen os>``)."""
        if filename.startswith("<frozen "):
            return True
        return filename.startswith(self._installed) and not filename.startswith(self._excluded)

    def _library_own(self, kind: str, frame: FrameType | None) -> bool:
        return (kind in _LIBRARY_KINDS and self._module_body(frame)) or self._import_by_library(frame)

    def _module_body(self, frame: FrameType | None) -> bool:
        """Whether installed code caused the event by itself: a compile-only function called it, or an
        installed module is running its body with only installed code between it and the event."""
        if (
            frame is not None
            and _function(frame) in _COMPILE_ONLY
            and self._is_installed(frame.f_code.co_filename)
        ):
            return True
        while frame is not None:
            filename = frame.f_code.co_filename
            if not filename.startswith(_IMPORTLIB):
                if not self._is_installed(filename):
                    return False
                caller = frame.f_back
                if frame.f_code.co_name == "<module>" and caller is not None:
                    return caller.f_code.co_filename.startswith(_IMPORTLIB)
            frame = frame.f_back
        return False

    def _import_by_library(self, frame: FrameType | None) -> bool:
        """Whether the event happens inside an import that installed code started itself (an ``import``
        statement, or ``importlib.import_module`` called by code that names it; never a module the file
        asked for through the unpickler), with only installed code between the loader call and the event.
        Lazy imports do this: transformers' and torch's submodules probing the host as they load."""
        importer: FrameType | None = None
        callee_in_importlib = False
        while frame is not None and frame.f_code is not _load.__code__:
            in_importlib = frame.f_code.co_filename.startswith(_IMPORTLIB)
            if not in_importlib:
                if not self._is_installed(frame.f_code.co_filename):
                    return False
                if callee_in_importlib:
                    importer = frame  # the outermost import seen so far was started here
            callee_in_importlib = in_importlib
            frame = frame.f_back
        return frame is not None and importer is not None and _starts_import_itself(importer)


def _starts_import_itself(frame: FrameType) -> bool:
    code = frame.f_code
    if 0 <= frame.f_lasti < len(code.co_code) and code.co_code[frame.f_lasti] == _IMPORT_NAME:
        return True
    caller = frame.f_back
    named = caller is not None and "import_module" in caller.f_code.co_names
    return _function(frame) == ("importlib", "import_module") and named


def _function(frame: FrameType) -> tuple[str, str]:
    code = frame.f_code
    return str(frame.f_globals.get("__name__", "")), getattr(code, "co_qualname", code.co_name)


def _installed_paths(model: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Folders of code installed before the load (the import path), and those that are never installed
    code: the model's own folder and the private HOME (where remote code would be copied)."""

    def forms(paths: list[str]) -> tuple[str, ...]:  # as written and resolved: code names files either way
        return tuple(dict.fromkeys(f for p in paths for f in (os.path.abspath(p), os.path.realpath(p))))

    model_dir = model if model.is_dir() else model.parent
    installed = [p for p in sys.path if p and os.path.isdir(p)]
    return forms(installed), forms([str(model_dir), os.path.expanduser("~")])


def _classify(event: str, args: tuple[Any, ...]) -> tuple[str, str, str] | None:
    if event in PROCESS_EVENTS:
        return "process", event, _short(args)
    if event in NETWORK_EVENTS:
        return "network", event, _short(args[1:] if event in _SOCKET_METHODS else args)
    if event == "socket.__new__" and len(args) > 1 and args[1] in _INET:
        return "network", event, f"family {args[1]!r}"
    if event == "open" and _writes(args):
        return "file-write", event, f"{args[0]!r} mode={args[1]!r} flags={args[2]!r}"
    if event in FILE_EVENTS:
        return "file-write", event, _short(args)
    if event == "import" and args and args[0] in SENSITIVE_MODULES and args[0] not in sys.modules:
        return "import", event, str(args[0])
    if event == "ctypes.dlopen":
        return "native-code", event, _short(args)
    if event == "compile" and len(args) > 1 and args[1] in ("<string>", "<unknown>"):
        return "native-code", "compile", _short(args[:1])
    return None


def _writes(args: tuple[Any, ...]) -> bool:
    mode, flags = (args[1], args[2]) if len(args) > 2 else (None, 0)
    if isinstance(mode, str) and any(c in mode for c in "wax+"):
        return True
    return isinstance(flags, int) and bool(flags & _WRITE_FLAGS)


def _short(args: Any) -> str:
    return repr(args)[:500]


def _sniff(path: Path) -> str:
    if path.is_dir():
        return "keras" if (path / "saved_model.pb").exists() else "transformers"
    with path.open("rb") as fh:
        head = fh.read(8)
    if head.startswith(b"\x93NUMPY"):
        return "numpy"
    if head.startswith(b"\x89HDF"):
        return "keras"
    if head.startswith(b"PK"):
        import zipfile

        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
        if any(n.endswith("data.pkl") for n in names):
            return "torch"
        return "keras" if "config.json" in names else "numpy"
    return "joblib" if importlib.util.find_spec("joblib") else "pickle"


def _prepare(loader: str) -> Any:
    """Import the loader's library before recording starts, so its own imports are not evidence."""
    module = {
        "pickle": "pickle",
        "torch": "torch",
        "joblib": "joblib",
        "numpy": "numpy",
        "keras": "keras",
        "transformers": "transformers",
    }[loader]
    return importlib.import_module(module)


def _load(loader: str, lib: Any, path: Path) -> object:
    if loader == "pickle":
        with path.open("rb") as fh:
            return lib.load(fh)
    if loader == "torch":
        return lib.load(str(path), map_location="cpu", weights_only=False)
    if loader == "joblib":
        return lib.load(str(path))
    if loader == "numpy":
        loaded = lib.load(str(path), allow_pickle=True)
        return dict(loaded.items()) if hasattr(loaded, "files") else loaded
    if loader == "keras":
        return lib.models.load_model(str(path), safe_mode=False)
    return lib.AutoModel.from_pretrained(str(path), trust_remote_code=True, local_files_only=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="modelseal.sandbox.probe")
    parser.add_argument(
        "--loader",
        default="auto",
        choices=["auto", "pickle", "torch", "joblib", "numpy", "keras", "transformers"],
    )
    parser.add_argument("--evidence", required=True)
    parser.add_argument("model")
    args = parser.parse_args(argv)
    path = Path(args.model)
    fd = os.open(args.evidence, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    recorder = Recorder(fd, *_installed_paths(path.resolve()))
    loader = _sniff(path) if args.loader == "auto" else args.loader
    try:
        lib = _prepare(loader)
    except ImportError as exc:
        recorder.emit("load", "load.unavailable", f"{loader}: {exc}")
        return 3
    recorder.emit("load", "load.start", f"{loader} {path}")
    sys.addaudithook(recorder.hook)
    recorder.active = True
    try:
        _load(loader, lib, path)
    except BaseException as exc:  # the payload's own exceptions, MemoryError, SystemExit alike
        recorder.active = False
        recorder.emit("load", "load.error", f"{type(exc).__name__}: {exc}")
        return 1
    recorder.active = False
    recorder.emit("load", "load.ok", loader)
    return 0


if __name__ == "__main__":
    sys.exit(main())
