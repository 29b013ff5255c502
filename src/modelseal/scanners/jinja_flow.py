"""What a chat template's expressions may evaluate to, worked out from its syntax tree without rendering it.

An attacker hides an attribute name from a syntax-tree search by building it at render time
(``'%c%c'|format(95, 95) ~ 'class__'``), by passing it through assignments, loops, macros and namespaces,
or by parking a helper global in a variable (``{% set x = lipsum %}``). :class:`Flow` follows values
through all of these, flow-insensitively (every assignment to a name is a possible value wherever the
name is read), to a fixpoint; strings built from constants are folded when the operation is simple and
bounded, and are otherwise *computed* — a string the template's author chose but the scanner cannot see.

Values are sets of atoms:

* ``("s", text)`` a known string; ``INT`` a number, boolean or none;
* ``COMPUTED`` a string built by the template; ``DATA`` what the caller renders with (messages, tools);
* ``("helper", name)`` a global the host provides (``lipsum``, ``cycler``, ``loop``...) and
  ``("inst", kind, payload)`` an object one of them made;
* ``("seq", elements)``, ``("map", keys, values)``, ``("macro", name)``, ``("bound", method, receiver)``;
* ``ANY`` anything at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

Atom = tuple[Any, ...]
Value = frozenset[Atom]

INT: Atom = ("int",)
COMPUTED: Atom = ("computed",)
DATA: Atom = ("data",)
ANY: Atom = ("any",)
NOTHING: Value = frozenset()

HELPERS = frozenset(
    {
        "cycler",
        "joiner",
        "namespace",
        "lipsum",
        "range",
        "dict",
        "self",
        "loop",
        "caller",
        "raise_exception",
        "strftime_now",
        "config",
        "request",
        "url_for",
        "get_flashed_messages",
        "g",
        "session",
    }
)
# Strings the repository's author sets in tokenizer_config.json: author-chosen, so as keys they are computed.
AUTHOR_STRINGS = frozenset(
    {
        "bos_token",
        "eos_token",
        "pad_token",
        "unk_token",
        "sep_token",
        "cls_token",
        "mask_token",
        "additional_special_tokens",
    }
)
MUTATORS = frozenset({"append", "extend", "insert", "update", "setdefault", "add"})
INT_FILTERS = frozenset(
    {"length", "count", "int", "float", "abs", "round", "wordcount", "filesizeformat", "sum"}
)
SAME_SEQ_FILTERS = frozenset(
    {"list", "sort", "unique", "reverse", "select", "reject", "selectattr", "rejectattr", "batch", "slice"}
)
ELEMENT_FILTERS = frozenset({"first", "last", "random", "min", "max"})
# Filters that keep a known string known when folded here; everything else makes it computed.
FOLDABLE = frozenset(
    {"lower", "upper", "capitalize", "title", "trim", "reverse", "string", "safe", "e", "escape", "replace"}
)
MAX_ATOMS = 24
MAX_TEXT = 200
MAX_DEPTH = 3
MAX_PASSES = 12
_FORMAT_SPEC = re.compile(r"%[-#0 +]*\d{0,2}(\.\d{0,2})?[diouxXeEfFgGcrsa]")


def _bounded(atoms: Iterable[Atom], depth: int = 0) -> Value:
    """Caps the set: too many known strings, or strings too long, become computed; deep nesting, anything."""
    out: set[Atom] = set()
    strings = 0
    for a in atoms:
        if a[0] == "s":
            strings += 1
            out.add(a if len(a[1]) <= MAX_TEXT else COMPUTED)
        elif a[0] in ("seq", "map", "bound", "inst") and depth >= MAX_DEPTH:
            out.add(ANY)
        elif a[0] == "seq":
            out.add(("seq", _bounded(a[1], depth + 1)))
        elif a[0] == "map":
            out.add(("map", _bounded(a[1], depth + 1), _bounded(a[2], depth + 1)))
        else:
            out.add(a)
    if strings > MAX_ATOMS:
        out = {a for a in out if a[0] != "s"} | {COMPUTED}
    return frozenset(out)


def texts(value: Value) -> list[str] | None:
    """The known strings of a value, or ``None`` when it may hold anything else."""
    if value and all(a[0] == "s" for a in value):
        return [a[1] for a in value]
    return None


def single(value: Value) -> str | None:
    found = texts(value)
    return found[0] if found and len(found) == 1 else None


def stringy(value: Value) -> bool:
    """Whether the value may be a string the template's author built or chose."""
    return any(a[0] == "s" or a in (COMPUTED, ANY) for a in value)


def _percent(template: str, values: list[Any]) -> str | None:
    """``template % values`` when every field is small (a ``%999999d`` would cost memory)."""
    if template.count("%") != 2 * template.count("%%") + len(
        _FORMAT_SPEC.findall(template.replace("%%", ""))
    ):
        return None
    try:
        result = template % tuple(values)
    except (TypeError, ValueError, OverflowError):
        return None
    return result if len(result) <= MAX_TEXT else None


class Flow:
    """Values of every name, namespace attribute and macro parameter of one template."""

    def __init__(self, tree: Any, nodes: Any) -> None:
        self.nodes = nodes
        self.names: dict[str, Value] = {}
        self.ns_attrs: dict[str, Value] = {}
        self.mutated: Value = NOTHING
        self.caller_args: Value = NOTHING
        self.macros: dict[str, Any] = {n.name: n for n in tree.find_all(nodes.Macro)}
        self._memo: dict[int, Value] | None = None
        self._solve(tree)

    # -- fixpoint ---------------------------------------------------------------------------------------
    def _solve(self, tree: Any) -> None:
        n = self.nodes
        statements = list(tree.find_all((n.Assign, n.AssignBlock, n.For, n.With, n.CallBlock, n.Macro)))
        calls = list(tree.find_all((n.Call, n.Filter)))
        for _ in range(MAX_PASSES):
            before = (dict(self.names), dict(self.ns_attrs), self.mutated, self.caller_args)
            for stmt in statements:
                self._statement(stmt)
            for call in calls:
                self.value(call)  # side effects: macro parameters, namespace attributes, mutations
            if before == (self.names, self.ns_attrs, self.mutated, self.caller_args):
                break
        else:  # did not settle: whatever is still growing may be anything
            for key in self.names:
                self.names[key] = self.names[key] | {ANY, COMPUTED}
            self.mutated |= {ANY, COMPUTED}
        self._memo = {}

    def _bind(self, target: Any, value: Value) -> None:
        n = self.nodes
        if isinstance(target, n.Name):
            self.names[target.name] = _bounded(self.names.get(target.name, NOTHING) | value)
        elif isinstance(target, n.NSRef):
            self.ns_attrs[target.attr] = _bounded(self.ns_attrs.get(target.attr, NOTHING) | value)
        elif isinstance(target, (n.Tuple, n.List)):
            for item in target.items:
                self._bind(item, self.element(value))

    def _statement(self, stmt: Any) -> None:
        n = self.nodes
        if isinstance(stmt, n.Assign):
            self._bind(stmt.target, self.value(stmt.node))
        elif isinstance(stmt, n.AssignBlock):
            self._bind(stmt.target, self._output(stmt.body, stmt.filter))
        elif isinstance(stmt, n.For):
            self._bind(stmt.target, self.element(self.value(stmt.iter)))
        elif isinstance(stmt, n.With):
            for target, expr in zip(stmt.targets, stmt.values, strict=False):
                self._bind(target, self.value(expr))
        elif isinstance(stmt, n.CallBlock):
            for param in stmt.args:
                self._bind(param, self.caller_args)
        elif isinstance(stmt, n.Macro):
            for param, default in zip(reversed(stmt.args), reversed(stmt.defaults), strict=False):
                self._bind(param, self.value(default))

    def _output(self, body: list[Any], filt: Any) -> Value:
        """The text a block renders: folded when it is only literal text, else computed."""
        n = self.nodes
        parts: list[str] = []
        for stmt in body:
            if not isinstance(stmt, n.Output):
                return frozenset({COMPUTED})
            for node in stmt.nodes:
                known = node.data if isinstance(node, n.TemplateData) else single(self.value(node))
                if known is None:
                    return frozenset({COMPUTED})
                parts.append(known)
        text = "".join(parts)
        return _bounded({("s", text)}) if filt is None else frozenset({COMPUTED})

    # -- evaluation -------------------------------------------------------------------------------------
    def value(self, node: Any) -> Value:
        if self._memo is not None:
            key = id(node)
            if key not in self._memo:
                self._memo[key] = _bounded(self._eval(node))
            return self._memo[key]
        return _bounded(self._eval(node))

    def name(self, name: str) -> Value:
        if name in HELPERS:
            default: Value = frozenset({("helper", name)})
        elif name in self.macros:
            default = frozenset({("macro", name)})
        elif name in AUTHOR_STRINGS:
            default = frozenset({COMPUTED})
        else:
            default = frozenset({DATA})
        return default | self.names.get(name, NOTHING)

    def element(self, value: Value) -> Value:
        """What iterating over, or indexing into, a value gives."""
        out: set[Atom] = set()
        for a in value:
            if a[0] == "seq" or a[0] == "map":
                out |= a[1]
            elif a[0] == "s":
                out |= {("s", c) for c in a[1][:MAX_ATOMS]} if len(a[1]) <= MAX_ATOMS else {COMPUTED}
            elif a in (DATA, INT):
                out.add(a)
            elif a == COMPUTED:
                out.add(COMPUTED)
            elif a[0] == "inst" and a[1] == "cycler":
                out |= a[2]
            elif a[0] == "bound":
                continue  # a method object: iterating or indexing it fails
            else:
                out.add(ANY)
        return frozenset(out) | (self.mutated if any(a[0] in ("seq", "map") for a in value) else NOTHING)

    def _eval(self, node: Any) -> Value:
        n = self.nodes
        if isinstance(node, n.Const):
            return frozenset({("s", node.value) if isinstance(node.value, str) else INT})
        if isinstance(node, n.TemplateData):
            return frozenset({("s", node.data)})
        if isinstance(node, n.Name):
            return self.name(node.name)
        if isinstance(node, (n.List, n.Tuple)):
            return frozenset({("seq", frozenset().union(*(self.value(i) for i in node.items)))})
        if isinstance(node, n.Dict):
            keys = frozenset().union(*(self.value(p.key) for p in node.items))
            values = frozenset().union(*(self.value(p.value) for p in node.items))
            return frozenset({("map", keys, values)})
        if isinstance(node, n.Getattr):
            return self.lookup(self.value(node.node), frozenset({("s", node.attr)}))
        if isinstance(node, n.Getitem):
            if isinstance(node.arg, n.Slice):
                return self._slice(self.value(node.node), node.arg)
            return self.lookup(self.value(node.node), self.value(node.arg))
        if isinstance(node, n.Concat):
            return self._concat([self.value(p) for p in node.nodes])
        if isinstance(node, n.Add):
            return self._concat([self.value(node.left), self.value(node.right)])
        if isinstance(node, n.Mul):
            return self._repeat(node.left, node.right)
        if isinstance(node, n.Mod):
            items = node.right.items if isinstance(node.right, n.Tuple) else [node.right]
            return self._format(self.value(node.left), items)
        if isinstance(node, (n.And, n.Or)):
            return self.value(node.left) | self.value(node.right)
        if isinstance(node, n.CondExpr):
            other = self.value(node.expr2) if node.expr2 is not None else frozenset({INT})
            return self.value(node.expr1) | other
        if isinstance(node, (n.MarkSafe, n.MarkSafeIfAutoescape)):
            return self.value(node.expr)
        if isinstance(node, n.Filter):
            return self._filter(node)
        if isinstance(node, n.Call):
            return self._call(node)
        if isinstance(node, (n.Not, n.Compare, n.Test, n.Sub, n.Div, n.FloorDiv, n.Pow, n.Neg, n.Pos)):
            for child in node.iter_child_nodes():
                self.value(child)
            return frozenset({INT})
        return frozenset({ANY})

    def _concat(self, parts: list[Value]) -> Value:
        seqs = [a for p in parts for a in p if a[0] == "seq"]
        if seqs:
            return frozenset({("seq", frozenset().union(*(a[1] for a in seqs)))})
        known = [single(p) for p in parts]
        if all(k is not None for k in known):
            return frozenset({("s", "".join(k for k in known if k is not None))})
        if all(p <= {DATA, INT} for p in parts):
            return frozenset({DATA}) if any(DATA in p for p in parts) else frozenset({INT})
        return frozenset({COMPUTED})

    def _repeat(self, left: Any, right: Any) -> Value:
        text, count = self._constants([left, right]) or [None, None]
        if isinstance(text, int):
            text, count = count, text
        if isinstance(text, str) and isinstance(count, int) and len(text) * count <= MAX_TEXT:
            return frozenset({("s", text * count)})
        return frozenset({COMPUTED}) if stringy(self.value(left) | self.value(right)) else frozenset({INT})

    def _constants(self, items: list[Any]) -> list[Any] | None:
        """Python values of expressions that are constants or fold to one known string."""
        out: list[Any] = []
        for item in items:
            if isinstance(item, self.nodes.Const) and isinstance(item.value, (int, float, str)):
                out.append(item.value)
            else:
                known = single(self.value(item))
                if known is None:
                    return None
                out.append(known)
        return out

    def _format(self, template: Value, items: list[Any]) -> Value:
        """``template % items`` (the ``%`` operator and the ``format`` filter)."""
        for item in items:
            self.value(item)
        if not stringy(template):
            return frozenset({INT})
        known, values = single(template), self._constants(items)
        if known is None or values is None:
            return frozenset({COMPUTED})
        folded = _percent(known, values)
        return frozenset({("s", folded)}) if folded is not None else frozenset({COMPUTED})

    def _slice(self, value: Value, _slice: Any) -> Value:
        out: set[Atom] = set()
        for a in value:
            if a[0] == "s":
                out.add(COMPUTED)  # slices of known text: author-chosen pieces
            elif a[0] == "seq":
                out.add(("seq", a[1] | self.mutated))
            else:
                out.add(a)
        return frozenset(out)

    def lookup(self, receiver: Value, key: Value) -> Value:
        """``receiver.key`` / ``receiver[key]`` (Jinja tries one, then the other)."""
        attr = single(key)
        out: set[Atom] = set()
        for a in receiver:
            kind = a[0]
            if a in (DATA, INT, COMPUTED, ANY):
                out.add(a)
            elif kind == "bound":
                continue  # attributes of a method object: only private ones, judged by name
            elif kind == "s":
                out.add(("bound", attr, frozenset({a})) if _method(str, attr) else COMPUTED)
            elif kind == "seq":
                if _method(list, attr):
                    out.add(("bound", attr, frozenset({a})))
                elif attr is None or attr.lstrip("-").isdigit():
                    out |= a[1] | self.mutated
                else:
                    out.add(INT)  # undefined: a list has no such attribute or key
            elif kind == "map":
                out |= a[2] | self.mutated
                if _method(dict, attr):
                    out.add(("bound", attr, frozenset({a})))
            elif kind == "inst" and a[1] == "namespace":
                out |= self.ns_attrs.get(attr, frozenset({INT})) if attr else {ANY}
            elif kind == "helper" and a[1] == "loop":
                if attr in ("cycle", "changed"):
                    out.add(("bound", attr, frozenset({a})))
                else:  # previtem/nextitem are items of whichever loop: anything
                    out.add(ANY if attr in ("previtem", "nextitem") else INT)
            else:
                out.add(("bound", attr, frozenset({a})) if attr else ANY)
        return frozenset(out)

    def _args(self, node: Any) -> list[Value]:
        values = [self.value(a) for a in node.args] + [self.value(k.value) for k in node.kwargs]
        for dyn in (node.dyn_args, node.dyn_kwargs):
            if dyn is not None:
                values.append(self.element(self.value(dyn)) | frozenset({ANY}))
        return values

    def _call(self, node: Any) -> Value:
        func = self.value(node.node)
        args = self._args(node)
        everything = frozenset().union(*args) if args else NOTHING
        out: set[Atom] = set()
        for a in func:
            kind = a[0]
            if kind == "macro":
                self._call_macro(a[1], node, args)
                out.add(COMPUTED)
            elif kind == "helper":
                out |= self._call_helper(a[1], node, args, everything)
            elif kind == "inst":
                out |= a[2] | {("s", "")} if a[1] == "joiner" else {ANY}
            elif kind == "bound":
                out |= self._call_method(a[1], a[2], args, everything)
            elif a == DATA:
                out.add(DATA)
            else:
                out.add(ANY)
        return frozenset(out)

    def _call_macro(self, name: str, node: Any, args: list[Value]) -> None:
        macro = self.macros.get(name)
        if macro is None:
            return
        params = [p.name for p in macro.args]
        for param, value in zip(params, args[: len(node.args)], strict=False):
            self.names[param] = _bounded(self.names.get(param, NOTHING) | value)
        extra = args[len(params) :] if len(node.args) > len(params) else []
        if extra:
            self.names["varargs"] = _bounded(
                self.names.get("varargs", NOTHING) | {("seq", frozenset().union(*extra))}
            )
        for kw in node.kwargs:
            target = kw.key if kw.key in params else "kwargs"
            value = self.value(kw.value)
            if target == "kwargs":
                value = frozenset({("map", frozenset({("s", kw.key)}), value)})
            self.names[target] = _bounded(self.names.get(target, NOTHING) | value)
        for dyn in (node.dyn_args, node.dyn_kwargs):
            if dyn is not None:
                spread = self.element(self.value(dyn)) | {ANY}
                for param in params:
                    self.names[param] = _bounded(self.names.get(param, NOTHING) | spread)

    def _call_helper(self, name: str, node: Any, args: list[Value], everything: Value) -> Value:
        if name == "namespace":
            for kw in node.kwargs:
                self.ns_attrs[kw.key] = _bounded(self.ns_attrs.get(kw.key, NOTHING) | self.value(kw.value))
            return frozenset({("inst", "namespace", NOTHING)})
        if name in ("cycler", "joiner"):
            payload = everything if name == "cycler" else everything | {("s", ", ")}
            return frozenset({("inst", name, payload)})
        if name == "range":
            return frozenset({("seq", frozenset({INT}))})
        if name == "dict":
            keys = frozenset(("s", kw.key) for kw in node.kwargs)
            return frozenset({("map", keys, everything)})
        if name == "caller":
            self.caller_args = _bounded(self.caller_args | everything)
            return frozenset({COMPUTED})
        if name == "raise_exception":
            return frozenset({INT})
        if name == "strftime_now" and not stringy(everything):
            return frozenset({DATA})
        return (
            frozenset({COMPUTED, ANY})
            if name not in ("lipsum", "strftime_now", "loop")
            else frozenset({COMPUTED})
        )

    def _call_method(
        self, method: str | None, receiver: Value, args: list[Value], everything: Value
    ) -> Value:
        if method in MUTATORS:
            self.mutated = _bounded(self.mutated | self.element(everything) | everything)
            return frozenset({INT})
        if method is None:
            return frozenset({ANY})
        out: set[Atom] = set()
        for a in receiver:
            if a[0] == "map" and method in ("items", "keys", "values", "get", "pop"):
                parts = {"keys": a[1], "values": a[2], "get": a[2] | everything, "pop": a[2] | everything}
                out |= (
                    {("seq", frozenset({("seq", a[1] | a[2])}))}
                    if method == "items"
                    else ({("seq", parts[method])} if method in ("keys", "values") else parts[method])
                )
            elif a[0] == "seq" and method == "pop":
                out |= a[1] | self.mutated
            elif a[0] == "helper" and a[1] == "loop" and method == "cycle":
                out |= everything
            elif a[0] == "s" or a == COMPUTED:
                out.add(self._fold_method(a, method, args))
            elif a == DATA and not stringy(everything):
                out.add(DATA)
            elif a == DATA:
                out.add(COMPUTED)
            else:
                out.add(ANY)
        return frozenset(out)

    @staticmethod
    def _fold_method(receiver: Atom, method: str, args: list[Value]) -> Atom:
        known = [single(v) for v in args]
        if receiver[0] != "s" or any(k is None for k in known) or method not in _STR_METHODS:
            return COMPUTED
        try:
            result = getattr(str, method)(receiver[1], *known)
        except (TypeError, ValueError):
            return COMPUTED
        return ("s", result) if isinstance(result, str) and len(result) <= MAX_TEXT else COMPUTED

    def _filter(self, node: Any) -> Value:
        source = self.value(node.node) if node.node is not None else frozenset({COMPUTED})
        args = self._args(node)
        everything = frozenset().union(*args) if args else NOTHING
        name = node.name
        if name in INT_FILTERS:
            return frozenset({INT})
        if name in ("default", "d"):
            return source | everything
        if name == "reverse" and texts(source) is not None:
            return self._fold_filter(name, source, args)
        if name in SAME_SEQ_FILTERS:
            return frozenset({("seq", self.element(source))}) if not source <= {DATA} else source
        if name in ELEMENT_FILTERS:
            return self.element(source)
        if name in ("items", "dictsort"):
            return frozenset({("seq", frozenset({("seq", self.element(source) | _values(source))}))})
        if name == "map":
            return source if source <= {DATA} else frozenset({("seq", frozenset({ANY, COMPUTED}))})
        if name == "format":
            return self._format(source, node.args) if not node.kwargs else frozenset({COMPUTED})
        if name == "join":
            return self._join(source, args)
        if name in FOLDABLE:
            return self._fold_filter(name, source, args)
        if name == "tojson" and source <= {DATA}:
            return source
        if source <= {DATA, INT} and not stringy(everything):
            return source
        return frozenset({COMPUTED})

    def _join(self, source: Value, args: list[Value]) -> Value:
        sep = single(args[0]) if args else ""
        if sep is not None and len(source) == 1:
            (only,) = source
            items = texts(only[1]) if only[0] == "seq" else None
            if items is not None and len(items) == 1:
                return frozenset({("s", items[0])})
        if source <= {DATA} and not args:
            return frozenset({DATA})
        return frozenset({COMPUTED})

    @staticmethod
    def _fold_filter(name: str, source: Value, args: list[Value]) -> Value:
        known = texts(source)
        extra = [single(a) for a in args]
        if known is None or any(e is None for e in extra):
            return source if source <= {DATA} and not args else frozenset({COMPUTED})
        out: set[Atom] = set()
        for text in known:
            if name == "replace":
                if len(extra) < 2:
                    return frozenset({COMPUTED})
                result = text.replace(str(extra[0]), str(extra[1]))
            elif name == "reverse":
                result = text[::-1]
            elif name == "trim":
                result = text.strip(*(e for e in extra if e is not None))
            elif name in ("lower", "upper", "capitalize", "title"):
                result = getattr(str, name)(text)
            else:
                result = text
            out.add(("s", result) if len(result) <= MAX_TEXT else COMPUTED)
        return frozenset(out)


_STR_METHODS = frozenset(
    {
        "lower",
        "upper",
        "strip",
        "lstrip",
        "rstrip",
        "replace",
        "capitalize",
        "title",
        "swapcase",
        "removeprefix",
        "removesuffix",
        "casefold",
    }
)


def _method(kind: type, attr: str | None) -> bool:
    return attr is not None and not attr.startswith("_") and callable(getattr(kind, attr, None))


def _values(value: Value) -> Value:
    return frozenset().union(*(a[2] for a in value if a[0] == "map")) if value else NOTHING
