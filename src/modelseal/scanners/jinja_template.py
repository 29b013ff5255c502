"""Chat templates: Jinja programs shipped with a model (GGUF metadata, tokenizer_config.json) and rendered
by many runtimes, some without a sandbox.

The template is parsed with Jinja's own parser (never rendered). Every attribute or item lookup is judged
by what its parts may evaluate to (:mod:`.jinja_flow` follows values through assignments, loops, macros,
namespaces and filters): a private or unsafe name, a name computed at render time, or an attribute of a
helper global (``lipsum``, ``cycler``, ``loop``...) beyond the few a template needs, is how a template
reaches Python in a host that renders it without a sandbox.
"""

from __future__ import annotations

import re
from typing import Any

from modelseal.core.findings import Finding, Severity
from modelseal.core.rules import make_finding
from modelseal.scanners.jinja_flow import ANY, COMPUTED, Flow, Value, single, texts

# Attribute names the sandbox refuses besides underscores, and names that lead from an object to a process.
DANGEROUS_NAMES = frozenset(
    {
        "mro",
        "func_globals",
        "func_code",
        "gi_frame",
        "gi_code",
        "gi_yieldfrom",
        "cr_frame",
        "cr_code",
        "cr_await",
        "ag_frame",
        "ag_code",
        "ag_await",
        "tb_frame",
        "tb_next",
        "f_globals",
        "f_back",
        "f_locals",
        "f_builtins",
        "f_code",
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
# The attributes a template may read on a helper global or an object one made; None: any safe name.
HELPER_ATTRS: dict[str, frozenset[str] | None] = {
    "loop": frozenset(
        {
            "index",
            "index0",
            "revindex",
            "revindex0",
            "first",
            "last",
            "length",
            "depth",
            "depth0",
            "previtem",
            "nextitem",
            "cycle",
            "changed",
        }
    ),
    "self": None,
    "namespace-inst": None,
    "cycler-inst": frozenset({"next", "reset", "current", "items"}),
}
# Filters that read an attribute named by an argument: (filter, positional index of the name).
ATTRIBUTE_FILTERS = {
    "attr": 0,
    "selectattr": 0,
    "rejectattr": 0,
    "groupby": 0,
    "sum": 0,
    "sort": 2,
    "unique": 1,
    "min": 1,
    "max": 1,
    "map": -1,
}
MAX_TEMPLATE_CHARS = 1 << 20
"""Real chat templates are a few kilobytes; the analysis of one costs time in proportion to its size."""
_FORMAT_FIELD = re.compile(r"\{[^{}]*[.\[][^{}]*\}")
MAX_FINDINGS = 20


def is_dangerous(name: str) -> bool:
    """An attribute path (``a.b``, as ``map(attribute=...)`` reads it) with a private or unsafe step."""
    return any(part.startswith("_") or part in DANGEROUS_NAMES for part in name.split("."))


def _describe(node: Any) -> str:
    return repr(node)[:300]


class _Checker:
    """Judges every attribute and item lookup by the values :class:`Flow` says its parts may hold."""

    def __init__(self, tree: Any, nodes: Any) -> None:
        self.nodes = nodes
        self.flow = Flow(tree, nodes)
        self.out: dict[str, Finding] = {}

    def hit(self, message: str, node: Any, severity: Severity | None = None) -> None:
        if len(self.out) < MAX_FINDINGS and message not in self.out:
            self.out[message] = make_finding(
                "MS-TEMPLATE-INJECTION", message, severity=severity, evidence=_describe(node)
            )

    def key(self, value: Value, node: Any, what: str) -> None:
        """A name or key used to look something up: known and safe, user data, or a finding."""
        known = texts(frozenset(a for a in value if a[0] == "s")) or []
        for text in known:
            if is_dangerous(text):
                built = "" if isinstance(node, self.nodes.Const) else " built at render time"
                self.hit(f"template {what} {text[:60]!r}{built}", node)
                return
        if COMPUTED in value or ANY in value:
            self.hit(f"template {what} a name computed at render time", node, Severity.HIGH)

    def receiver(self, value: Value, attr: str | None, node: Any) -> None:
        for atom in value:
            kind = atom[0]
            if kind == "helper":
                label = atom[1]
            elif kind == "inst":
                label = f"{atom[1]}-inst"
            else:
                continue
            allowed = HELPER_ATTRS.get(label, frozenset())
            if attr is None or (allowed is not None and attr not in allowed):
                self.hit(f"template walks the attributes of the global {atom[1]!r}", node)

    def run(self, tree: Any) -> list[Finding]:
        n = self.nodes
        value = self.flow.value
        assigned = set(self.flow.names)
        for node in tree.find_all((n.Getattr, n.Getitem, n.Filter, n.Name, n.Const, n.Call)):
            if isinstance(node, n.Getattr):
                if is_dangerous(node.attr):
                    self.hit(f"template reads attribute {node.attr!r}", node)
                self.receiver(value(node.node), node.attr, node)
            elif isinstance(node, n.Getitem) and not isinstance(node.arg, n.Slice):
                key = value(node.arg)
                self.key(key, node.arg, "reads item")
                self.receiver(value(node.node), single(key), node)
            elif isinstance(node, n.Filter):
                self.attribute_filter(node)
            elif isinstance(node, n.Call):
                self.format_call(node)
            elif isinstance(node, n.Name) and node.name in FREE_NAMES and node.name not in assigned:
                self.hit(f"template refers to {node.name!r}", node)
            elif isinstance(node, n.Const) and isinstance(node.value, str) and "__" in node.value:
                inner = node.value.strip("_ ")
                if inner and any(
                    w in node.value
                    for w in ("class", "globals", "subclasses", "builtins", "import", "mro", "base", "init")
                ):
                    self.hit(f"template holds the dunder name {node.value[:60]!r}", node)
        return list(self.out.values())

    def attribute_filter(self, node: Any) -> None:
        index = ATTRIBUTE_FILTERS.get(node.name)
        if index is None:
            return
        names = [k.value for k in node.kwargs if k.key == "attribute"]
        if node.name == "map" and node.args:
            chosen = single(self.flow.value(node.args[0]))
            if chosen is None:
                self.hit("template maps a filter whose name is computed at render time", node, Severity.HIGH)
            elif chosen == "attr":
                names += node.args[1:2]
        elif 0 <= index < len(node.args):
            names.append(node.args[index])
        if node.dyn_args is not None or node.dyn_kwargs is not None:
            self.hit(f"template passes computed arguments to the {node.name} filter", node, Severity.HIGH)
        for name in names:
            key = self.flow.value(name)
            self.key(key, name, f"uses the {node.name} filter to reach")
            if node.name == "attr" and node.node is not None:
                self.receiver(self.flow.value(node.node), single(key), node)

    def format_call(self, node: Any) -> None:
        """``'{0.__class__}'.format(x)`` walks attributes in a host without Jinja's sandbox."""
        for atom in self.flow.value(node.node):
            if atom[0] != "bound" or atom[1] not in ("format", "format_map"):
                continue
            for recv in atom[2]:
                if recv == COMPUTED or (recv[0] == "s" and _FORMAT_FIELD.search(recv[1])):
                    self.hit("template formats a string whose fields walk attributes", node, Severity.HIGH)


def _ast_findings(tree: Any, nodes: Any) -> list[Finding]:
    out = _Checker(tree, nodes).run(tree)
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
    if len(source) > MAX_TEMPLATE_CHARS:
        return [
            make_finding(
                "MS-LIMIT-EXCEEDED",
                f"chat template has {len(source)} characters, over the {MAX_TEMPLATE_CHARS} analysed",
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
    try:
        return _ast_findings(tree, nodes)
    except RecursionError:
        return [make_finding("MS-TEMPLATE-SUSPICIOUS", "chat template is nested too deeply to analyse")]
