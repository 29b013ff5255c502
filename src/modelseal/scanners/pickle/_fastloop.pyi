from collections.abc import Collection, Mapping
from typing import Any

REVISION: int

def configure(
    *,
    seq: type,
    dict: type,
    persistent: type,
    op: type,
    estimated_sizes: tuple[int, int, int, int],
    memo_entry_bytes: int,
    names: Mapping[int, str],
    methods: Collection[int],
    constants: Mapping[int, Any],
    empties: Mapping[int, str],
    suspect: Collection[int],
    max_constant: int,
    lookahead: int,
    check_every: int,
) -> None: ...
def run_common(machine: Any, deadline: float) -> int: ...
def estimate(value: Any) -> int: ...
