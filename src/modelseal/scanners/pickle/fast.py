"""The common opcodes of a large pickle run straight from the source's buffer: the batch decoder.

A checkpoint's ``data.pkl`` is millions of a dozen opcodes (memo puts and gets, small ints, short
strings, MARK, tuples, REDUCE, BINPERSID). Decoding them into :class:`~.opcodes.Op` records and then
dispatching each again in :meth:`~.machine.Machine._steps` costs about three times what doing both at
once does. :func:`run_common` does exactly what the reference loop does for these opcodes, and stops at
any other opcode, at any opcode whose effect the reference would refuse (an empty stack, a memo entry
never stored, a limit about to be passed) and near the end of the buffered bytes, leaving that opcode to
the reference, which reports it as it always does. ``tests/scanners/test_differential.py`` checks both
ways give the same findings on generated pickles, hostile ones included.

Where the package was built with a C compiler, :data:`run_common` is the same loop compiled
(``_fastloop.c``: 9-35 times faster on the opcodes that only move values, 2.7 times on a checkpoint's
pickle, whose calls and containers are still judged in Python). :func:`run_common_reference`, this
module's loop, is the fallback and the reference ``tests/scanners/test_fastloop.py`` holds it to.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from modelseal.scanners.native import built
from modelseal.scanners.pickle.opcodes import NAMES, Op
from modelseal.scanners.pickle.values import (
    ESTIMATED_SIZES,
    MEMO_ENTRY_BYTES,
    Dict,
    Memo,
    Persistent,
    Seq,
    estimate,
)

if TYPE_CHECKING:  # a type only: classes of typing.Protocol cost start-up to create
    from typing import Protocol

    from modelseal.core.limits import Limits
    from modelseal.core.streams import ByteSource

    class Machine(Protocol):
        """What the fast loop uses of :class:`~modelseal.scanners.pickle.machine.Machine` (named here, not
        imported: the machine imports this module)."""

        src: ByteSource
        limits: Limits
        stack: list[Any]
        metastack: list[list[Any]]
        memo: Memo
        memo_bytes: int
        below: int
        ops: int

        def _check_budget(self, ops: int, deadline: float) -> None: ...
        def _fill(self, container: Seq | Dict, values: list[Any]) -> None: ...
        def _call(self, callee: Any, args: Any, op: Op, rebuild: bool = False) -> Any: ...
        def step_method(self, op: Op) -> None: ...


_U32 = struct.Struct("<I")
_U16 = struct.Struct("<H")
_I32 = struct.Struct("<i")
_F64 = struct.Struct(">d")
_LOOKAHEAD = 9
_CHECK_EVERY = 1024
"""Opcodes between two checks of the pickle's budget (as often as the reference checks it)."""
_MAX_CONSTANT = 256
"""Longer strings, and ones that may start a nested pickle or zip, go through the reference."""

# Opcodes without an argument that never read from the source: the machine's own method does what the
# reference does.
_METHODS = frozenset(
    ord(c)
    for c in (
        "l",  # LIST
        "d",  # DICT
        "s",  # SETITEM
        "u",  # SETITEMS
        "a",  # APPEND
        "e",  # APPENDS
        "0",  # POP
        "1",  # POP_MARK
        "2",  # DUP
        "o",  # OBJ
        "\x81",  # NEWOBJ
        "\x90",  # ADDITEMS
        "\x91",  # FROZENSET
        "\x92",  # NEWOBJ_EX
        "\x93",  # STACK_GLOBAL
    )
)
_CONSTANTS = {ord("N"): None, 0x88: True, 0x89: False}
_EMPTIES = {ord("]"): "list", ord(")"): "tuple", 0x8F: "set"}
_SUSPECT = frozenset({0x80, ord("P"), 0xC2})
"""First bytes of a constant that may be a nested pickle (PROTO, or U+0080 in UTF-8) or zip (PK)."""


def run_common_reference(m: Machine, deadline: float) -> int:
    """Run opcodes from ``m``'s source while they are common and their effect is certain, up to the first
    one left to the reference (the source then stands at it); returns how many it ran. Raises as the
    reference would for what the machine's methods refuse. Opcodes are compared as literal bytes, the
    most frequent first (the order is all that makes this loop fast)."""
    src = m.src
    limits = m.limits
    memo = m.memo
    dense, sparse = memo.dense, memo.sparse
    max_memo = limits.max_pickle_memo
    max_memo_bytes = limits.max_pickle_memo_bytes
    max_depth = limits.max_pickle_stack
    max_inline = min(_MAX_CONSTANT, limits.max_inline_bytes)
    u32 = _U32.unpack_from
    methods, constants, empties, suspect = _METHODS, _CONSTANTS, _EMPTIES, _SUSPECT
    new_op = tuple.__new__
    stack = m.stack
    memo_bytes = m.memo_bytes  # written back on the way out (nothing the loop calls reads it)
    buf, pos, base = src.buffered(_LOOKAHEAD)
    end = len(buf)
    done = ran = 0  # opcodes since the last budget check, and before it
    check_at = _CHECK_EVERY
    try:
        while True:
            if end - pos < 9:  # _LOOKAHEAD
                src.pos = pos
                buf, pos, base = src.buffered(_LOOKAHEAD)
                end = len(buf)
                if end - pos < _LOOKAHEAD:
                    return ran + done
            if done >= check_at:
                m.ops += done
                ran += done
                done = 0
                m._check_budget(m.ops, deadline)
            code = buf[pos]
            if code == 0x72 or code == 0x71 or code == 0x94:  # LONG_BINPUT, BINPUT, MEMOIZE
                if code == 0x72:
                    index, step = u32(buf, pos + 1)[0], 5
                elif code == 0x71:
                    index, step = buf[pos + 1], 2
                else:
                    index, step = len(dense) + len(sparse), 1
                if not stack:
                    return ran + done
                value = stack[-1]
                cost = MEMO_ENTRY_BYTES + estimate(value)
                if memo_bytes + cost > max_memo_bytes:
                    return ran + done
                if index == len(dense) and not sparse and index < max_memo:  # where picklers put them
                    dense.append(value)
                elif len(dense) + len(sparse) < max_memo or index in memo:
                    memo[index] = value
                else:
                    return ran + done
                memo_bytes += cost
                pos += step
            elif code == 0x68 or code == 0x6A:  # BINGET, LONG_BINGET
                if code == 0x68:
                    index, step = buf[pos + 1], 2
                else:
                    index, step = u32(buf, pos + 1)[0], 5
                if index < len(dense):
                    stack.append(dense[index])
                elif index in sparse:
                    stack.append(sparse[index])
                else:
                    return ran + done
                pos += step
            elif code == 0x4B:  # BININT1
                stack.append(buf[pos + 1])
                pos += 2
            elif code == 0x28:  # MARK
                if len(m.metastack) >= max_depth:
                    return ran + done
                m.metastack.append(stack)
                m.below += len(stack)
                stack = m.stack = []
                pos += 1
            elif code == 0x58 or code == 0x8C or code == 0x43 or code == 0x42:
                # BINUNICODE, SHORT_BINUNICODE, SHORT_BINBYTES, BINBYTES
                if code == 0x58 or code == 0x42:
                    length = u32(buf, pos + 1)[0]
                    begin = pos + 5
                else:
                    length = buf[pos + 1]
                    begin = pos + 2
                if length > max_inline or begin + length > end or (length and buf[begin] in suspect):
                    return ran + done
                raw = buf[begin : begin + length]
                if code == 0x58 or code == 0x8C:
                    try:
                        stack.append(raw.decode("utf-8", "surrogatepass"))
                    except UnicodeDecodeError:
                        return ran + done
                else:
                    stack.append(raw)
                pos = begin + length
            elif code == 0x74:  # TUPLE (as the machine's step_method, without its dispatch)
                if not m.metastack:
                    return ran + done
                items = stack
                stack = m.stack = m.metastack.pop()
                m.below -= len(stack)
                seq = Seq("tuple")
                m._fill(seq, items)
                stack.append(seq)
                pos += 1
            elif code == 0x52:  # REDUCE
                if len(stack) < 2:
                    return ran + done
                args = stack.pop()
                callee = stack.pop()
                stack.append(m._call(callee, args, new_op(Op, (code, "REDUCE", None, base + pos))))
                pos += 1
            elif code == 0x51:  # BINPERSID
                if not stack:
                    return ran + done
                stack[-1] = Persistent(stack[-1])
                pos += 1
            elif code in methods:
                offset = base + pos
                pos += 1
                m.step_method(Op(code, NAMES[code], None, offset))
                stack = m.stack
            elif 0x85 <= code <= 0x87:  # TUPLE1, TUPLE2, TUPLE3
                n = code - 0x84
                if len(stack) < n:
                    return ran + done
                items = stack[-n:]
                del stack[-n:]
                stack.append(Seq("tuple", items))
                pos += 1
            elif code in constants:
                stack.append(constants[code])
                pos += 1
            elif code in empties:
                stack.append(Seq(empties[code]))
                pos += 1
            elif code == 0x7D:  # EMPTY_DICT
                stack.append(Dict())
                pos += 1
            elif code == 0x4D:  # BININT2
                stack.append(_U16.unpack_from(buf, pos + 1)[0])
                pos += 3
            elif code == 0x4A:  # BININT
                stack.append(_I32.unpack_from(buf, pos + 1)[0])
                pos += 5
            elif code == 0x47:  # BINFLOAT
                stack.append(_F64.unpack_from(buf, pos + 1)[0])
                pos += 9
            elif code == 0x95:  # FRAME
                pos += 9
            else:
                return ran + done
            done += 1
    finally:
        src.pos = pos
        m.ops += done
        m.memo_bytes = memo_bytes


_REVISION = 1
"""The ``REVISION`` of ``_fastloop.c`` this module goes with: a module built from another is stale."""


def _compiled() -> Callable[[Machine, float], int] | None:
    """The compiled loop, given this module's tables, or None where the extension was not built or was
    built from another revision of its source (then with a warning: the Python loop runs instead)."""
    _fastloop = built(
        "modelseal.scanners.pickle._fastloop", _REVISION, "The Python pickle loop runs meanwhile."
    )
    if _fastloop is None:
        return None
    _fastloop.configure(
        seq=Seq,
        dict=Dict,
        persistent=Persistent,
        op=Op,
        estimated_sizes=ESTIMATED_SIZES,
        memo_entry_bytes=MEMO_ENTRY_BYTES,
        names=NAMES,
        methods=_METHODS,
        constants=_CONSTANTS,
        empties=_EMPTIES,
        suspect=_SUSPECT,
        max_constant=_MAX_CONSTANT,
        lookahead=_LOOKAHEAD,
        check_every=_CHECK_EVERY,
    )
    loop: Callable[[Machine, float], int] = _fastloop.run_common
    return loop


COMPILED = _compiled()
run_common: Callable[[Machine, float], int] = COMPILED or run_common_reference
"""The loop machines run: compiled where it was built, else :func:`run_common_reference`."""
