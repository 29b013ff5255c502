"""Python files in a model repository, analysed by their syntax tree (never imported).

``trust_remote_code`` runs these files, and setup scripts or helpers run them too. Calls are resolved
through the file's imports (``import subprocess as sp; sp.run`` is ``subprocess.run``) and classified as
process, network, file-system or dynamic-code primitives; dynamic code fed by a decoder (base64, hex,
zlib, rot13) is obfuscation, the signature of a payload rather than of model code.
"""

from __future__ import annotations

import ast
import re

from modelseal.core.artifact import Artifact
from modelseal.core.findings import Finding, Severity
from modelseal.core.rules import make_finding
from modelseal.scanners.interface import ArtifactScanner, ScanContext
from modelseal.scanners.repofiles import analyse_texts

# Fully qualified callables, or module prefixes ending in ".", per category.
CATEGORIES: dict[str, tuple[str, ...]] = {
    "MS-PYCODE-PROCESS": (
        "os.system",
        "os.popen",
        "os.exec",
        "os.spawn",
        "os.posix_spawn",
        "os.fork",
        "subprocess.",
        "pty.spawn",
        "commands.",
        "asyncio.create_subprocess_",
        "platform.popen",
    ),
    "MS-PYCODE-NETWORK": (
        "socket.",
        "urllib.request.",
        "urllib.urlopen",
        "urllib2.",
        "requests.",
        "httpx.",
        "http.client.",
        "ftplib.",
        "smtplib.",
        "telnetlib.",
        "paramiko.",
        "aiohttp.",
        "websocket.",
        "websockets.",
        "xmlrpc.client.",
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
        "exec",
        "eval",
        "compile",
        "__import__",
        "marshal.loads",
        "pickle.loads",
        "pickle.load",
        "dill.load",
        "cloudpickle.load",
        "types.CodeType",
        "types.FunctionType",
        "ctypes.",
        "builtins.exec",
        "builtins.eval",
        "importlib.__import__",
        "runpy.",
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
)
BUILTINS = frozenset(
    {"exec", "eval", "compile", "__import__", "open", "getattr", "bytes", "bytearray", "chr"}
)
ENCODED_BLOB = re.compile(r"^[A-Za-z0-9+/=\s]{512,}$|^[0-9a-fA-F\s]{512,}$")
MAX_FINDINGS = 40
MAX_SOURCE_CHARS = 8 << 20


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    """Patterns ending in "." or "_", and ``os.*`` families (``os.exec`` → ``os.execv``), are prefixes;
    the others name a callable or a module."""
    return any(
        name.startswith(p)
        if p.endswith((".", "_")) or p.startswith("os.")
        else name == p or name.startswith(p + ".")
        for p in patterns
    )


class _Analyser(ast.NodeVisitor):
    def __init__(self, relpath: str) -> None:
        self.relpath = relpath
        self.aliases: dict[str, str] = {}
        self.decoded: set[str] = set()
        """Names assigned from a decoder call: ``exec(name)`` later is obfuscation."""
        self.findings: list[Finding] = []

    def emit(self, rule: str, message: str, node: ast.AST, severity: Severity | None = None) -> None:
        if len(self.findings) < MAX_FINDINGS:
            line = getattr(node, "lineno", 0)
            self.findings.append(
                make_finding(
                    rule,
                    f"{self.relpath}:{line}: {message}",
                    severity=severity,
                    file=self.relpath,
                    evidence=ast.unparse(node)[:200],
                )
            )

    # -- name resolution ---------------------------------------------------------------------------------
    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            self.aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module and not node.level:
            for a in node.names:
                self.aliases[a.asname or a.name] = f"{node.module}.{a.name}"

    def qualified(self, node: ast.expr) -> str | None:
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        root = self.aliases.get(node.id)
        if root is None:
            if node.id not in BUILTINS or parts:
                return None
            root = node.id
        return ".".join([root, *reversed(parts)])

    def _has_decoder(self, node: ast.AST) -> bool:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Call):
                name = self.qualified(sub.func)
                if name and _matches(name, DECODERS):
                    return True
                if isinstance(sub.func, ast.Attribute) and sub.func.attr in (
                    "decode",
                    "fromhex",
                    "b64decode",
                ):
                    return True
            if isinstance(sub, ast.Name) and sub.id in self.decoded:
                return True
        return False

    # -- checks ------------------------------------------------------------------------------------------
    def visit_Assign(self, node: ast.Assign) -> None:
        if self._has_decoder(node.value):
            self.decoded.update(t.id for t in node.targets if isinstance(t, ast.Name))
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        name = self.qualified(node.func)
        if name:
            self._classify(name, node)
        self.generic_visit(node)

    def _classify(self, name: str, node: ast.Call) -> None:
        args = [*node.args, *(k.value for k in node.keywords)]
        if (
            name in ("__import__", "importlib.import_module")
            and args
            and not isinstance(args[0], ast.Constant)
        ):
            obf = self._has_decoder(args[0])
            self.emit(
                "MS-PYCODE-OBFUSCATION" if obf else "MS-PYCODE-DYNAMIC-CODE",
                f"imports a module whose name is computed at run time ({name})",
                node,
                None if obf else Severity.HIGH,
            )
            return
        if name == "open" and _writes(node):
            # Tokenizers write their vocabulary in save_vocabulary: worth seeing, not alarming.
            self.emit("MS-PYCODE-FILESYSTEM", "opens a file for writing", node, Severity.LOW)
            return
        if name == "getattr" and len(args) > 1 and not isinstance(args[1], ast.Constant):
            if isinstance(args[0], ast.Name) and args[0].id in (
                "__builtins__",
                "builtins",
                "os",
                "subprocess",
            ):
                self.emit("MS-PYCODE-DYNAMIC-CODE", f"looks up a computed attribute of {args[0].id}", node)
            return
        for rule, patterns in CATEGORIES.items():
            if _matches(name, patterns):
                if rule == "MS-PYCODE-DYNAMIC-CODE" and any(self._has_decoder(a) for a in args):
                    self.emit("MS-PYCODE-OBFUSCATION", f"runs decoded data with {name}", node)
                else:
                    self.emit(rule, f"calls {name}", node)
                return

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
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        return [make_finding("MS-PYCODE-UNPARSEABLE", f"{relpath} does not parse: {exc}"[:300], file=relpath)]
    analyser = _Analyser(relpath)
    try:
        # Imports first, wherever they are, so calls above an import still resolve through it.
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                analyser.visit_Import(node)
            elif isinstance(node, ast.ImportFrom):
                analyser.visit_ImportFrom(node)
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
