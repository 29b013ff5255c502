"""Regenerate ``src/modelseal/scanners/pickle/allowlist.json`` from the installed ML libraries.

The allowlist is data a reviewer reads, so it is generated from the libraries that write model files
(classes and reconstruction helpers only, never arbitrary functions) and written sorted, with the library
versions and the date. Run in the dev environment: ``python tools/gen_allowlist.py``.
Nothing in the gadget knowledge (gadgets.toml) may appear here; the script refuses to write such entries.
"""

from __future__ import annotations

import datetime
import importlib
import inspect
import json
import pkgutil
import sys
from pathlib import Path

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
    "utils._show_versions",
}


def classes_in(package: str, skip: set[str] = SKIP_PARTS) -> set[str]:
    """Every class defined in the modules of ``package`` (skipping test and download helpers)."""
    found: set[str] = set()
    pkg = importlib.import_module(package)
    names = [package] + [m.name for m in pkgutil.walk_packages(pkg.__path__, package + ".")]
    for modname in names:
        if any(part in skip for part in modname.split(".")):
            continue
        try:
            mod = importlib.import_module(modname)
        except Exception:
            continue
        for attr, obj in vars(mod).items():
            if inspect.isclass(obj) and obj.__module__ == modname and not attr.startswith("__"):
                found.add(f"{modname}:{obj.__qualname__}")
    return found


def cython_unpicklers(entries: set[str]) -> set[str]:
    """Cython classes pickle through a generated ``__pyx_unpickle_<Class>`` function beside them."""
    out = set()
    for entry in entries:
        module, qualname = entry.split(":", 1)
        try:
            mod = importlib.import_module(module)
        except Exception:
            continue
        name = f"__pyx_unpickle_{qualname}"
        if callable(getattr(mod, name, None)):
            out.add(f"{module}:{name}")
    return out


def numpy_entries() -> set[str]:
    import numpy as np

    out = set()
    for core in ("numpy.core", "numpy._core"):
        out |= {f"{core}.multiarray:_reconstruct", f"{core}.multiarray:scalar", f"{core}.numeric:_frombuffer"}
    out |= {
        "numpy:ndarray",
        "numpy:dtype",
        "numpy:matrix",
        "numpy.ma.core:_mareconstruct",
        "numpy.ma.core:MaskedArray",
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
    import numpy.dtypes

    out |= {f"numpy.dtypes:{n}" for n in dir(numpy.dtypes) if n.endswith("DType")}
    return out


def torch_entries() -> set[str]:
    import torch
    import torch.nn
    import torch.optim
    import torch.optim.lr_scheduler

    out = {f"torch._utils:{n}" for n in dir(torch._utils) if n.startswith("_rebuild_")}
    out |= {f"torch:{n}" for n in dir(torch) if n.endswith("Storage") and inspect.isclass(getattr(torch, n))}
    out |= {
        f"torch:{n}"
        for n in dir(torch)
        if isinstance(getattr(torch, n, None), (torch.dtype, torch.layout, torch.memory_format))
    }
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
    }
    pending = [torch.nn.Module]
    while pending:  # every module class torch itself defines, however deep in the hierarchy
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__.startswith("torch.") and "<locals>" not in cls.__qualname__:
            out.add(f"{cls.__module__}:{cls.__qualname__}")
    import torch.jit._pickle
    import torch.nn.functional as functional

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
    return out


def sklearn_entries() -> set[str]:
    out = classes_in("sklearn")
    out |= {c for c in classes_in("scipy.sparse") if "linalg" not in c and "csgraph" not in c}
    return out


def joblib_entries() -> set[str]:
    return {"joblib.numpy_pickle:NumpyArrayWrapper"}


def main() -> int:
    sys.path.insert(0, str(OUT.parents[3]))
    import joblib
    import numpy
    import scipy
    import sklearn
    import torch

    from modelseal.scanners.pickle.allowlist import _gadgets

    libraries = {
        "stdlib": (set(STDLIB), f"python {sys.version.split()[0]}"),
        "numpy": (numpy_entries(), f"numpy {numpy.__version__}"),
        "torch": (torch_entries(), f"torch {torch.__version__}"),
        "sklearn": (sklearn_entries(), f"scikit-learn {sklearn.__version__}, scipy {scipy.__version__}"),
        "joblib": (joblib_entries(), f"joblib {joblib.__version__}"),
    }
    gadgets = _gadgets()
    data: dict[str, object] = {
        "about": "Callables that legitimate ML pickles need. Made by tools/gen_allowlist.py; "
        "review diffs like code. "
        "Entries are module:qualname, exact matches only.",
        "generated": datetime.date.today().isoformat(),
        "libraries": {},
    }
    for lib, (entries, versions) in libraries.items():
        entries = entries | cython_unpicklers(entries)
        kept = sorted(e for e in entries if not gadgets.match(*e.split(":", 1)))
        refused = sorted(set(entries) - set(kept))
        data["libraries"][lib] = {"source": versions, "allow": kept}  # type: ignore[index]
        if refused:
            print(f"{lib}: refused {len(refused)} gadget-like entries: {refused[:8]}", file=sys.stderr)
        print(f"{lib}: {len(kept)} entries", file=sys.stderr)
    # JSON (one entry per line) rather than TOML: it loads in a tenth of a millisecond on every scan.
    OUT.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
