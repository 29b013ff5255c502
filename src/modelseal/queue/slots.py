"""Each job's scan runs in a child process of the worker (a slot): a crash, a memory blow-up or a hang
in it costs that job an attempt, never the worker.

Slots are forked from a fork server (started once, single-threaded, scanners preloaded), so starting or
replacing one is cheap and safe although the worker itself runs threads. Requests and answers cross the
pipe as JSON text.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import resource
import signal
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

Handler = Callable[[str, dict[str, Any]], Any]
"""``handler(kind, payload)`` in the slot: what a job of ``kind`` computes; JSON in, JSON out."""


class SlotFailure(Exception):
    """The slot crashed, hung past the time limit, or the handler raised: the reason, for the record."""


def _serve(conn: Connection, handler: Handler, memory_bytes: int) -> None:
    if memory_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    for sig in (signal.SIGINT, signal.SIGTERM):  # a stop sent to the whole group: the scan finishes first
        signal.signal(sig, signal.SIG_IGN)
    while True:
        try:
            kind, payload = json.loads(conn.recv_bytes())
        except EOFError:
            return
        try:
            answer = [True, handler(kind, payload)]
        except Exception as exc:  # the job's failure, reported; the slot stays usable
            answer = [False, f"{type(exc).__name__}: {exc}"]
        conn.send_bytes(json.dumps(answer).encode())


class _Slot:
    def __init__(self, context: Any, handler: Handler, memory_bytes: int) -> None:
        self.conn, child = multiprocessing.Pipe()
        self.process: BaseProcess = context.Process(
            target=_serve, args=(child, handler, memory_bytes), daemon=True
        )
        self.process.start()
        child.close()

    def call(self, kind: str, payload: dict[str, Any], timeout: float) -> Any:
        try:
            self.conn.send_bytes(json.dumps([kind, payload]).encode())
            if not self.conn.poll(timeout):
                self.kill()
                raise SlotFailure(f"no answer within {timeout:g} s (hung or too slow): the scan was stopped")
            ok, value = json.loads(self.conn.recv_bytes())
        except (EOFError, OSError):
            self.process.join(5)
            code = self.process.exitcode
            how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
            raise SlotFailure(f"the scanning process died ({how})") from None
        if not ok:
            raise SlotFailure(value)
        return value

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def kill(self) -> None:
        self.process.kill()
        self.process.join(5)
        self.conn.close()


class Slots:
    """``concurrency`` slots; a job waits for a free one, and a dead slot is replaced before reuse."""

    def __init__(self, concurrency: int, handler: Handler, *, memory_mb: int, preload: list[str]) -> None:
        self.context = multiprocessing.get_context("forkserver")
        self.context.set_forkserver_preload(preload)
        self.handler, self.memory = handler, memory_mb << 20
        self.free: asyncio.Queue[_Slot | None] = asyncio.Queue()
        for _ in range(concurrency):
            self.free.put_nowait(None)  # started on first use

    async def call(self, kind: str, payload: dict[str, Any], timeout: float) -> Any:
        slot = await self.free.get()
        try:
            if slot is None or not slot.alive:
                slot = await asyncio.to_thread(_Slot, self.context, self.handler, self.memory)
            return await asyncio.to_thread(slot.call, kind, payload, timeout)
        finally:
            self.free.put_nowait(slot if slot is not None and slot.alive else None)

    def close(self) -> None:
        while not self.free.empty():
            slot = self.free.get_nowait()
            if slot is not None:
                slot.kill()
