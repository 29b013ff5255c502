"""Regenerate ``src/modelseal/scanners/pickle/allowlist.json`` from the installed ML libraries.

The allowlist is data a reviewer reads, so it is generated from the libraries that write model files and
written sorted, with each library's version. Every library section has two lists:

``allow``
    callables safe to call with any arguments (inert data types, enums, reconstruction helpers, classes whose
    constructor only stores what it is given);
``rebuild``
    classes safe only when a pickle rebuilds them the default way, ``__new__`` plus state assignment (NEWOBJ,
    copyreg reconstructors, BUILD): their constructor does work (builds a model, reads a file it is named,
    starts a process group) that calling them would trigger, but their rebuild hooks do not.

Rules, enforced here by introspection (``check``), not by hand:

1. Nothing the gadget table (``gadgets.toml``) names: those need an explicit waiver.
2. The hooks a load reaches are read as source and must not call import machinery, ``eval``/``exec``/
   ``compile``, ``getattr`` of a computed name, file, process or network APIs, loaders of further serialised
   data (pickle, torch, joblib, marshal...), hub downloads (``from_pretrained``), nor one of their own
   arguments. For ``allow``: ``__init__`` (or a dataclass's ``__post_init__``), ``__new__``, ``__setstate__``,
   ``__reduce__``/``__reduce_ex__``, attribute hooks and, for an enum, ``_missing_``; a plain function's own
   body. For ``rebuild``: ``__new__``, ``__setstate__``, ``__reduce__``/``__reduce_ex__``, ``__setattr__``,
   ``__getattr__``/``__getattribute__`` (BUILD looks ``__setstate__`` up) and item setters. Calls to the
   class's own methods and to functions of the same library are followed two levels deep.
3. A hook without Python source (C, Cython) is accepted only where its defining module is in
   ``NATIVE_REVIEWED`` (reviewed by hand); otherwise the entry is refused.

Refused entries are printed with their reason. Run in the dev environment: ``python tools/gen_allowlist.py``.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import datetime
import enum
import importlib
import importlib.metadata
import inspect
import json
import pkgutil
import sys
import textwrap
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[1] / "src/modelseal/scanners/pickle/allowlist.json"

STDLIB = [
    "builtins:set",
    "builtins:frozenset",
    "builtins:slice",
    "builtins:complex",
    "builtins:bytearray",
    "builtins:range",
    "builtins:dict",
    "builtins:list",
    "builtins:tuple",
    "builtins:int",
    "builtins:float",
    "builtins:bool",
    "builtins:str",
    "builtins:bytes",
    "builtins:object",
    "builtins:Ellipsis",
    "builtins:NotImplemented",
    "collections:OrderedDict",
    "collections:defaultdict",
    "collections:Counter",
    "collections:deque",
    "copyreg:_reconstructor",
    "copyreg:__newobj__",
    "copyreg:__newobj_ex__",
    "_codecs:encode",
    "codecs:encode",
    "datetime:datetime",
    "datetime:date",
    "datetime:time",
    "datetime:timedelta",
    "datetime:timezone",
    "decimal:Decimal",
    "fractions:Fraction",
    "uuid:UUID",
    "uuid:SafeUUID",
    # Hyper-parameter containers and paths in training checkpoints: constructing a path touches no file.
    "argparse:Namespace",
    "types:SimpleNamespace",
    "pathlib:Path",
    "pathlib:PosixPath",
    "pathlib:WindowsPath",
    "pathlib:PurePath",
    "pathlib:PurePosixPath",
    "pathlib:PureWindowsPath",
    "ipaddress:IPv4Address",
    "ipaddress:IPv6Address",
]

SKIP_PARTS = {
    "tests",
    "test",
    "_testing",
    "testing",
    "externals",
    "datasets",
    "_build_utils",
    "__check_build",
    "conftest",
    "_distributor_init",
    "experimental",
    "cli",
    "commands",
    "utils._show_versions",
    "benchmarks",
    "plotting",
    "dask",
    "spark",
    "pyspark",
}

# Modules whose native (C, Cython, pybind) hooks were read by hand: array and tensor types whose state is
# raw data, never a name to import or a path to open.
NATIVE_REVIEWED = (
    "builtins",
    "numpy",
    "torch",
    "pandas._libs",
    "scipy.sparse",
    "sklearn",
    "datetime",
    "_datetime",
    "decimal",
    "_decimal",
    "collections",
    "_collections",
)
# Cython classes re-exported under a package name (``pandas.Timestamp``), read by hand: their pickles carry
# numbers and strings (an epoch value, a unit, a frequency code).
NATIVE_REVIEWED_CLASSES = frozenset({
    "pandas.Timestamp", "pandas.Timedelta", "pandas.Period", "pandas.Interval", "pandas.DateOffset",
})  # fmt: skip

# -- what a hook may not call ------------------------------------------------------------------------------
DANGEROUS_NAMES = {
    "builtins.eval": "evaluates code",
    "builtins.exec": "executes code",
    "builtins.compile": "compiles code",
    "builtins.__import__": "imports a module",
    "builtins.open": "opens a file",
    "io.open": "opens a file",
    "_io.open": "opens a file",
    "io.open_code": "opens a file",
    "builtins.breakpoint": "starts a debugger",
    "builtins.input": "reads the terminal",
    "torch.serialization.load": "loads further serialised data",
    "torch.load": "loads further serialised data",
    "torch.jit.load": "loads further serialised data",
    "numpy.load": "loads further serialised data",
    "numpy.fromfile": "reads a file",
    "numpy.memmap": "maps a file",
    "joblib.load": "loads further serialised data",
    "pandas.read_pickle": "loads further serialised data",
}
DANGEROUS_MODULES = {
    "os": "reaches the operating system (files, processes, environment)",
    "posix": "reaches the operating system",
    "subprocess": "runs a process",
    "socket": "opens a network connection",
    "shutil": "changes files",
    "tempfile": "creates files",
    "importlib": "imports a module",
    "pickle": "loads further serialised data",
    "_pickle": "loads further serialised data",
    "marshal": "loads code",
    "cloudpickle": "loads code",
    "dill": "loads code",
    "runpy": "runs a module",
    "ctypes.CDLL": "loads a native library",
    "ctypes.PyDLL": "loads a native library",
    "ctypes.cdll": "loads a native library",
    "ctypes.pydll": "loads a native library",
    "ctypes.pythonapi": "calls the interpreter's C API",
    "ctypes.util": "looks up native libraries",
    "ctypes.memmove": "writes raw memory",
    "ctypes.string_at": "reads raw memory",
    "urllib": "downloads",
    "http": "opens a network connection",
    "requests": "downloads",
    "huggingface_hub.file_download": "downloads",
    "huggingface_hub.hf_api": "downloads",
    "huggingface_hub._snapshot_download": "downloads",
    "huggingface_hub.hf_hub_download": "downloads",
    "huggingface_hub.snapshot_download": "downloads",
    "multiprocessing": "starts processes",
    "threading": "starts threads",
    "torch.distributed": "starts a process group",
}
DANGEROUS_METHODS = {
    "from_pretrained": "downloads or reads a model",
    "load_state_dict_from_url": "downloads",
    "read_text": "reads a file",
    "read_bytes": "reads a file",
    "write_text": "writes a file",
    "write_bytes": "writes a file",
    "unlink": "deletes a file",
    "mkdir": "creates a folder",
    "makedirs": "creates a folder",
    "rmtree": "deletes a folder",
    "system": "runs a process",
    "popen": "runs a process",
    "import_module": "imports a module",
    "load_model": "reads a file",
    "from_file": "reads a file",
}
_ALLOW_HOOKS = ("__init__", "__new__", "__setstate__", "__reduce__", "__reduce_ex__", "__getattr__",
                "__getattribute__", "__setattr__", "__set_name__")  # fmt: skip
_REBUILD_HOOKS = ("__new__", "__setstate__", "__reduce__", "__reduce_ex__", "__getattr__", "__getattribute__",
                  "__setattr__", "__setitem__", "append", "extend", "add")  # fmt: skip


def _trusted_module(module: str) -> bool:
    """Standard-library hooks (Enum.__new__, object.__reduce_ex__...) are the interpreter's own."""
    root = module.split(".", 1)[0]
    return root in sys.stdlib_module_names or root == "builtins"


def _resolve(node: ast.expr, scope: dict[str, Any]) -> str:
    """Dotted name a call's target refers to, through the function's globals (``np.load`` -> numpy.load)."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return ".".join(reversed(parts))
    head = node.id
    obj = scope.get(head, getattr(builtins, head, None))
    if obj is None and head not in scope:
        base = "<local>"  # a local variable: only its method names can tell (``path.read_text()``)
    elif inspect.ismodule(obj):
        base = obj.__name__
    elif obj is not None and hasattr(obj, "__module__") and hasattr(obj, "__qualname__"):
        base = f"{obj.__module__ or 'builtins'}.{obj.__qualname__}"
    else:
        base = head
    return ".".join([base, *reversed(parts)])


def _danger(dotted: str) -> str:
    if dotted in DANGEROUS_NAMES:
        return DANGEROUS_NAMES[dotted]
    for prefix, why in DANGEROUS_MODULES.items():
        if dotted == prefix or dotted.startswith(prefix + "."):
            # os.path string helpers and the environment read are inert; the rest of os is not.
            if dotted.startswith(("os.path.join", "os.path.basename", "os.path.dirname", "os.fspath",
                                  "os.path.splitext", "os.path.normpath", "os.environ.get", "os.getenv",
                                  "os.fsdecode", "os.fsencode", "os.path.sep")):  # fmt: skip
                return ""
            return why
    return DANGEROUS_METHODS.get(dotted.rpartition(".")[2], "")


# Importing a module whose name is a constant in the source is how libraries import lazily: not dynamic.
FIXED_NAME_OK = frozenset({"importlib.import_module", "builtins.__import__"})


def _computed_getattr(call: ast.Call, where: str) -> bool:
    """``getattr(obj, name)`` where the name is not a constant, on something other than the object itself
    (forwarding in ``__getattr__`` looks up the name being asked for, not a stored one)."""
    if len(call.args) < 2 or isinstance(call.args[1], ast.Constant):
        return False
    if isinstance(call.args[0], ast.Name) and call.args[0].id in ("self", "cls"):
        return False
    return not where.endswith(("__getattr__", "__getattribute__"))


def _is_exception(dotted: str, scope: dict[str, Any], target: ast.expr) -> bool:
    """Raising a library's exception class is not calling the library."""
    obj: Any = scope.get(target.id) if isinstance(target, ast.Name) else None
    if obj is None:
        try:
            module, _, attr = dotted.rpartition(".")
            obj = getattr(sys.modules.get(module), attr, None)
        except Exception:
            return False
    return inspect.isclass(obj) and issubclass(obj, BaseException)


def _source_tree(fn: Any) -> ast.AST | None:
    try:
        return ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError, IndentationError):
        return None


def _parameters(tree: ast.AST) -> set[str]:
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            a = node.args
            names = {p.arg for p in [*a.posonlyargs, *a.args, *a.kwonlyargs]}
            return (names | {p.arg for p in (a.vararg, a.kwarg) if p is not None}) - {"self", "cls"}
    return set()


def _call_problem(call: ast.Call, where: str, scope: dict[str, Any], params: set[str]) -> str:
    target = call.func
    if isinstance(target, ast.Name) and target.id in params:
        return f"{where} calls its argument {target.id!r}"
    if isinstance(target, ast.Name) and target.id in ("getattr", "setattr", "delattr"):
        computed = target.id == "getattr" and _computed_getattr(call, where)
        return f"{where} calls getattr with a computed name" if computed else ""
    dotted = _resolve(target, scope)
    fixed = bool(call.args) and isinstance(call.args[0], ast.Constant)
    why = "" if dotted in FIXED_NAME_OK and fixed else _danger(dotted)
    return f"{where} calls {dotted} ({why})" if why and not _is_exception(dotted, scope, target) else ""


def _reduce_problems(tree: ast.AST, where: str, scope: dict[str, Any]) -> list[str]:
    """A ``__reduce__`` that hands back a dangerous callable (``return eval, (src,)``) makes every load of
    the object call it."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Name, ast.Attribute)) and isinstance(node.ctx, ast.Load):
            dotted = _resolve(node, scope)
            if dotted in DANGEROUS_NAMES or any(dotted.startswith(m + ".") for m in DANGEROUS_MODULES):
                out.append(f"{where} hands back {dotted}")
    return out


def _callee(call: ast.Call, owner: type | None, scope: dict[str, Any], library: str) -> Any:
    """The function a call reaches when it is the owner's own method or a function of the same library."""
    target, found = call.func, None
    if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and owner is not None:
        if target.value.id in ("self", "cls"):
            found = inspect.getattr_static(owner, target.attr, None)
    elif isinstance(target, ast.Name):
        found = scope.get(target.id)
    if inspect.isfunction(found) or isinstance(found, (staticmethod, classmethod)):
        real = getattr(found, "__func__", found)
        if (getattr(real, "__module__", "") or "").split(".")[0] == library:
            return real
    return None


def _function_problems(fn: Any, owner: type | None, library: str, depth: int, seen: set[int]) -> list[str]:
    """Dangerous calls in ``fn``'s source, following the owner's methods and the library's functions two
    levels deep (a parameter called is a problem only in the hook itself)."""
    fn = inspect.unwrap(getattr(fn, "__func__", fn))
    if id(fn) in seen or depth > 2:
        return []
    seen.add(id(fn))
    tree = _source_tree(fn)
    if tree is None:
        return []
    scope = getattr(fn, "__globals__", {})
    params = _parameters(tree) if depth == 0 else set()
    where = getattr(fn, "__qualname__", "?")
    out = _reduce_problems(tree, where, scope) if where.endswith(("__reduce__", "__reduce_ex__")) else []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        problem = _call_problem(node, where, scope, params)
        if problem:
            out.append(problem)
            continue
        callee = _callee(node, owner, scope, library)
        if callee is not None:
            out.extend(_function_problems(callee, owner, library, depth + 1, seen))
    return out


def _hook(cls: type, name: str) -> tuple[type, Any] | None:
    for klass in cls.__mro__:
        if name in vars(klass):
            return klass, vars(klass)[name]
    return None


def check(obj: Any, rebuild: bool) -> list[str]:
    """Why ``obj`` may not be listed (empty when it may)."""
    library = (getattr(obj, "__module__", "") or "").split(".")[0]
    if not inspect.isclass(obj):
        if not callable(obj):
            return []  # constants (dtypes, layouts, qschemes) are looked up, never called with arguments
        if inspect.isbuiltin(obj) or not hasattr(obj, "__code__"):
            module = getattr(obj, "__module__", "") or ""
            reviewed = _trusted_module(module) or module.startswith(NATIVE_REVIEWED)
            return [] if reviewed else [f"native callable from {module}: no source to check"]
        return _function_problems(obj, None, library, 0, set())
    hooks = list(_REBUILD_HOOKS if rebuild else _ALLOW_HOOKS)
    if issubclass(obj, enum.Enum):
        hooks.append("_missing_")
    out: list[str] = []
    seen: set[int] = set()
    for name in hooks:
        found = _hook(obj, name)
        if found is None:
            continue
        owner, fn = found
        if _trusted_module(owner.__module__):
            continue
        if name == "__init__" and dataclasses.is_dataclass(owner) and _source_tree(fn) is None:
            found = _hook(obj, "__post_init__")  # the generated __init__ only assigns fields
            if found is None:
                continue
            owner, fn = found
        if isinstance(fn, (staticmethod, classmethod)):
            fn = fn.__func__
        if not (inspect.isfunction(fn) or inspect.ismethod(fn)):
            native = f"{owner.__module__}.{owner.__qualname__}"
            if not owner.__module__.startswith(NATIVE_REVIEWED) and native not in NATIVE_REVIEWED_CLASSES:
                out.append(f"{owner.__module__}.{owner.__qualname__}.{name} is native: no source to check")
            continue
        out.extend(_function_problems(fn, obj, library, 0, seen))
    return out


# -- candidates --------------------------------------------------------------------------------------------
def _import(module: str) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return importlib.import_module(module)


def _lookup(entry: str) -> Any:
    module, qualname = entry.split(":", 1)
    obj: Any = _import(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _modules(package: str, skip: set[str] = SKIP_PARTS) -> Iterator[Any]:
    pkg = _import(package)
    yield pkg
    for info in pkgutil.walk_packages(getattr(pkg, "__path__", []), package + "."):
        if any(part in skip for part in info.name.split(".")):
            continue
        try:
            yield _import(info.name)
        except Exception:  # optional back-ends of the library that are not installed
            continue


def classes_in(package: str, where: Callable[[type], bool] = lambda _: True) -> set[str]:
    """Every class defined in the modules of ``package`` (skipping tests, CLIs and download helpers)."""
    found: set[str] = set()
    for mod in _modules(package):
        for attr, obj in vars(mod).items():
            if (
                inspect.isclass(obj)
                and obj.__module__ == mod.__name__
                and not attr.startswith("__")
                and "<locals>" not in obj.__qualname__
                and where(obj)
            ):
                found.add(f"{obj.__module__}:{obj.__qualname__}")
    return found


def subclasses(base: type, prefix: str) -> set[str]:
    """Every subclass of ``base`` (however deep) defined under the ``prefix`` package."""
    out, pending = set(), [base]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__.split(".")[0] == prefix and "<locals>" not in cls.__qualname__:
            out.add(f"{cls.__module__}:{cls.__qualname__}")
    return out


def public_aliases(package: str, entries: set[str]) -> set[str]:
    """The package-level names a class is pickled under when its ``__module__`` is the package itself."""
    pkg = _import(package)
    out = set()
    for name in dir(pkg):
        try:
            obj = getattr(pkg, name)
        except Exception:
            continue
        if inspect.isclass(obj) and obj.__module__ == package:
            out.add(f"{package}:{obj.__qualname__}")
    return out | entries


def _is_enum(cls: type) -> bool:
    return issubclass(cls, enum.Enum)


def cython_unpicklers(entries: Iterable[str]) -> set[str]:
    """Cython classes pickle through a generated ``__pyx_unpickle_<Class>`` function beside them."""
    out = set()
    for entry in entries:
        module, qualname = entry.split(":", 1)
        try:
            mod = _import(module)
        except Exception:
            continue
        name = f"__pyx_unpickle_{qualname}"
        if callable(getattr(mod, name, None)):
            out.add(f"{module}:{name}")
    return out


Entries = tuple[set[str], set[str]]  # (allow, rebuild)


def numpy_entries() -> Entries:
    import numpy as np
    import numpy.dtypes

    out = set()
    for core in ("numpy.core", "numpy._core"):
        out |= {f"{core}.multiarray:_reconstruct", f"{core}.multiarray:scalar", f"{core}.numeric:_frombuffer"}
    out |= {
        "numpy:ndarray",
        "numpy:dtype",
        "numpy:matrix",
        "numpy.ma.core:_mareconstruct",
        "numpy.ma.core:MaskedArray",
        # The pickle ctors call their first arguments: the symbolic machine judges each call on them.
        "numpy.random._pickle:__randomstate_ctor",
        "numpy.random._pickle:__generator_ctor",
        "numpy.random._pickle:__bit_generator_ctor",
        "numpy.random.mtrand:RandomState",
        "numpy.random._generator:Generator",
        "numpy.random._mt19937:MT19937",
        "numpy.random._pcg64:PCG64",
        "numpy.random._pcg64:PCG64DXSM",
        "numpy.random._philox:Philox",
        "numpy.random._sfc64:SFC64",
        "numpy.random.bit_generator:SeedSequence",
    }
    for name in dir(np):
        obj = getattr(np, name)
        if isinstance(obj, np.ufunc) or (inspect.isclass(obj) and issubclass(obj, np.generic)):
            out.add(f"numpy:{name}")
    out |= {f"numpy.dtypes:{n}" for n in dir(numpy.dtypes) if n.endswith("DType")}
    return out, set()


def torch_entries() -> Entries:
    import torch
    import torch.jit._pickle
    import torch.nn
    import torch.nn.functional as functional
    import torch.optim
    import torch.optim.lr_scheduler

    out = {f"torch._utils:{n}" for n in dir(torch._utils) if n.startswith("_rebuild_")}
    out |= {f"torch:{n}" for n in dir(torch) if n.endswith("Storage") and inspect.isclass(getattr(torch, n))}
    constants = (torch.dtype, torch.layout, torch.memory_format, torch.qscheme)
    out |= {f"torch:{n}" for n in dir(torch) if isinstance(getattr(torch, n, None), constants)}
    out |= {
        "torch:Size",
        "torch:device",
        "torch:Tensor",
        "torch.nn.parameter:Parameter",
        "torch.nn.parameter:Buffer",
        "torch.storage:UntypedStorage",
        "torch.storage:TypedStorage",
        "torch:UntypedStorage",
        "torch.utils.hooks:RemovableHandle",
        "torch.nn.modules.module:_IncompatibleKeys",
        # Sparse tensors name their layout through this lookup (it returns a torch.layout constant).
        "torch.serialization:_get_layout",
    }
    out |= subclasses(torch.nn.Module, "torch")  # every module class torch itself defines
    # Activation and loss functions stored as module attributes (TransformerEncoderLayer keeps F.relu).
    out |= {
        f"torch.nn.functional:{n}"
        for n, f in vars(functional).items()
        if inspect.isfunction(f) and not n.startswith("_") and f.__module__ == "torch.nn.functional"
    }
    # Helpers TorchScript's own unpickler resolves in the pickles of torch.jit.save archives.
    out |= {
        f"torch.jit._pickle:{n}"
        for n, f in vars(torch.jit._pickle).items()
        if inspect.isfunction(f) and n.startswith(("build_", "restore_"))
    }
    for space in (torch.optim, torch.optim.lr_scheduler):
        for obj in vars(space).values():
            if inspect.isclass(obj) and obj.__module__.startswith("torch.optim"):
                out.add(f"{obj.__module__}:{obj.__qualname__}")
    # Distributed-checkpoint metadata (.metadata of torch.distributed.checkpoint): plain dataclasses.
    rebuild = classes_in("torch.distributed.checkpoint.metadata")
    return out, rebuild


def sklearn_entries() -> Entries:
    out = classes_in("sklearn")
    out |= {c for c in classes_in("scipy.sparse") if "linalg" not in c and "csgraph" not in c}
    return out, set()


def joblib_entries() -> Entries:
    return {"joblib.numpy_pickle:NumpyArrayWrapper"}, set()


def _enums_and_rest(package: str, rebuild_where: Callable[[type], bool]) -> Entries:
    """Enums of ``package`` are called with their value (allow); the chosen classes are rebuilt."""
    enums = classes_in(package, _is_enum)
    rebuild = classes_in(package, lambda c: not _is_enum(c) and rebuild_where(c))
    return enums, rebuild


def transformers_entries() -> Entries:
    import transformers
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    allow: set[str] = set()
    for name in ("trainer_utils", "training_args", "utils.generic", "generation.configuration_utils",
                 "trainer_pt_utils", "debug_utils", "modeling_utils", "integrations.deepspeed"):  # fmt: skip
        try:
            mod = _import(f"transformers.{name}")
        except Exception:
            continue
        for obj in vars(mod).values():
            if inspect.isclass(obj) and obj.__module__ == mod.__name__ and _is_enum(obj):
                allow.add(f"{obj.__module__}:{obj.__qualname__}")
    rebuild = {
        "transformers.training_args:TrainingArguments",
        "transformers.training_args_seq2seq:Seq2SeqTrainingArguments",
        "transformers.trainer_pt_utils:AcceleratorConfig",
        "transformers.generation.configuration_utils:GenerationConfig",
        "transformers.configuration_utils:PretrainedConfig",
        "transformers.tokenization_utils_base:BatchEncoding",
        "transformers.trainer_callback:TrainerState",
        "transformers.trainer_callback:TrainerControl",
    }
    for config in CONFIG_MAPPING_NAMES.values():
        try:
            cls = getattr(transformers, config)
        except Exception:
            continue
        rebuild.add(f"{cls.__module__}:{cls.__qualname__}")
    return allow, rebuild


def accelerate_entries() -> Entries:
    allow, rebuild = _enums_and_rest("accelerate.utils.dataclasses", dataclasses.is_dataclass)
    rebuild |= {"accelerate.state:PartialState", "accelerate.state:AcceleratorState"}
    return allow, rebuild


def peft_entries() -> Entries:
    import peft

    allow = classes_in("peft.utils.peft_types", _is_enum)
    rebuild = subclasses(peft.PeftConfig, "peft")
    return allow, rebuild


def diffusers_entries() -> Entries:
    import torch

    allow = classes_in("diffusers.schedulers", _is_enum)
    rebuild = classes_in("diffusers.schedulers", lambda c: not _is_enum(c))
    rebuild |= {"diffusers.configuration_utils:FrozenDict"}
    rebuild |= subclasses(torch.nn.Module, "diffusers")
    return allow, rebuild


def sentence_transformers_entries() -> Entries:
    import torch

    allow = classes_in("sentence_transformers.similarity_functions", _is_enum)
    return allow, subclasses(torch.nn.Module, "sentence_transformers")


def lightning_entries(package: str) -> Entries:
    allow = {
        f"{package}.fabric.utilities.data:AttributeDict"
        if package == "lightning"
        else "lightning_fabric.utilities.data:AttributeDict",
        f"{package}.pytorch.utilities.parsing:AttributeDict" if package == "lightning" else
        "pytorch_lightning.utilities.parsing:AttributeDict",
    }  # fmt: skip
    allow = {e for e in allow if _safe_lookup(e) is not None}
    base = f"{package}.pytorch" if package == "lightning" else package
    allow |= classes_in(f"{base}.trainer", _is_enum) | classes_in(f"{base}.callbacks", _is_enum)
    return allow, set()


def timm_entries() -> Entries:
    import torch

    allow = classes_in("timm.layers", _is_enum)
    return allow, subclasses(torch.nn.Module, "timm")


def pandas_entries() -> Entries:
    allow: set[str] = set()
    for package in ("pandas.core.frame", "pandas.core.series", "pandas.core.indexes", "pandas.core.arrays",
                    "pandas.core.dtypes.dtypes", "pandas.core.internals", "pandas._libs.tslibs"):  # fmt: skip
        allow |= classes_in(package)
    allow = public_aliases("pandas", allow)
    allow |= public_aliases("pandas.arrays", set())
    allow |= {
        "pandas._libs.internals:_unpickle_block",
        "pandas.core.internals.blocks:new_block",
        "pandas.core.indexes.base:_new_Index",
        "pandas.core.indexes.period:_new_PeriodIndex",
        "pandas.core.indexes.multi:_new_multiindex",
        "pandas._libs.tslibs.timestamps:_unpickle_timestamp",
        "pandas._libs.tslibs.timedeltas:_timedelta_unpickle",
        "pandas._libs.tslibs.nattype:__nat_unpickle",
        "pandas._libs.tslibs.period:Period",
        "pandas._libs.arrays:NDArrayBacked",
        "pandas._libs.sparse:BlockIndex",
        "pandas._libs.sparse:IntIndex",
        "pandas.core.internals.managers:BlockManager",
        "pandas.core.internals.managers:SingleBlockManager",
        "pandas.core.arrays.sparse.array:SparseArray",
        "pandas._libs.properties:AxisProperty",
    }  # fmt: skip
    return allow, set()


def xgboost_entries() -> Entries:
    allow = classes_in("xgboost.core", _is_enum)
    rebuild = {"xgboost.core:Booster"} | classes_in("xgboost.sklearn", lambda c: not _is_enum(c))
    return allow, rebuild


def lightgbm_entries() -> Entries:
    rebuild = {"lightgbm.basic:Booster"} | classes_in("lightgbm.sklearn", lambda c: not _is_enum(c))
    return set(), rebuild


def statsmodels_entries() -> Entries:
    rebuild: set[str] = set()
    for package in ("statsmodels.base", "statsmodels.regression", "statsmodels.genmod",
                    "statsmodels.discrete", "statsmodels.robust", "statsmodels.tsa.arima",
                    "statsmodels.tsa.holtwinters", "statsmodels.tsa.statespace"):  # fmt: skip
        rebuild |= classes_in(package)
    return set(), rebuild


def _is_class(entry: str) -> bool:
    return inspect.isclass(_safe_lookup(entry))


def _safe_lookup(entry: str) -> Any:
    try:
        return _lookup(entry)
    except Exception:
        return None


# (section, distributions whose versions are recorded, candidates)
LIBRARIES: tuple[tuple[str, tuple[str, ...], Callable[[], Entries]], ...] = (
    ("stdlib", (), lambda: (set(STDLIB), set())),
    ("numpy", ("numpy",), numpy_entries),
    ("torch", ("torch",), torch_entries),
    ("sklearn", ("scikit-learn", "scipy"), sklearn_entries),
    ("joblib", ("joblib",), joblib_entries),
    ("transformers", ("transformers",), transformers_entries),
    ("accelerate", ("accelerate",), accelerate_entries),
    ("peft", ("peft",), peft_entries),
    ("diffusers", ("diffusers",), diffusers_entries),
    ("sentence_transformers", ("sentence-transformers",), sentence_transformers_entries),
    ("lightning", ("lightning",), lambda: lightning_entries("lightning")),
    ("pytorch_lightning", ("pytorch-lightning",), lambda: lightning_entries("pytorch_lightning")),
    ("timm", ("timm",), timm_entries),
    ("pandas", ("pandas",), pandas_entries),
    ("xgboost", ("xgboost-cpu", "xgboost"), xgboost_entries),
    ("lightgbm", ("lightgbm",), lightgbm_entries),
    ("statsmodels", ("statsmodels",), statsmodels_entries),
)


def _version(dists: tuple[str, ...]) -> str:
    if not dists:
        return f"python {sys.version.split()[0]}"
    found = []
    for dist in dists:
        try:
            found.append(f"{dist} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return ", ".join(found)


# Callables that call one of their arguments, which the symbolic machine judges call by call (the arguments
# must be constants or names allowed outright): gadgets.toml's [calls_arguments] table, where it has one.
CALLS_ARGUMENTS_JUDGED = frozenset({
    "numpy.random._pickle:__bit_generator_ctor",
    "numpy.random._pickle:__generator_ctor",
    "numpy.random._pickle:__randomstate_ctor",
})  # fmt: skip


def _judged_per_call() -> frozenset[str]:
    from modelseal.core import toml

    table = toml.loads((OUT.parent / "gadgets.toml").read_text(encoding="utf-8")).get("calls_arguments", {})
    return CALLS_ARGUMENTS_JUDGED | frozenset(table)


def str_subclasses(entries: Iterable[str]) -> list[str]:
    """The entries that are ``str`` or ``bytes`` classes: the only kept classes whose objects a loader may
    take for the strings STACK_GLOBAL reads (the scanner trusts every other rebuilt object not to be one)."""
    out = []
    for entry in entries:
        obj = _safe_lookup(entry)
        if isinstance(obj, type) and issubclass(obj, (str, bytes)):
            out.append(entry)
    return sorted(out)


def _judge(entries: set[str], rebuild: bool, gadgets: Any) -> tuple[list[str], dict[str, str]]:
    kept, refused = [], {}
    per_call = _judged_per_call()
    for entry in sorted(entries):
        module, qualname = entry.split(":", 1)
        if gadgets.match(module, qualname):
            refused[entry] = "named in gadgets.toml"
            continue
        obj = _safe_lookup(entry)
        if obj is None:
            refused[entry] = "cannot be imported here"
            continue
        problems = [p for p in check(obj, rebuild) if not (entry in per_call and "calls its argument" in p)]
        if problems:
            refused[entry] = "; ".join(dict.fromkeys(problems))[:300]
            continue
        kept.append(entry)
    return kept, refused


def main() -> int:
    sys.path.insert(0, str(OUT.parents[3]))
    from modelseal.scanners.pickle.allowlist import _gadgets

    gadgets = _gadgets()
    previous = json.loads(OUT.read_text(encoding="utf-8")) if OUT.is_file() else {"libraries": {}}
    data: dict[str, Any] = {
        "about": "Callables that legitimate ML pickles need. Made by tools/gen_allowlist.py; review diffs "
        "like code. Entries are module:qualname, exact matches only. 'allow': safe to call with any "
        "arguments; 'rebuild': safe only when rebuilt by __new__ plus state assignment "
        "(NEWOBJ, copyreg, BUILD); 'str_like': the classes of both whose objects are strings.",
        "generated": datetime.date.today().isoformat(),
        "libraries": {},
    }
    for lib, dists, candidates in LIBRARIES:
        version = _version(dists)
        try:
            allow, rebuild = candidates()
        except ImportError as exc:
            kept_before = previous["libraries"].get(lib)
            print(f"{lib}: not installed ({exc}); previous section kept", file=sys.stderr)
            if kept_before:
                data["libraries"][lib] = kept_before
            continue
        allow |= cython_unpicklers(allow)
        rebuild = (rebuild | cython_unpicklers(rebuild)) - allow
        kept_allow, refused = _judge(allow, False, gadgets)
        # what may not be called can still be safe to rebuild
        retry = {e for e, why in refused.items() if why != "named in gadgets.toml" and _is_class(e)}
        kept_rebuild, refused_rebuild = _judge(rebuild | retry, True, gadgets)
        section: dict[str, Any] = {"source": version, "allow": kept_allow}
        if kept_rebuild:
            section["rebuild"] = kept_rebuild
        str_like = str_subclasses([*kept_allow, *kept_rebuild])
        if str_like:
            section["str_like"] = str_like
        data["libraries"][lib] = section
        print(f"{lib} ({version}): {len(kept_allow)} allow, {len(kept_rebuild)} rebuild", file=sys.stderr)
        for entry, why in sorted({**refused, **refused_rebuild}.items()):
            if entry not in kept_rebuild and why != "cannot be imported here":
                print(f"  refused {entry}: {why}", file=sys.stderr)
    # JSON (one entry per line) rather than TOML: it loads in a tenth of a millisecond on every scan.
    OUT.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
