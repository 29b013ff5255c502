"""Python files in a model repository, analysed by their syntax tree (never imported).

``trust_remote_code`` runs these files, and setup scripts or helpers run them too. Calls are resolved
through the file's imports (``import subprocess as sp; sp.run`` is ``subprocess.run``) and classified as
process, network, file-system or dynamic-code primitives; dynamic code fed by a decoder (base64, hex,
zlib, rot13) is obfuscation, the signature of a payload rather than of model code.
"""

from __future__ import annotations

import ast
import functools
import re

from modelseal.core.artifact import Artifact
from modelseal.core.findings import Finding, Severity
from modelseal.core.rules import make_finding
from modelseal.scanners.interface import ArtifactScanner, ScanContext
from modelseal.scanners.pynames import NAMESPACE, Names, bound_names, const_str
from modelseal.scanners.repofiles import analyse_texts

# Fully qualified names, or prefixes ending in "." or "_" (``os.exec``/``os.spawn`` families too), per
# category: the standard-library and common third-party entry points that run a process, reach the network
# or run code held in a string or in bytes.
CATEGORIES: dict[str, tuple[str, ...]] = {
    "MS-PYCODE-PROCESS": (
        "os.system",
        "os.popen",
        "os.exec",
        "os.spawn",
        "os.posix_spawn",
        "os.fork",
        "os.startfile",
        "posix.system",
        "posix.exec",
        "posix.spawn",
        "posix.posix_spawn",
        "posix.fork",
        "nt.system",
        "subprocess.",
        "_posixsubprocess.",
        "pty.spawn",
        "pty.fork",
        "commands.",
        "asyncio.create_subprocess_",
        "asyncio.subprocess.",
        "platform.popen",
        "webbrowser.",
        "multiprocessing.popen_",
        "pydoc.pipepager",
        "pydoc.tempfilepager",
        "pydoc.pager",
        "distutils.spawn",
        "pip.main",
        "pip._internal",
    ),
    "MS-PYCODE-NETWORK": (
        "socket.",
        "_socket.",
        "ssl.",
        "socketserver.",
        "urllib.request.",
        "urllib.urlopen",
        "urllib2.",
        "urllib3.",
        "requests.",
        "httpx.",
        "http.client.",
        "http.server.",
        "ftplib.",
        "smtplib.",
        "poplib.",
        "imaplib.",
        "nntplib.",
        "telnetlib.",
        "paramiko.",
        "aiohttp.",
        "websocket.",
        "websockets.",
        "xmlrpc.client.",
        "xmlrpc.server.",
        "asyncio.open_connection",
        "asyncio.start_server",
        "pycurl.",
        "wsgiref.",
        "multiprocessing.connection.",
        "multiprocessing.managers.",
        "logging.config.listen",
    ),
    "MS-PYCODE-FILESYSTEM": (
        "os.remove",
        "os.unlink",
        "os.rmdir",
        "os.removedirs",
        "os.rename",
        "os.replace",
        "os.chmod",
        "os.chown",
        "os.symlink",
        "shutil.rmtree",
        "shutil.move",
        "shutil.copy",
        "shutil.chown",
    ),
    "MS-PYCODE-DYNAMIC-CODE": (
        "builtins.exec",
        "builtins.eval",
        "builtins.compile",
        "builtins.__import__",
        "builtins.breakpoint",
        "marshal.loads",
        "marshal.load",
        "pickle.loads",
        "pickle.load",
        "pickle.Unpickler",
        "_pickle.",
        "shelve.open",
        "dill.load",
        "cloudpickle.load",
        "types.CodeType",
        "types.FunctionType",
        "ctypes.",
        "_ctypes.",
        "cffi.",
        "importlib.__import__",
        "importlib.util.spec_from_file_location",
        "importlib.util.module_from_spec",
        "importlib.machinery.",
        "importlib._bootstrap",
        "zipimport.",
        "runpy.",
        "torch.hub.load",
        "pydoc.locate",
        "pkgutil.resolve_name",
        "logging.config.dictConfig",
        "logging.config.fileConfig",
        "yaml.unsafe_load",
        "yaml.UnsafeLoader",
        "jsonpickle.decode",
        "code.",
        "codeop.",
        "timeit.",
        "pdb.run",
        "profile.run",
        "cProfile.run",
        "trace.Trace",
        "sys.settrace",
        "sys.setprofile",
        "sys.addaudithook",
        "operator.methodcaller",
    ),
}
DECODERS = (
    "base64.",
    "codecs.decode",
    "binascii.",
    "zlib.decompress",
    "gzip.decompress",
    "lzma.decompress",
    "bz2.decompress",
    "bytes.fromhex",
    "bytearray.fromhex",
    "builtins.bytes.fromhex",
    "builtins.bytearray.fromhex",
)
# Standard-library and common modules whose members run code, processes or the network: a member looked
# up by a computed name is hidden. (Packages such as torch, where one function among many is listed above,
# are not: ``getattr(torch, dtype_name)`` is everyday model code.)
REACHING_MODULES = frozenset(
    {
        "os",
        "posix",
        "nt",
        "sys",
        "builtins",
        "importlib",
        "subprocess",
        "_posixsubprocess",
        "pty",
        "socket",
        "_socket",
        "ssl",
        "ctypes",
        "_ctypes",
        "cffi",
        "marshal",
        "pickle",
        "_pickle",
        "shelve",
        "dill",
        "cloudpickle",
        "runpy",
        "code",
        "codeop",
        "timeit",
        "types",
        "shutil",
        "operator",
        "urllib",
        "http",
        "ftplib",
        "smtplib",
        "telnetlib",
        "requests",
        "urllib3",
        "httpx",
        "webbrowser",
        "pydoc",
        "pkgutil",
        "asyncio",
        "multiprocessing",
    }
)
# Attributes that lead from any object to interpreter internals (frames, globals, every class).
INTROSPECTION = frozenset(
    {
        "__globals__",
        "__subclasses__",
        "__builtins__",
        "__code__",
        "__closure__",
        "f_globals",
        "f_locals",
        "f_builtins",
        "f_back",
        "gi_frame",
        "cr_frame",
        "tb_frame",
        "_getframe",
    }
)
RUNS_AT_IMPORT = frozenset({"__init_subclass__", "__set_name__", "__class_getitem__"})
"""Methods that run when a class is defined or subscripted, not only when it is called."""
ENCODED_BLOB = re.compile(r"^[A-Za-z0-9+/=\s]{512,}$|^[0-9a-fA-F\s]{512,}$")
MAX_FINDINGS = 40
MAX_SOURCE_CHARS = 8 << 20
MAX_NESTED_SOURCE = 2
"""Levels of ``exec("...")`` with a constant string that are analysed as code of their own."""


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    """Patterns ending in "." or "_", and ``os.*``/``posix.*`` families (``os.exec`` → ``os.execv``), are
    prefixes; the others name a callable or a module."""
    return any(
        name.startswith(p)
        if p.endswith((".", "_")) or p.startswith(("os.", "posix.", "nt."))
        else name == p or name.startswith(p + ".")
        for p in patterns
    )


@functools.lru_cache(maxsize=4096)
def category(name: str) -> str | None:
    """The rule for a qualified name, also when it is reached through a module that re-exports another
    (``shutil.os.system``, ``logging.os.system``): every dotted suffix is tried."""
    parts = name.split(".")
    for start in range(len(parts)):
        suffix = ".".join(parts[start:])
        found = next((rule for rule, patterns in CATEGORIES.items() if _matches(suffix, patterns)), None)
        if found:
            return found
    return None


class _Analyser(ast.NodeVisitor):
    """Every expression of the module is resolved to the qualified names it may hold; a reference to a
    process, network or dynamic-code entry point is a finding whether it is called, assigned or passed as a
    value (``map(os.system, ...)``, ``Thread(target=...)``). Code that runs when the module is imported
    (module level, class bodies, decorators, default arguments, and the local functions these call or
    pass on) makes such a finding critical: ``trust_remote_code`` runs it on load."""

    def __init__(self, relpath: str, tree: ast.Module, depth: int = 0) -> None:
        self.relpath = relpath
        self.depth = depth
        nodes = list(ast.walk(tree))
        self.names = Names(tree, nodes)
        self.at_import = _import_time_functions(tree, nodes)
        self.maybe_decoding = any(isinstance(n, ast.Call) and self._is_decoder_call(n) for n in nodes)
        """Whether any call decodes data; most model files have none, and need no decoder tracking."""
        self.deferred = 0
        self.decoded: set[str] = set()
        """Names assigned from a decoder call: ``exec(name)`` later is obfuscation."""
        self.findings: list[Finding] = []
        self._seen: set[tuple[str, int]] = set()

    def emit(self, rule: str, message: str, node: ast.AST, severity: Severity | None = None) -> None:
        line = getattr(node, "lineno", 0)
        if len(self.findings) >= MAX_FINDINGS or (rule, line) in self._seen:
            return
        self._seen.add((rule, line))
        if self.deferred == 0 and rule != "MS-PYCODE-FILESYSTEM" and severity is not Severity.LOW:
            severity, message = Severity.CRITICAL, f"{message}, at import time"
        self.findings.append(
            make_finding(
                rule,
                f"{self.relpath}:{line}: {message}",
                severity=severity,
                file=self.relpath,
                evidence=ast.unparse(node)[:200],
            )
        )

    # -- scopes ------------------------------------------------------------------------------------------
    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        for deco in getattr(node, "decorator_list", []):
            self.visit(deco)
        self.visit(node.args)  # defaults and annotations run where the function is defined
        if not isinstance(node, ast.Lambda) and node.returns is not None:
            self.visit(node.returns)
        runs = not isinstance(node, ast.Lambda) and (
            node.name in self.at_import or node.name in RUNS_AT_IMPORT
        )
        self.deferred += 0 if runs else 1
        self.names.shadowed.append(bound_names(node))
        for stmt in node.body if isinstance(node.body, list) else [node.body]:
            self.visit(stmt)
        self.names.shadowed.pop()
        self.deferred -= 0 if runs else 1

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._function(node)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._function(node)

    def visit_If(self, node: ast.If) -> None:
        main = _is_main_guard(node.test)
        self.visit(node.test)
        self.deferred += main
        for stmt in node.body:
            self.visit(stmt)
        self.deferred -= main
        for stmt in node.orelse:
            self.visit(stmt)

    # -- checks ------------------------------------------------------------------------------------------
    def visit_Assign(self, node: ast.Assign) -> None:
        if self._has_decoder(node.value):
            self.decoded.update(t.id for t in node.targets if isinstance(t, ast.Name))
        self.generic_visit(node)

    def _is_decoder_call(self, node: ast.Call) -> bool:
        if isinstance(node.func, ast.Attribute) and node.func.attr in ("decode", "fromhex", "b64decode"):
            return True
        return any(_decoder(q) for q in self.names.resolve(node.func))

    def _has_decoder(self, node: ast.AST) -> bool:
        if not self.maybe_decoding:
            return False
        for sub in ast.walk(node):
            if isinstance(sub, ast.Call) and self._is_decoder_call(sub):
                return True
            if isinstance(sub, ast.Name) and sub.id in self.decoded:
                return True
        return False

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self._reference(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in INTROSPECTION:
            self.emit("MS-PYCODE-DYNAMIC-CODE", f"reaches interpreter internals through {node.attr}", node)
        if isinstance(node.ctx, ast.Load) and not self._reference(node):
            self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        bases = self.names.resolve(node.value)
        if const_str(node.slice) is None and any(_namespace(b) for b in bases):
            self.emit(
                "MS-PYCODE-DYNAMIC-CODE", "looks a name up in a module namespace by a computed key", node
            )
        if not self._reference(node):
            self.generic_visit(node)

    def _reference(self, node: ast.expr) -> bool:
        """Reports what ``node`` refers to; true when it was a dangerous name (its parts need no report)."""
        for name in sorted(self.names.resolve(node)):
            rule = category(name)
            if rule:
                self.emit(rule, f"uses {name}", node)
                return True
        return False

    def visit_Call(self, node: ast.Call) -> None:
        self._reference(node)  # what the call returns: getattr(m, "Popen"), import_module(...)
        resolved = self.names.resolve(node.func)
        args = [*node.args, *(k.value for k in node.keywords)]
        for name in sorted(resolved):
            self._classify(name, node, args)
        self.generic_visit(node)

    def _classify(self, name: str, node: ast.Call, args: list[ast.expr]) -> None:
        if name in ("builtins.__import__", "importlib.import_module", "importlib.__import__") and args:
            if const_str(args[0]) is None:
                obf = self._has_decoder(args[0])
                self.emit(
                    "MS-PYCODE-OBFUSCATION" if obf else "MS-PYCODE-DYNAMIC-CODE",
                    f"imports a module whose name is computed at run time ({name})",
                    node,
                )
            return
        if name == "builtins.open" and _writes(node):
            # Tokenizers write their vocabulary in save_vocabulary: worth seeing, not alarming.
            self.emit("MS-PYCODE-FILESYSTEM", "opens a file for writing", node, Severity.LOW)
            return
        if name in ("builtins.getattr", "builtins.setattr", "builtins.delattr") and len(node.args) > 1:
            attr = const_str(node.args[1])
            targets = self.names.resolve(node.args[0])
            if attr is None and any(t.split(".")[0] in REACHING_MODULES or _namespace(t) for t in targets):
                self.emit(
                    "MS-PYCODE-DYNAMIC-CODE", f"looks up a computed attribute of {sorted(targets)[0]}", node
                )
            elif attr in INTROSPECTION:
                self.emit("MS-PYCODE-DYNAMIC-CODE", f"reaches interpreter internals through {attr}", node)
            return
        if category(name) == "MS-PYCODE-DYNAMIC-CODE":
            if any(self._has_decoder(a) for a in args):
                self.emit("MS-PYCODE-OBFUSCATION", f"runs decoded data with {name}", node)
            elif name in ("builtins.exec", "builtins.eval", "builtins.compile") and args:
                self._nested_source(args[0])

    def _nested_source(self, arg: ast.expr) -> None:
        """``exec("import os; os.system(...)")``: the constant is code too; say what it does."""
        source = const_str(arg)
        if source is None or self.depth >= MAX_NESTED_SOURCE:
            return
        for finding in _analyse(source, self.relpath, self.depth + 1):
            if len(self.findings) < MAX_FINDINGS:
                self.findings.append(finding)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, (str, bytes)) and len(node.value) >= 512:
            text = node.value if isinstance(node.value, str) else node.value.decode("latin-1")
            if ENCODED_BLOB.match(text) and not text.isspace():
                self.emit(
                    "MS-PYCODE-OBFUSCATION",
                    f"holds an encoded blob of {len(text)} characters",
                    node,
                    Severity.HIGH,
                )


@functools.lru_cache(maxsize=1024)
def _decoder(name: str) -> bool:
    return _matches(name, DECODERS)


def _namespace(name: str) -> bool:
    return name.endswith(NAMESPACE) or name == "sys.modules"


def _is_main_guard(test: ast.expr) -> bool:
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and len(test.ops) == 1
        and isinstance(test.ops[0], ast.Eq)
        and const_str(test.comparators[0]) == "__main__"
    )


def _import_time_functions(tree: ast.Module, nodes: list[ast.AST]) -> set[str]:
    """Local functions (by name) that run when the module is imported: referenced from code that runs at
    import (called, used as a decorator, registered or passed on), and the ones those reference in turn;
    ``__init__``/``__new__``/``__call__`` of a class that import-time code calls."""
    functions: dict[str, list[ast.AST]] = {}
    classes: dict[str, ast.ClassDef] = {}
    for node in nodes:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            functions.setdefault(node.name, []).append(node)
        elif isinstance(node, ast.ClassDef):
            classes[node.name] = node
    running: set[str] = set()
    todo: list[ast.AST] = [tree]
    while todo:
        for name in _referenced(todo.pop()):
            if name in functions and name not in running:
                running.add(name)
                todo += [body for f in functions[name] for body in getattr(f, "body", [])]
            elif name in classes and name not in running:
                running.add(name)
                for method in classes[name].body:
                    if isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)) and method.name in (
                        "__init__",
                        "__new__",
                        "__call__",
                        "__post_init__",
                    ):
                        running.add(method.name)
                        todo += method.body
    return running


def _referenced(node: ast.AST) -> set[str]:
    """Names loaded by code that runs when ``node`` runs (function bodies not included, their
    decorators and defaults are)."""
    out: set[str] = set()
    stack = [node]
    while stack:
        sub = stack.pop()
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
            out.add(sub.id)
        elif isinstance(sub, ast.Attribute):
            out.add(sub.attr)  # self.method / cls.method
        if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)):
            stack += [*sub.decorator_list, sub.args]
            continue
        if isinstance(sub, ast.Lambda):
            stack.append(sub.args)
            continue
        if isinstance(sub, ast.If) and _is_main_guard(sub.test):
            stack += sub.orelse
            continue
        stack.extend(ast.iter_child_nodes(sub))
    return out


def _writes(node: ast.Call) -> bool:
    mode = (
        node.args[1]
        if len(node.args) > 1
        else next((k.value for k in node.keywords if k.arg == "mode"), None)
    )
    return (
        isinstance(mode, ast.Constant) and isinstance(mode.value, str) and bool(set(mode.value) & set("wax+"))
    )


def analyse_source(source: str, relpath: str) -> list[Finding]:
    return _analyse(source, relpath, 0)


def _analyse(source: str, relpath: str, depth: int) -> list[Finding]:
    if len(source) > MAX_SOURCE_CHARS:  # a syntax tree costs ~100x the source: bound it
        return [
            make_finding(
                "MS-LIMIT-EXCEEDED",
                f"{relpath} has {len(source)} characters, over the "
                f"{MAX_SOURCE_CHARS} analysed for Python code",
                file=relpath,
            )
        ]
    try:
        tree = ast.parse(source, filename=relpath)
        analyser = _Analyser(relpath, tree, depth)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        return [make_finding("MS-PYCODE-UNPARSEABLE", f"{relpath} does not parse: {exc}"[:300], file=relpath)]
    try:
        analyser.visit(tree)
    except RecursionError:
        analyser.findings.append(
            make_finding("MS-PYCODE-UNPARSEABLE", f"{relpath} is nested too deeply", file=relpath)
        )
    return analyser.findings


class PythonCodeScanner(ArtifactScanner):
    name = "python-code"

    def scan_artifact(self, artifact: Artifact, ctx: ScanContext) -> tuple[Finding, ...]:
        return analyse_texts(
            artifact,
            ctx.limits,
            lambda p: p.endswith((".py", ".pyw")),
            "MS-PYCODE-UNPARSEABLE",
            analyse_source,
        )
