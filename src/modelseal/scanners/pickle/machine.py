"""The symbolic pickle machine: follows the stack and memo of one pickle to learn what it would import,
call and mutate, without importing or calling anything.

Findings are decided at the end of each pickle from the recorded events, so that context seen later (the
arguments of a call, whether a stream turned out truncated) can inform them.
"""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from modelseal.core.collector import collector_paused
from modelseal.core.errors import DecompressionBomb, LimitExceeded, Truncated
from modelseal.core.findings import Finding, Location, Severity
from modelseal.core.rules import make_finding
from modelseal.core.streams import ByteSource
from modelseal.scanners.interface import ScanContext, ScanInput, ScanOutcome
from modelseal.scanners.pickle.allowlist import Allowlist, call_semantics, walk_attributes
from modelseal.scanners.pickle.fast import run_common
from modelseal.scanners.pickle.opcodes import (
    NAMES,
    LargePayload,
    MalformedPickle,
    Op,
    OpcodeReader,
    looks_like_pickle,
)
from modelseal.scanners.pickle.values import (
    MEMO_ENTRY_BYTES,
    Blob,
    Call,
    Dict,
    Global,
    Memo,
    Opaque,
    Persistent,
    Seq,
    describe,
    estimate,
)

# Rule ids that carry evidence of intent; when an *opportunistic* parse (bytes that merely look like a
# pickle, data after the last pickle) fails, only these survive: random bytes fail to parse, attacks do not.
INTENT_RULES = frozenset(
    {
        "MS-PICKLE-DANGEROUS-CALLABLE",
        "MS-PICKLE-UNKNOWN-CALLABLE",
        "MS-PICKLE-UNKNOWN-CLASS",
        "MS-PICKLE-EMBEDDED-CODE",
        "MS-PICKLE-NESTED-PICKLE",
        "MS-PICKLE-MUTATES-GLOBAL",
        "MS-PICKLE-UNRESOLVED-EXT",
        "MS-PICKLE-CALL-ON-OBJECT",
        "MS-POLYGLOT",
    }
)
MAX_EVENTS_PER_RULE = 20
FAST = True
"""Whether machines run the common opcodes through :mod:`~modelseal.scanners.pickle.fast` by default
(the differential tests turn it off to compare with the reference loop)."""
NESTED_BYTES = "bytes@"
"""Name prefix of byte strings in a pickle scanned as content (``pickle.loads`` reads them, not joblib)."""
_NESTED_HEADS = (b"PK\x03\x04",)
# Loaders that unpickle a byte string argument: a call is accepted only when its byte string was scanned in
# place and found clean (torch pickles tensors outside torch.save this way).
_SCANNED_LOADERS = frozenset({("torch.storage", "_load_from_bytes")})
# ``_ufunc_reconstruct(module, name)`` imports ``module.name``: a call is accepted when both are constants,
# and what it names is then judged as an import of its own.
_INDIRECT_IMPORTERS = frozenset(
    {
        ("numpy.core", "_ufunc_reconstruct"),
        ("numpy._core", "_ufunc_reconstruct"),
        ("numpy.core._ufunc_config", "_ufunc_reconstruct"),
    }
)
# Helpers that rebuild an object of the class given as their first argument by ``__new__`` (plus, later,
# BUILD): the class is rebuilt, not called with chosen arguments.
_REBUILDERS = frozenset(
    {
        ("copyreg", "_reconstructor"),
        ("copy_reg", "_reconstructor"),
        ("copyreg", "__newobj__"),
        ("copyreg", "__newobj_ex__"),
        ("copy_reg", "__newobj__"),
    }
)
_GETATTR = ("builtins", "getattr")


@functools.cache
def _conditional_callables() -> frozenset[tuple[str, str]]:
    """Every callable judged call by call on its arguments: one lookup for a call of any other (a checkpoint
    makes a hundred thousand)."""
    semantics = call_semantics()
    return (
        _INDIRECT_IMPORTERS
        | _SCANNED_LOADERS
        | _REBUILDERS
        | semantics.returns_callable
        | frozenset(semantics.calls_arguments)
    )


# NumPy names whose BUILD runs ndarray.__setstate__: the reconstructors pickles use, and the array classes.
_NUMPY_ARRAYS = frozenset(
    {"_reconstruct", "_mareconstruct", "ndarray", "matrix", "memmap", "recarray", "chararray", "MaskedArray"}
)
_PARTIALS = frozenset({("functools", "partial"), ("_functools", "partial")})
# joblib checks the type of what BUILD leaves on the stack (isinstance), so a wrapper is recognised by the
# class it resolves to (a dotted protocol-4 name reaches it too), however the object was made.
_JOBLIB_WRAPPERS = frozenset(
    {"joblib.numpy_pickle.NumpyArrayWrapper", "sklearn.externals.joblib.numpy_pickle.NumpyArrayWrapper"}
)
# NumpyArrayWrapper.__init__(subclass, shape, order, dtype, allow_mmap, numpy_array_alignment_bytes=16)
_WRAPPER_INIT = ("subclass", "shape", "order", "dtype", "allow_mmap", "numpy_array_alignment_bytes")
_KEEP_BUDGET = 1_000_000
"""Container items kept for analysis over one pickle (about 100 bytes each)."""
_CONSTANTS = (str, bytes, int, float, complex, type(None))


class _Import:
    """Working record of one imported name: where first, how often, and how its uses went. ``calls`` are
    calls with chosen arguments left to the allowlist (a call that a per-call rule accepted on its own
    arguments is not counted), ``rebuilds`` are ``__new__`` plus state, and names never used either way are
    references (``unused``)."""

    __slots__ = ("calls", "count", "module", "name", "offset", "rebuilds", "unused")

    def __init__(self, module: str, name: str, offset: int) -> None:
        self.module, self.name, self.offset = module, name, offset
        self.count = 0
        self.unused = 0
        self.calls = self.rebuilds = 0


class PickleReport(NamedTuple):
    """One pickle's outcome: findings, the top-of-stack value at STOP, and how far it got."""

    findings: list[Finding]
    result: Any
    complete: bool
    end_offset: int
    joblib_arrays: int
    globals_named: list[tuple[str, str]]
    ran_out: bool
    """It stopped only because the input ended (as opposed to invalid opcodes or stack misuse)."""
    called: bool
    """It called or rebuilt an imported name: a loader runs that before any later failure."""


class Machine:
    """Runs one pickle symbolically. Construct per pickle; :meth:`run` never raises on hostile input."""

    def __init__(
        self,
        src: ByteSource,
        ctx: ScanContext,
        allowlist: Allowlist,
        joblib: bool = False,
        fast: bool | None = None,
        persistent_calls: Callable[[Any], None] | None = None,
    ) -> None:
        self.src = src
        self.persistent_calls = persistent_calls
        """Given each persistent id among a call's arguments (how a torch checkpoint names its storages)."""
        self.fast = FAST if fast is None else fast
        """Common opcodes through :mod:`~modelseal.scanners.pickle.fast` (False: the reference loop only)."""
        self.ops = 0
        """Opcodes run so far, bounded by ``max_pickle_ops``."""
        self.ctx = ctx
        self.allowlist = allowlist
        self.limits = ctx.limits
        self.stack: list[Any] = []
        self.metastack: list[list[Any]] = []
        self.memo = Memo()
        self.imports: dict[tuple[str, str], _Import] = {}
        self.conditional = _conditional_callables()
        self.findings: list[Finding] = []
        self._per_rule: dict[str, int] = {}
        self.joblib = joblib
        """Read as joblib.load does: raw array bytes follow each array wrapper's BUILD."""
        self.joblib_arrays = 0
        self.called = False
        self.retained = 0
        self.memo_bytes = 0
        """Estimated bytes held by the memo (entries and values), bounded by ``max_pickle_memo_bytes``."""
        self.below = 0
        """Items in the stack frames under MARKs (the current frame is ``stack``)."""
        self.kept = 0
        """Items kept inside containers; past :data:`_KEEP_BUDGET` containers only count what they get."""

    # -- recording -------------------------------------------------------------------------------------
    def _emit(
        self,
        rule_id: str,
        message: str,
        offset: int | None,
        evidence: str = "",
        severity: Severity | None = None,
    ) -> None:
        n = self._per_rule.get(rule_id, 0) + 1
        self._per_rule[rule_id] = n
        if n <= MAX_EVENTS_PER_RULE:
            self.findings.append(
                make_finding(
                    rule_id, message, severity=severity, location=Location(offset=offset), evidence=evidence
                )
            )

    def _import(self, module: str, name: str, offset: int) -> Global:
        key = (module, name)
        rec = self.imports.get(key)
        if rec is None:
            if not all(part.isidentifier() for part in module.split(".")):
                # The loader's import fails here and the load stops: nothing after it runs.
                raise MalformedPickle(f"imports from {module[:60]!r}, which no module can be named", offset)
            if len(self.imports) >= 100_000:
                raise LimitExceeded("distinct imported names", 100_000)
            rec = self.imports[key] = _Import(module, name, offset)
        rec.count += 1
        rec.unused += 1
        return Global(module, name, offset)

    def _use(self, g: Global) -> _Import:
        rec = self.imports[g.key]
        if not g.used:
            g.used = True
            rec.unused -= 1
        return rec

    def _import_findings(self) -> list[Finding]:
        out: list[Finding] = []
        for rec in self.imports.values():
            if rec.calls or rec.rebuilds or rec.unused:
                finding = self._judge_import(rec)
            else:
                finding = self._accepted_import(rec)
            if finding is not None:
                out.append(finding)
        return out

    def _accepted_import(self, rec: _Import) -> Finding | None:
        """Every use was a call that its own arguments made safe. A name that is not allowed outright is still
        named (info), so that what a loader resolves always appears in a finding."""
        verdict = self.allowlist.classify(rec.module, rec.name)
        if verdict.allowed:
            return None
        key = (rec.module, rec.name)
        if key in _SCANNED_LOADERS:
            why = "its byte strings were scanned in place and are clean"
        elif key in _INDIRECT_IMPORTERS:
            why = "it only names constants, each judged as an import of its own"
        else:
            why = "nothing in the pickle calls what it hands back"
        return make_finding(
            "MS-PICKLE-DANGEROUS-CALLABLE",
            f"imports {rec.module}.{rec.name} ({verdict.category or 'unlisted'}); safe as used: {why}",
            severity=Severity.INFO,
            location=Location(offset=rec.offset),
            evidence=f"GLOBAL {rec.module} {rec.name} at offset {rec.offset}",
        )

    def _judge_import(self, rec: _Import) -> Finding | None:
        verdict = self.allowlist.classify(rec.module, rec.name)
        where = Location(offset=rec.offset)
        times = f" ({rec.count} times)" if rec.count > 1 else ""
        evidence = f"GLOBAL {rec.module} {rec.name} at offset {rec.offset}{times}"
        dotted = f"{rec.module}.{rec.name}"
        if verdict.waiver:
            return make_finding(
                "MS-PICKLE-DANGEROUS-CALLABLE",
                f"imports {dotted} ({verdict.category}); waived: {verdict.waiver}",
                severity=Severity.INFO,
                location=where,
                evidence=evidence,
            )
        if verdict.allowed or (verdict.rebuild and not rec.calls):
            return None
        if verdict.dangerous:
            rule = (
                "MS-PICKLE-EMBEDDED-CODE"
                if verdict.category == "embedded"
                else "MS-PICKLE-DANGEROUS-CALLABLE"
            )
            return make_finding(
                rule,
                f"imports {dotted}, which {verdict.explanation} ({verdict.category})",
                location=where,
                evidence=evidence,
            )
        if verdict.rebuild:
            message = (
                f"calls {dotted} with chosen arguments; it is allowed only as a class rebuilt from its state"
            )
        elif rec.calls or rec.unused:
            message = f"imports {dotted}, which is not on the allowlist"
        else:
            return make_finding(
                "MS-PICKLE-UNKNOWN-CLASS",
                f"rebuilds an object of {dotted} from its state; the class is not on the allowlist",
                location=where,
                evidence=evidence,
            )
        return make_finding("MS-PICKLE-UNKNOWN-CALLABLE", message, location=where, evidence=evidence)

    # -- stack helpers ---------------------------------------------------------------------------------
    def _pop(self, op: Op) -> Any:
        if not self.stack:
            raise MalformedPickle(f"{op.name} on an empty stack", op.offset)
        return self.stack.pop()

    def _top(self, op: Op) -> Any:
        if not self.stack:
            raise MalformedPickle(f"{op.name} on an empty stack", op.offset)
        return self.stack[-1]

    def _pop_mark(self, op: Op) -> list[Any]:
        if not self.metastack:
            raise MalformedPickle(f"{op.name} without a MARK", op.offset)
        items = self.stack
        self.stack = self.metastack.pop()
        self.below -= len(self.stack)
        return items

    # -- semantics -------------------------------------------------------------------------------------
    def _call(self, callee: Any, args: Any, op: Op, rebuild: bool = False) -> Call:
        """``callee(*args)`` (REDUCE, INST, OBJ), or with ``rebuild`` ``callee.__new__(callee, *args)``
        (NEWOBJ, NEWOBJ_EX). Every call is judged on its own arguments."""
        if self.persistent_calls is not None and args.__class__ is Seq:
            for item in args.items:
                if item.__class__ is Persistent:
                    self.persistent_calls(item.pid)
        call = Call(callee, args, op.offset, rebuild)
        if callee.__class__ is Global:
            self.called = True
            rec = self._use(callee)
            key = callee.key
            special = key in self.conditional
            if special:  # what these hand back is a callable, whether or not this call met their conditions
                call.yields = key in _INDIRECT_IMPORTERS or key in call_semantics().returns_callable
            if rebuild and not special:
                rec.rebuilds += 1
            elif not (special and self._accepted(key, args, op)):
                rec.calls += 1
        elif not self._embedded(callee):
            if isinstance(callee, Call) and callee.yields:
                self._emit(
                    "MS-PICKLE-DANGEROUS-CALLABLE",
                    f"{op.name} calls what {describe(callee)} handed back, with chosen arguments: it reaches "
                    "functions the pickle never names",
                    op.offset,
                    evidence=f"{op.name} at offset {op.offset}",
                )
            self._emit(
                "MS-PICKLE-CALL-ON-OBJECT",
                f"{op.name} calls {describe(callee)}, which is not an imported callable",
                op.offset,
                evidence=f"{op.name} at offset {op.offset}",
            )
        return call

    def _embedded(self, value: Any) -> bool:
        """A value made by a code-carrying serialiser's helper (cloudpickle's ``_builtin_type``): calling it
        is the embedded code the import is already reported for."""
        if not (isinstance(value, Call) and isinstance(value.callee, Global)):
            return False
        return self.allowlist.classify(value.callee.module, value.callee.name).category == "embedded"

    def _accepted(self, key: tuple[str, str], args: Any, op: Op) -> bool:
        """Whether this one call of a callable with conditions meets them. Values the machine could not
        resolve never do."""
        items = args.items if isinstance(args, Seq) else None
        if items is None:
            return False
        semantics = call_semantics()
        if key in _INDIRECT_IMPORTERS:
            if len(items) == 2 and all(isinstance(v, str) for v in items):
                self._import(items[0], items[1], op.offset)
                return True
            return False
        if key in _SCANNED_LOADERS:
            return bool(items) and self._scanned_loader(items[0], op)
        if key in _REBUILDERS:
            if not (items and isinstance(items[0], Global)):
                return False
            self._use(items[0]).rebuilds += 1
            if key[1] == "_reconstructor" and len(items) > 1:
                self._check_called_argument(key, items[1], op)
            return True
        if key in semantics.returns_callable:
            return self._hands_back_safely(key, items)
        for i in semantics.calls_arguments[key]:
            if i < len(items):
                self._check_called_argument(key, items[i], op)
        return True

    def _hands_back_safely(self, key: tuple[str, str], items: list[Any]) -> bool:
        """``getattr``/``attrgetter``/``methodcaller`` with constant names that walk into no internals;
        ``partial`` of an imported name (judged itself); ``itemgetter`` of anything."""
        if key in _PARTIALS:
            return bool(items) and isinstance(items[0], Global)
        name = key[1]
        if name == "itemgetter":
            return True
        names = items[1:2] if key == _GETATTR else items if name == "attrgetter" else items[:1]
        if not names:
            return False
        walk = walk_attributes()
        for value in names:
            if not isinstance(value, str) or any(
                part.startswith("__") or part in walk for part in value.split(".")
            ):
                return False
        return True

    def _check_called_argument(self, key: tuple[str, str], value: Any, op: Op) -> None:
        """An argument that ``key`` calls must be a constant, a plain instance, or a name allowed outright;
        anything else makes this call a gadget, reported here with what it calls."""
        if isinstance(value, Global):  # still judged as a reference of its own
            ok = self.allowlist.classify(value.module, value.name).allowed
        elif isinstance(value, Call):
            ok = not value.yields and isinstance(value.callee, Global)
        else:
            ok = isinstance(value, (*_CONSTANTS, Seq, Dict))
        if not ok:
            self._emit(
                "MS-PICKLE-DANGEROUS-CALLABLE",
                f"{op.name} makes {key[0]}.{key[1]} call {describe(value)}, which is not a name on the "
                "allowlist: it reaches code the pickle chooses",
                op.offset,
                evidence=f"{op.name} at offset {op.offset}",
            )

    def _scanned_loader(self, payload: Any, op: Op) -> bool:
        """The loader's byte string must be fully scanned and clean (not merely look clean)."""
        if isinstance(payload, bytes):
            outcome = self.ctx.nested(
                ScanInput(ByteSource.from_bytes(payload), f"{NESTED_BYTES}{op.offset}", len(payload))
            )
        elif isinstance(payload, Blob) and payload.nested is not None:
            outcome = payload.nested
        else:
            return False  # not scannable in place: this call stays reported
        loud = [f for f in outcome.findings if f.severity >= Severity.MEDIUM]
        if not loud:
            return True
        known = {(f.rule_id, f.message) for f in self.findings}
        self.findings.extend(f for f in loud if (f.rule_id, f.message) not in known)
        return False

    def _mutate(self, target: Any, op: Op) -> None:
        if isinstance(target, Global):
            what = f"the imported object {target.dotted}"
        elif _is_lookup(target):
            what = f"the object {describe(target)} looked up"
        else:
            return
        self._emit(
            "MS-PICKLE-MUTATES-GLOBAL",
            f"{op.name} modifies {what} instead of a new instance",
            op.offset,
            evidence=f"{op.name} at offset {op.offset}",
        )

    def _nested_bytes(self, data: bytes, offset: int) -> None:
        if looks_like_pickle(data[:3]) or data.startswith(_NESTED_HEADS):
            self._scan_nested(ByteSource.from_bytes(data, offset), len(data), offset)

    def _scan_nested(self, src: ByteSource, length: int, offset: int) -> ScanOutcome:
        outcome = self.ctx.nested(ScanInput(src, f"{NESTED_BYTES}{offset}", length))
        intent = [f for f in outcome.findings if f.rule_id in INTENT_RULES]
        if not intent:
            return outcome
        worst = max(f.severity for f in intent)
        self._emit(
            "MS-PICKLE-NESTED-PICKLE",
            f"a byte string of {length} bytes at offset {offset} is a {outcome.format} with "
            f"{len(intent)} finding(s) of its own",
            offset,
            severity=max(worst, Severity.HIGH),
            evidence=f"payload at offset {offset}, {length} bytes",
        )
        self.findings.extend(intent)
        return outcome

    def _payload(self, p: LargePayload) -> Blob:
        blob = Blob(p.length, p.offset, p.is_text)
        if looks_like_pickle(p.head[:3]) or p.head.startswith(_NESTED_HEADS):
            blob.nested = self._scan_nested(self.src.window(p.length), p.length, p.offset)
        return blob

    def _keep(self, value: Any) -> Any:
        """Bound the bytes kept alive by the memo and stack: past the budget, keep only lengths."""
        if isinstance(value, (bytes, str)) and len(value) > 256:
            self.retained += len(value)
            if self.retained > 64 << 20:
                return Blob(len(value), -1, isinstance(value, str))
        return value

    def _after_build(self, inst: Any, op: Op) -> None:
        if not (isinstance(inst, Call) and isinstance(inst.callee, Global)):
            return
        callee = inst.callee
        key = (callee.module, callee.name)
        if key in _PARTIALS and isinstance(inst.state, Seq) and inst.state.items:
            # partial.__setstate__((func, args, kwargs, dict)) replaces the function the partial calls
            func = inst.state.items[0]
            if not isinstance(func, Global):
                self._check_called_argument(key, func, op)
            return
        cls, rebuilt = _class_of(inst)
        if cls is not None and cls.module.split(".", 1)[0] == "numpy":
            self._check_numpy_state(cls, inst, op)
        if cls is None or cls.dotted not in _JOBLIB_WRAPPERS:
            return
        self.joblib_arrays += 1
        if self.joblib:
            self._joblib_array(_wrapper_attributes(inst, rebuilt), op)
            self.stack[-1] = Opaque("joblib array")  # joblib replaces the wrapper with its array

    def _never_a_str(self, value: Any) -> bool:
        """A value no loader takes for a string: a container, a number, None, or an object rebuilt (NEWOBJ,
        copyreg) from a shipped class whose objects are not strings. A global may be a str constant
        (``os.sep``) and a call may return one, so neither is here."""
        if value is None or isinstance(value, (bool, int, float, Seq, Dict)):
            return True
        if not isinstance(value, Call):
            return False
        cls, rebuilt = _class_of(value)
        return cls is not None and rebuilt and self.allowlist.makes_no_str(cls.module, cls.name)

    def _check_numpy_state(self, cls: Global, inst: Call, op: Op) -> None:
        """NumPy's dtype and array ``__setstate__`` believe their tuples: a state NumPy never writes
        corrupts memory."""
        from modelseal.scanners.pickle import dtypes

        if cls.module == "numpy.dtypes" or cls.name == "dtype":
            problem = dtypes.dtype_state_problem(inst)
        elif cls.name in _NUMPY_ARRAYS:
            problem = dtypes.array_state_problem(inst.state)
        else:
            return
        if problem is not None:
            self._emit(
                "MS-PICKLE-UNSAFE-STATE",
                f"{cls.dotted} is given a state NumPy never writes: {problem}",
                op.offset,
                evidence=f"BUILD at offset {op.offset}",
            )

    def _joblib_array(self, attrs: dict[str, Any], op: Op) -> None:
        """joblib writes each array's raw bytes into the stream right after its wrapper's BUILD."""
        from modelseal.scanners.pickle.dtypes import array_nbytes

        info = array_nbytes(attrs.get("shape"), attrs.get("dtype"))
        if info is None:
            raise MalformedPickle("joblib array wrapper with an unreadable shape or dtype", op.offset)
        nbytes, has_object = info
        if has_object:  # a plain pickle of the objects, read by a fresh (plain) Unpickler
            inner = Machine(self.src, self.ctx.deeper(), self.allowlist, fast=self.fast)
            report = inner.run()
            self.ctx.budget.record_imports(report.globals_named)
            self.findings.extend(report.findings)
            if not report.complete:
                raise MalformedPickle("joblib object array pickle is damaged", op.offset)
            return
        if attrs.get("numpy_array_alignment_bytes") is not None:
            pad = self.src.read_byte()
            self.src.skip(pad)
        self.src.skip(nbytes)

    # -- the loop --------------------------------------------------------------------------------------
    def run(self) -> PickleReport:
        complete = ran_out = False
        result: Any = None
        # The machine makes up to millions of small records (see core.collector; scan_file pauses the
        # collector for the whole file, so that its first walk comes after they are freed).
        with collector_paused():
            try:
                result = self._run()
                complete = True
            except MalformedPickle as exc:
                self._emit("MS-PICKLE-MALFORMED", f"pickle cannot be parsed: {exc}", exc.offset)
            except Truncated as exc:
                ran_out = True
                self._emit("MS-PICKLE-MALFORMED", f"pickle is truncated: {exc}", self.src.tell())
            except DecompressionBomb as exc:
                self._emit("MS-ARCHIVE-BOMB", f"decompression bomb: {exc}", None)
            except LimitExceeded as exc:
                self._emit("MS-LIMIT-EXCEEDED", f"pickle analysis stopped: {exc}", self.src.tell())
            except RecursionError:
                self._emit(
                    "MS-LIMIT-EXCEEDED",
                    "pickle analysis stopped: structure nested too deeply",
                    self.src.tell(),
                )
            except Exception as exc:  # a damaged container under the stream; keep what was seen so far
                self._emit("MS-SCANNER-ERROR", f"pickle analysis stopped: {type(exc).__name__}: {exc}", None)
        findings = self._import_findings() + self.findings
        return PickleReport(
            findings,
            result,
            complete,
            self.src.tell(),
            self.joblib_arrays,
            [(r.module, r.name) for r in self.imports.values()],
            ran_out,
            self.called,
        )

    def _run(self) -> Any:
        """The opcode loop: with :attr:`fast`, :func:`~modelseal.scanners.pickle.fast.run_common` takes the
        common opcodes straight from the buffer and hands each other one to :meth:`_steps` (the reference,
        which alone runs the whole pickle otherwise)."""
        limits = self.limits
        reader = OpcodeReader(self.src, max_line=limits.max_pickle_line, max_inline=limits.max_inline_bytes)
        deadline = time.monotonic() + limits.max_seconds_per_file
        if not self.fast:
            result = self._steps(reader.batches(_PAUSE_AFTER), deadline)
            if result is _MORE:
                raise MalformedPickle("stream ends without STOP", self.src.tell())
            return result
        short = 0  # runs of the fast loop in a row that stopped early
        while True:
            # The reference takes the one opcode that stopped the fast loop; where common opcodes are rare
            # (protocol 0, text: the fast loop stops early twice in a row), a whole batch, as it would alone.
            short = short + 1 if run_common(self, deadline) < _FAST_RUN else 0
            batches = reader.batches(_EVERY_OP if short < 2 else _PAUSE_AFTER)
            result = self._steps(itertools.islice(batches, 1), deadline)
            if result is not _MORE:
                return result
            reader.finish(batches)

    def _steps(self, batches: Iterable[list[Op]], deadline: float) -> Any:
        """The reference loop over ``batches``: the result at STOP, or :data:`_MORE` when they run out
        first. The frequent opcodes (constants, memo, MARK, containers) are handled inline by kind, looked
        up by opcode byte; the others go through :meth:`_other`."""
        limits = self.limits
        memo = self.memo
        max_memo = limits.max_pickle_memo
        max_memo_bytes = limits.max_pickle_memo_bytes
        stack = self.stack  # the current frame; MARK and whatever pops a mark replace it
        for batch in batches:
            self.ops += len(batch)
            self._check_budget(self.ops, deadline)
            for op in batch:
                code, name, arg, offset = op
                kind = _KINDS[code]
                if kind == _NUMBER:
                    stack.append(arg)
                elif kind == _PAYLOAD:
                    if arg.__class__ is LargePayload:
                        stack.append(self._payload(arg))
                    elif len(arg) > 256 or arg[:1] in _SUSPECT_HEADS:
                        stack.append(self._constant(arg, name, offset))
                    else:
                        stack.append(arg)
                elif kind == _PUT:
                    index = len(memo) if arg is None else arg  # MEMOIZE has no argument
                    if index < 0:
                        raise MalformedPickle(f"negative memo index {index}", offset)
                    if len(memo) >= max_memo and index not in memo:
                        raise LimitExceeded("pickle memo entries", max_memo)
                    value = memo[index] = self._top(op)
                    self.memo_bytes += MEMO_ENTRY_BYTES + estimate(value)
                    if self.memo_bytes > max_memo_bytes:
                        raise LimitExceeded("estimated bytes held by the pickle memo", max_memo_bytes)
                elif kind == _GET:
                    if arg not in memo:
                        raise MalformedPickle(f"{name} of memo entry {arg}, which was never stored", offset)
                    stack.append(memo[arg])
                elif kind == _MARK:
                    self.metastack.append(stack)
                    self.below += len(stack)
                    stack = self.stack = []
                    if len(self.metastack) > limits.max_pickle_stack:
                        raise LimitExceeded("pickle MARK depth", limits.max_pickle_stack)
                elif kind == _EMPTY:
                    stack.append(Dict() if name == "EMPTY_DICT" else Seq(_SEQ_KIND[name]))
                elif kind == _SMALL_TUPLE:
                    n = code - _TUPLE1 + 1
                    if len(stack) < n:
                        raise MalformedPickle(f"{name} with fewer than {n} items", offset)
                    items = stack[-n:]
                    del stack[-n:]
                    stack.append(Seq("tuple", items))
                elif kind == _SINGLETON:
                    stack.append(_SINGLETONS[name])
                elif kind == _IGNORED:
                    continue
                elif kind == _STOP:
                    return self._pop(op)
                else:  # these may pop a mark, which replaces the frame
                    self.step_method(op)
                    stack = self.stack
        return _MORE

    def step_method(self, op: Op) -> None:
        """One opcode that builds containers, imports, calls or refers (it may replace the frame)."""
        kind = _KINDS[op.code]
        if kind == _MARKED_SEQ:
            seq = Seq(_SEQ_KIND[op.name])
            self._fill(seq, self._pop_mark(op))
            self.stack.append(seq)
        elif kind == _ADD_ITEMS:
            self._add_items(op)
        elif kind == _SET_ITEMS:
            self._set_items(op)
        else:
            self._other(op)

    def _check_budget(self, ops: int, deadline: float) -> None:
        limits = self.limits
        if ops > limits.max_pickle_ops:
            raise LimitExceeded("opcodes in one pickle", limits.max_pickle_ops, ops)
        if time.monotonic() > deadline:
            raise LimitExceeded("seconds spent on one pickle", int(limits.max_seconds_per_file))
        if len(self.stack) + self.below + len(self.metastack) > limits.max_pickle_stack:
            raise LimitExceeded("pickle stack depth", limits.max_pickle_stack)

    def _constant(self, value: bytes | str, name: str, offset: int) -> Any:
        """A string constant that may be a nested pickle or archive, or too long to keep whole."""
        if isinstance(value, bytes):
            self._nested_bytes(value, offset)
        elif value[:1] == "\x80":
            self._nested_bytes(value.encode("latin-1", "replace"), offset)
        return self._keep(value)

    def _fill(self, container: Seq | Dict, values: list[Any]) -> None:
        """Add to a container, keeping items only while the pickle's budget of kept items lasts (then
        judgements that need them fail closed)."""
        if self.kept > _KEEP_BUDGET:
            container.dropped += len(values)
            return
        before = len(container.items)
        container.add(values)
        self.kept += len(container.items) - before

    def _add_items(self, op: Op) -> None:
        """APPEND, APPENDS, ADDITEMS."""
        items = [self._pop(op)] if op.name == "APPEND" else self._pop_mark(op)
        target = self._top(op)
        self._mutate(target, op)
        if isinstance(target, Seq):
            self._fill(target, items)

    def _set_items(self, op: Op) -> None:
        """SETITEM, SETITEMS, and DICT (which builds a new dict from marked pairs)."""
        if op.name == "SETITEM":
            value = self._pop(op)
            key = self._pop(op)
            pairs = [(key, value)]
        else:
            items = self._pop_mark(op)
            pairs = list(zip(items[::2], items[1::2], strict=False))
            if op.name == "DICT":
                d = Dict()
                self._fill(d, pairs)
                self.stack.append(d)
                return
        target = self._top(op)
        self._mutate(target, op)
        if isinstance(target, Dict):
            self._fill(target, pairs)

    def _other(self, op: Op) -> None:
        """The opcodes that import, call, build or refer: fewer, and each worth more care."""
        name, arg = op.name, op.arg
        push = self.stack.append
        if name == "POP":
            if self.stack:
                self.stack.pop()
            else:
                self._pop_mark(op)
        elif name == "POP_MARK":
            self._pop_mark(op)
        elif name == "DUP":
            push(self._top(op))
        elif name in ("GLOBAL", "INST"):
            module, qualname = arg
            g = self._import(module, qualname, op.offset)
            if name == "GLOBAL":
                push(g)
            else:
                items = self._pop_mark(op)
                self.stack.append(self._call(g, Seq("tuple", items[:64]), op))
        elif name == "STACK_GLOBAL":
            qualname = _as_name(self._pop(op))
            module = _as_name(self._pop(op))
            if isinstance(module, str) and isinstance(qualname, str):
                push(self._import(module, qualname, op.offset))
            elif self._never_a_str(module) or self._never_a_str(qualname):
                # CPython raises "STACK_GLOBAL requires str": what follows is never run (a plain pickle.load
                # of a joblib file with an object array stops here, in the array's own pickle)
                raise MalformedPickle("STACK_GLOBAL on a value that is not a string", op.offset)
            else:
                self._emit(
                    "MS-PICKLE-UNKNOWN-CALLABLE",
                    "STACK_GLOBAL names a callable with computed values, not strings",
                    op.offset,
                    evidence=f"module={describe(module)} name={describe(qualname)}",
                )
                push(Opaque("computed global"))
        elif name in ("REDUCE", "NEWOBJ"):
            args = self._pop(op)
            callee = self._pop(op)
            push(self._call(callee, args, op, rebuild=name == "NEWOBJ"))
        elif name == "NEWOBJ_EX":
            self._pop(op)  # kwargs
            args = self._pop(op)
            cls = self._pop(op)
            push(self._call(cls, args, op, rebuild=True))
        elif name == "OBJ":
            items = self._pop_mark(op)
            if not items:
                raise MalformedPickle("OBJ without a class", op.offset)
            self.stack.append(self._call(items[0], Seq("tuple", items[1:65]), op))
        elif name == "BUILD":
            state = self._pop(op)
            inst = self._top(op)
            self._mutate(inst, op)
            if isinstance(inst, Call):
                inst.state = state
            self._after_build(inst, op)
        elif name in ("EXT1", "EXT2", "EXT4"):
            self._emit(
                "MS-PICKLE-UNRESOLVED-EXT",
                f"{name} refers to extension code {arg}",
                op.offset,
                evidence=f"{name} {arg} at offset {op.offset}",
            )
            push(Opaque(f"extension {arg}"))
        elif name == "PERSID":
            push(Persistent(arg))
        elif name == "BINPERSID":
            push(Persistent(self._pop(op)))
        elif name == "NEXT_BUFFER":
            push(Opaque("out-of-band buffer"))
        else:  # pragma: no cover - every opcode in NAMES has a kind or a branch here
            raise MalformedPickle(f"unhandled opcode {name}", op.offset)


def _class_of(inst: Call) -> tuple[Global | None, bool]:
    """The class an object was made from, and whether it was rebuilt (no ``__init__``)."""
    callee = inst.callee
    if (callee.module, callee.name) in _REBUILDERS:
        first = inst.args.items[0] if isinstance(inst.args, Seq) and inst.args.items else None
        return (first if isinstance(first, Global) else None), True
    return callee, inst.rebuilt


def _as_name(value: Any) -> Any:
    """STRING, BINSTRING and SHORT_BINSTRING leave bytes here, but loaders decode them to ``str`` (with their
    ``encoding``, ASCII by default) before STACK_GLOBAL reads them: bytes name a global too."""
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _wrapper_attributes(inst: Call, rebuilt: bool) -> dict[str, Any]:
    """The attributes joblib reads from an array wrapper: ``__init__``'s arguments when it was called,
    then the BUILD state (a dict, or a ``(dict, slots)`` pair) over them."""
    attrs: dict[str, Any] = {}
    if not rebuilt and isinstance(inst.args, Seq):
        attrs["numpy_array_alignment_bytes"] = 16
        attrs.update(zip(_WRAPPER_INIT, inst.args.items, strict=False))
    state = inst.state
    parts = state.items if isinstance(state, Seq) and state.kind == "tuple" else [state]
    for part in parts:
        if isinstance(part, Dict):
            attrs.update((k, v) for k, v in part.items if isinstance(k, str))
    return attrs


def _is_lookup(value: Any) -> bool:
    """A value fetched from a module or object (``getattr``, ``_ufunc_reconstruct``): changing it changes
    state shared beyond this pickle."""
    if not (isinstance(value, Call) and value.yields and isinstance(value.callee, Global)):
        return False
    key = (value.callee.module, value.callee.name)
    return key == _GETATTR or key in _INDIRECT_IMPORTERS


# What the loop does with each opcode, indexed by opcode byte.
(
    _OTHER,
    _NUMBER,
    _PAYLOAD,
    _PUT,
    _GET,
    _MARK,
    _EMPTY,
    _SMALL_TUPLE,
    _MARKED_SEQ,
    _ADD_ITEMS,
    _SET_ITEMS,
    _SINGLETON,
    _IGNORED,
    _STOP,
) = range(14)
_KIND_OF: dict[str, int] = {
    **dict.fromkeys(
        ("INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT"), _NUMBER
    ),
    **dict.fromkeys(
        (
            "STRING",
            "BINSTRING",
            "SHORT_BINSTRING",
            "BINBYTES",
            "SHORT_BINBYTES",
            "BINBYTES8",
            "BYTEARRAY8",
            "UNICODE",
            "BINUNICODE",
            "SHORT_BINUNICODE",
            "BINUNICODE8",
        ),
        _PAYLOAD,
    ),
    **dict.fromkeys(("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"), _PUT),
    **dict.fromkeys(("GET", "BINGET", "LONG_BINGET"), _GET),
    "MARK": _MARK,
    **dict.fromkeys(("EMPTY_LIST", "EMPTY_TUPLE", "EMPTY_DICT", "EMPTY_SET"), _EMPTY),
    **dict.fromkeys(("TUPLE1", "TUPLE2", "TUPLE3"), _SMALL_TUPLE),
    **dict.fromkeys(("LIST", "TUPLE", "FROZENSET"), _MARKED_SEQ),
    **dict.fromkeys(("APPEND", "APPENDS", "ADDITEMS"), _ADD_ITEMS),
    **dict.fromkeys(("SETITEM", "SETITEMS", "DICT"), _SET_ITEMS),
    **dict.fromkeys(("NONE", "NEWTRUE", "NEWFALSE"), _SINGLETON),
    **dict.fromkeys(("PROTO", "FRAME", "READONLY_BUFFER"), _IGNORED),
    "STOP": _STOP,
}
_KINDS: list[int] = [_KIND_OF.get(NAMES.get(code, ""), _OTHER) for code in range(256)]
_TUPLE1 = 0x85
_PAUSE_AFTER = frozenset({ord("b")})
"""BUILD: a joblib array wrapper is followed by raw array bytes that the machine reads itself."""
_EVERY_OP = frozenset(range(256))
_FAST_RUN = 16
"""Common opcodes in a row that make it worth going back to the fast loop after a single other one."""
_MORE = object()
"""What :meth:`Machine._steps` returns when its opcodes ran out before STOP."""
_SINGLETONS: dict[str, Any] = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False}
_SUSPECT_HEADS = frozenset({b"\x80", b"P", "\x80"})
"""First characters of a constant that may be a nested pickle (PROTO) or zip (PK): checked in full."""
_SEQ_KIND = {
    "EMPTY_LIST": "list",
    "LIST": "list",
    "EMPTY_TUPLE": "tuple",
    "TUPLE": "tuple",
    "EMPTY_SET": "set",
    "FROZENSET": "frozenset",
}
