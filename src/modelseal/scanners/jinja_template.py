"""Chat templates: Jinja programs shipped with a model (GGUF metadata, tokenizer_config.json) and rendered
by many runtimes, some without a sandbox.

The template is parsed with Jinja's own parser (never rendered) and its syntax tree is searched for the
ways a template reaches Python: dunder attributes, attribute access on Jinja's helper globals
(``cycler``, ``joiner``, ``namespace``, ``lipsum``), the ``attr`` filter with computed names, and names of
process and import primitives.
"""

from __future__ import annotations

from typing import Any

from modelseal.core.findings import Finding
from modelseal.core.rules import make_finding

# Globals that Jinja or common hosts provide; a template only ever calls them, never walks their attributes.
HELPER_GLOBALS = frozenset(
    {
        "cycler",
        "joiner",
        "namespace",
        "lipsum",
        "range",
        "dict",
        "self",
        "config",
        "request",
        "url_for",
        "get_flashed_messages",
        "g",
        "session",
    }
)
# Attribute or key names that lead from an object to code execution.
DANGEROUS_NAMES = frozenset(
    {
        "mro",
        "func_globals",
        "gi_frame",
        "gi_code",
        "f_globals",
        "f_back",
        "f_locals",
        "f_builtins",
        "co_code",
        "popen",
        "system",
        "subprocess",
        "os",
        "eval",
        "exec",
        "builtins",
        "modules",
        "import_module",
        "environ",
        "spawn",
        "check_output",
    }
)
FREE_NAMES = frozenset(
    {
        "os",
        "sys",
        "subprocess",
        "builtins",
        "__builtins__",
        "importlib",
        "eval",
        "exec",
        "__import__",
        "open",
        "getattr",
        "globals",
        "locals",
    }
)
MAX_FINDINGS = 20


def _folded(node: Any, nodes: Any) -> str | None:
    """The constant string an expression evaluates to, when it is built from constants by concatenation."""
    if isinstance(node, nodes.Const):
        return node.value if isinstance(node.value, str) else None
    parts = (
        node.nodes
        if isinstance(node, nodes.Concat)
        else ([node.left, node.right] if isinstance(node, nodes.Add) else None)
    )
    if parts is None:
        return None
    folded = [_folded(p, nodes) for p in parts]
    return None if any(f is None for f in folded) else "".join(f for f in folded if f is not None)


def _is_dangerous(name: str) -> bool:
    return name.startswith("_") or name in DANGEROUS_NAMES


def _describe(node: Any) -> str:
    return repr(node)[:300]


def _ast_findings(tree: Any, nodes: Any) -> list[Finding]:
    out: list[Finding] = []

    def hit(message: str, node: Any) -> None:
        if len(out) < MAX_FINDINGS:
            out.append(make_finding("MS-TEMPLATE-INJECTION", message, evidence=_describe(node)))

    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter, nodes.Name, nodes.Const)):
        if isinstance(node, nodes.Getattr):
            if _is_dangerous(node.attr):
                hit(f"template reads attribute {node.attr!r}", node)
            elif isinstance(node.node, nodes.Name) and node.node.name in HELPER_GLOBALS:
                hit(f"template walks the attributes of the global {node.node.name!r}", node)
        elif isinstance(node, nodes.Getitem):
            key = _folded(node.arg, nodes)
            if key is not None and _is_dangerous(key):
                hit(f"template reads item {key!r}", node)
            elif isinstance(node.node, nodes.Name) and node.node.name in HELPER_GLOBALS:
                hit(f"template indexes the global {node.node.name!r}", node)
        elif isinstance(node, nodes.Filter) and node.name == "attr":
            key = _folded(node.args[0], nodes) if node.args else None
            if key is None or _is_dangerous(key):
                hit(f"template uses the attr filter to reach {key or 'a computed name'!r}", node)
        elif isinstance(node, nodes.Name) and node.name in FREE_NAMES:
            hit(f"template refers to {node.name!r}", node)
        elif isinstance(node, nodes.Const) and isinstance(node.value, str) and "__" in node.value:
            inner = node.value.strip("_ ")
            if inner and any(
                w in node.value
                for w in ("class", "globals", "subclasses", "builtins", "import", "mro", "base", "init")
            ):
                hit(f"template holds the dunder name {node.value[:60]!r}", node)
    for node in tree.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
        out.append(
            make_finding(
                "MS-TEMPLATE-SUSPICIOUS",
                f"template loads other templates ({type(node).__name__.lower()})",
                evidence=_describe(node),
            )
        )
    return out


def _environment(jinja2: Any) -> Any:
    """An environment that parses what transformers' chat templates may use: loop controls, ``do`` and the
    ``{% generation %}`` block (the latter as a plain scope, which is what matters for analysis)."""
    from jinja2 import ext, nodes

    class Generation(ext.Extension):
        tags = {"generation"}  # noqa: RUF012 - Jinja's extension API

        def parse(self, parser: Any) -> Any:
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return nodes.Scope(body, lineno=lineno)

    return jinja2.Environment(extensions=["jinja2.ext.loopcontrols", "jinja2.ext.do", Generation])


def template_findings(source: str) -> list[Finding]:
    """Findings for one chat template; never renders it."""
    try:
        import jinja2  # optional: only repositories with templates pay for it
        from jinja2 import nodes
    except ImportError:
        return [
            make_finding(
                "MS-FORMAT-NOT-ANALYSED", "chat template not analysed: install modelseal[templates] (jinja2)"
            )
        ]
    try:
        tree = _environment(jinja2).parse(source)
    except jinja2.TemplateSyntaxError as exc:
        return [
            make_finding(
                "MS-TEMPLATE-SUSPICIOUS",
                f"chat template does not parse: {exc.message}",
                evidence=f"line {exc.lineno}",
            )
        ]
    except RecursionError:
        return [make_finding("MS-TEMPLATE-SUSPICIOUS", "chat template is nested too deeply to parse")]
    return _ast_findings(tree, nodes)
