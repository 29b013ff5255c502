"""What the names of a Python module refer to, worked out from its syntax tree without importing it.

A payload hides ``subprocess.Popen`` from a search for the name by reaching it another way: an aliased
import, a module assigned to a variable, ``importlib.import_module('subprocess')`` with ``getattr(m,
'Popen')``, ``module.__dict__['Popen']``, ``vars(m)``, ``sys.modules``, ``__import__``, ``builtins.__dict__``,
``globals()['__builtins__']``, a default argument. :class:`Names` follows all of these to the fully qualified
names an expression may hold (``subprocess.Popen``, ``builtins.exec``), flow-insensitively: every
assignment to a name anywhere in the file is a possible value wherever the name is read.
"""

from __future__ import annotations

import ast
import builtins

BUILTIN_NAMES = frozenset(dir(builtins))
NAMESPACE = ".__dict__"
"""Suffix of a value that is a module's namespace (``m.__dict__``, ``vars(m)``, ``globals()``)."""
THIS_MODULE = "<module>"
MAX_NAMES = 16
_GETATTR = frozenset(
    {
        "builtins.getattr",
        "builtins.object.__getattribute__",
        "builtins.type.__getattribute__",
        "inspect.getattr_static",
    }
)
MAX_PASSES = 8


def const_str(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _call_arg(node: ast.Call, index: int, keyword: str) -> ast.expr | None:
    if len(node.args) > index and not any(isinstance(a, ast.Starred) for a in node.args[: index + 1]):
        return node.args[index]
    return next((k.value for k in node.keywords if k.arg == keyword), None)


def bound_names(node: ast.AST) -> set[str]:
    """Names a function binds in its own scope: parameters and local definitions (not nested scopes)."""
    out: set[str] = set()
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        a = node.args
        out |= {x.arg for x in [*a.posonlyargs, *a.args, *a.kwonlyargs]}
        out |= {x.arg for x in (a.vararg, a.kwarg) if x is not None}
    body = getattr(node, "body", None)
    body = body if isinstance(body, list) else []
    stack: list[ast.AST] = list(body)
    while stack:
        sub = stack.pop()
        if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(sub.name)
            continue
        if isinstance(sub, (ast.Import, ast.ImportFrom)):
            out |= {a.asname or a.name.split(".")[0] for a in sub.names}
        elif isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
            out.add(sub.id)
        elif isinstance(sub, ast.ExceptHandler) and sub.name:
            out.add(sub.name)
        if not isinstance(sub, ast.Lambda):
            stack.extend(ast.iter_child_nodes(sub))
    return out


class Names:
    """Qualified names of the expressions of one module."""

    def __init__(self, tree: ast.Module, nodes: list[ast.AST]) -> None:
        self.aliases: dict[str, frozenset[str]] = {}
        self.star: set[str] = set()
        """Modules imported with ``from m import *``."""
        self.module_bound = {
            n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        }
        self.shadowed: list[set[str]] = []
        """Names bound by the function scopes being walked (pushed and popped by the analyser)."""
        self._solve(nodes)

    # -- building the alias table -----------------------------------------------------------------------
    def _add(self, name: str, values: frozenset[str]) -> bool:
        old = self.aliases.get(name, frozenset())
        new = frozenset(sorted(old | values)[:MAX_NAMES])
        self.aliases[name] = new
        return new != old

    def _solve(self, nodes: list[ast.AST]) -> None:
        for node in nodes:
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.asname:
                        self._add(a.asname, frozenset({a.name}))
                    else:
                        top = a.name.split(".")[0]
                        self._add(top, frozenset({top}))
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for a in node.names:
                    if a.name == "*":
                        self.star.add(node.module)
                    else:
                        self._add(a.asname or a.name, frozenset({f"{node.module}.{a.name}"}))
        bindings = [pair for node in nodes for pair in _bindings(node)]
        for _ in range(MAX_PASSES):
            changed = False
            for target, value in bindings:
                resolved = self.resolve(value)
                if resolved:
                    changed |= self._add(target, resolved)
            if not changed:
                break

    # -- resolution -------------------------------------------------------------------------------------
    def name(self, name: str) -> frozenset[str]:
        if (
            name not in self.aliases
            and name not in BUILTIN_NAMES
            and not self.star
            and name != "__builtins__"
        ):
            return frozenset()  # most names: locals, parameters, self
        found = set(self.aliases.get(name, frozenset()))
        if name == "__builtins__":
            found.add("builtins")
        if any(name in scope for scope in self.shadowed) or name in self.module_bound:
            return frozenset(found)
        if name in BUILTIN_NAMES and name not in self.aliases:
            found.add(f"builtins.{name}")
        if not found and self.star:
            found |= {f"{m}.{name}" for m in sorted(self.star)}
        return frozenset(found)

    def resolve(self, node: ast.expr) -> frozenset[str]:
        """The qualified names ``node`` may evaluate to (empty when it is not a module-level name)."""
        if isinstance(node, ast.Name):
            return self.name(node.id)
        if isinstance(node, ast.Attribute):
            return frozenset(f"{q}.{node.attr}" for q in self.resolve(node.value))
        if isinstance(node, ast.Subscript):
            return self.item(self.resolve(node.value), const_str(node.slice))
        if isinstance(node, ast.Call):
            return self._call(node)
        if isinstance(node, ast.NamedExpr):
            return self.resolve(node.value)
        if isinstance(node, ast.IfExp):
            return self.resolve(node.body) | self.resolve(node.orelse)
        if isinstance(node, ast.BoolOp):
            return frozenset().union(*(self.resolve(v) for v in node.values))
        return frozenset()

    def item(self, bases: frozenset[str], key: str | None) -> frozenset[str]:
        """``base[key]`` where base is a module namespace or ``sys.modules``."""
        if key is None:
            return frozenset()
        out: set[str] = set()
        for base in bases:
            if base == "sys.modules":
                out.add(key)
            elif base == THIS_MODULE + NAMESPACE:
                out |= self.name(key)
            elif base.endswith(NAMESPACE):
                out.add(f"{base[: -len(NAMESPACE)]}.{key}")
        return frozenset(out)

    def _call(self, node: ast.Call) -> frozenset[str]:
        out: set[str] = set()
        if isinstance(node.func, ast.Call) and node.args:  # operator.attrgetter("system")(os)
            inner = node.func
            if "operator.attrgetter" in self.resolve(inner.func) and inner.args:
                attr = const_str(inner.args[0])
                if attr:
                    out |= {f"{q}.{attr}" for q in self.resolve(node.args[0])}
        first = _call_arg(node, 0, "name")
        for func in self.resolve(node.func):
            if func in ("builtins.__import__", "importlib.__import__"):
                module = const_str(first)
                fromlist = _call_arg(node, 3, "fromlist")
                if module:
                    out.add(module if fromlist is not None else module.split(".")[0])
            elif func == "importlib.import_module":
                module = const_str(first)
                if module and not module.startswith("."):
                    out.add(module)
            elif func in _GETATTR and len(node.args) >= 2:
                attr = const_str(node.args[1])
                if attr:
                    out |= {f"{q}.{attr}" for q in self.resolve(node.args[0])}
            elif func.endswith(".__getattribute__") and node.args:  # m.__getattribute__("system")
                attr = const_str(node.args[0])
                if attr:
                    out.add(f"{func[: -len('.__getattribute__')]}.{attr}")
            elif func == "builtins.vars":
                out |= (
                    {q + NAMESPACE for q in self.resolve(node.args[0])}
                    if node.args
                    else {THIS_MODULE + NAMESPACE}
                )
            elif func in ("builtins.globals", "builtins.locals"):
                out.add(THIS_MODULE + NAMESPACE)
            elif func.endswith(".get") and node.args:
                out |= self.item(frozenset({func[: -len(".get")]}), const_str(node.args[0]))
            elif func == "functools.partial" and node.args:
                out |= self.resolve(node.args[0])
        return frozenset(out)


def _bindings(node: ast.AST) -> list[tuple[str, ast.expr]]:
    """(name, value) pairs a statement binds: assignments, walrus, ``with ... as`` and default arguments."""
    out: list[tuple[str, ast.expr]] = []
    if isinstance(node, ast.Assign):
        for target in node.targets:
            out += _pairs(target, node.value)
    elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
        out += _pairs(node.target, node.value)
    elif isinstance(node, (ast.With, ast.AsyncWith)):
        for item in node.items:
            if item.optional_vars is not None:
                out += _pairs(item.optional_vars, item.context_expr)
    elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        a = node.args
        positional = [*a.posonlyargs, *a.args]
        out += [
            (p.arg, d)
            for p, d in zip(positional[len(positional) - len(a.defaults) :], a.defaults, strict=True)
        ]
        out += [(p.arg, d) for p, d in zip(a.kwonlyargs, a.kw_defaults, strict=True) if d is not None]
    return out


def _pairs(target: ast.expr, value: ast.expr) -> list[tuple[str, ast.expr]]:
    if isinstance(target, ast.Name):
        return [(target.id, value)]
    if (
        isinstance(target, (ast.Tuple, ast.List))
        and isinstance(value, (ast.Tuple, ast.List))
        and len(target.elts) == len(value.elts)
    ):
        return [p for t, v in zip(target.elts, value.elts, strict=True) for p in _pairs(t, v)]
    return []
