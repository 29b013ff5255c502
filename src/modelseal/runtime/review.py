"""Hand held answers to human review: the registry's review queue when a server is configured, a callback
otherwise.

:class:`ReviewSink` is an :class:`~modelseal.defense.validate.OutputValidator`'s ``review`` callable. With
a server (``server=`` or ``MODELSEAL_SERVER``) and the project's upload token (``token=`` or
``MODELSEAL_TOKEN``) it summarises each held answer in the serving thread (inputs are never sent raw:
shape, type, a digest and a few numbers, or a short excerpt of text) and a background thread posts them in
batches through the registry client (:func:`modelseal.api.remote.post_held`), so a slow registry never
slows an answer. What cannot be posted goes to the callback, if any, and is counted; nothing is retried
forever and nothing grows without bound (``max_pending``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from modelseal.defense.validate import ReviewItem

log = logging.getLogger("modelseal.runtime.review")
ENV_SERVER = "MODELSEAL_SERVER"
EXCERPT = 200
"""Characters of a text kept in its summary."""
BATCH = 100
"""Items per request (the registry's limit)."""


def summarize(value: Any) -> dict[str, Any] | None:
    """A small, JSON-safe description of an input or output: never the raw data (it may be personal),
    but enough to find it again (its SHA-256) and to judge it (shape, range, top classes, an excerpt)."""
    if value is None:
        return None
    if isinstance(value, str):
        data = value.encode("utf-8", "surrogatepass")
        return {"type": "text", "length": len(value), "sha256": hashlib.sha256(data).hexdigest(),
                "excerpt": value[:EXCERPT]}  # fmt: skip
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        return {"type": "bytes", "length": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}
    try:
        import numpy as np

        array = np.asarray(value)
    except Exception:  # an object numpy cannot take: describe it by type only
        return {"type": type(value).__name__}
    if array.dtype.kind not in "biuf":
        text = repr(value)
        return {"type": type(value).__name__, "excerpt": text[:EXCERPT]}
    out: dict[str, Any] = {
        "type": "array",
        "shape": list(array.shape),
        "dtype": str(array.dtype),
        "sha256": hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest(),
    }
    if array.size:
        finite = array[np.isfinite(array)] if array.dtype.kind == "f" else array
        out["nonfinite"] = int(array.size - finite.size)
        if finite.size:
            out |= {"min": float(finite.min()), "max": float(finite.max()), "mean": float(finite.mean())}
    if array.ndim == 1 and array.dtype.kind == "f" and 1 < array.size <= 10_000:
        top = np.argsort(array)[::-1][:3]
        out["top"] = [[int(i), round(float(array[i]), 6)] for i in top if np.isfinite(array[i])]
    return out


@dataclass
class ReviewSink:
    """``OutputValidator(review=ReviewSink(model="fraud-scorer", project="fraud"))``: held answers go to
    the registry's review queue (``/held`` on the dashboard) or, without a server, to ``callback``."""

    model: str
    """The model's name as reviewers should see it."""
    project: str = ""
    """The registry project whose upload token is used (needed with a server)."""
    server: str | None = None
    """The registry's URL; default ``MODELSEAL_SERVER``; none: every item goes to ``callback``."""
    token: str | None = None
    """The project's upload token; default ``MODELSEAL_TOKEN``."""
    digest: str = ""
    """The model's manifest digest, if known (shown with the item)."""
    callback: Callable[[ReviewItem], None] | None = None
    """Without a server: receives every held answer. With one: receives those that could not be posted."""
    max_pending: int = 10_000
    """Items waiting to be posted; past it new items go to the callback (or are dropped and counted)."""
    counts: dict[str, int] = field(default_factory=lambda: {"posted": 0, "failed": 0, "dropped": 0})
    _queue: queue.Queue[tuple[ReviewItem, dict[str, Any]]] | None = field(default=None, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        self.server = self.server or os.environ.get(ENV_SERVER) or None
        if self.server is None and self.callback is None:
            raise ValueError("a review sink needs a server (server= or MODELSEAL_SERVER) or a callback")
        if self.server is not None:
            if not self.project:
                raise ValueError("posting to the registry needs the project (project=)")
            from modelseal.api.remote import token_from

            self.token = token_from(self.token)  # fail now, not on the first held answer
            self._queue = queue.Queue(self.max_pending)

    def __call__(self, item: ReviewItem) -> None:
        if self._queue is None:
            assert self.callback is not None
            self.callback(item)
            return
        try:
            self._queue.put_nowait((item, self.payload(item)))
        except queue.Full:
            self._give_up([item], "dropped")
            return
        self._start()

    def payload(self, item: ReviewItem) -> dict[str, Any]:
        """What the registry receives for one held answer."""
        verdict = item.verdict
        output = summarize(item.output) or {}
        if verdict.label is not None:
            output = {"label": verdict.label, "confidence": verdict.confidence} | output
        return {
            "model": self.model,
            "digest": self.digest,
            "reasons": list(verdict.reasons) or ["held"],
            "client": item.client,
            "input": summarize(item.input),
            "output": output,
            "held_at": datetime.now(timezone.utc).isoformat(),
        }

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every queued item was posted or handed over; False if ``timeout`` passed first."""
        if self._queue is None:
            return True
        done = threading.Event()

        def wait() -> None:
            assert self._queue is not None
            self._queue.join()
            done.set()

        threading.Thread(target=wait, daemon=True).start()
        return done.wait(timeout)

    def _start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, daemon=True, name="modelseal-review")
                self._thread.start()

    def _run(self) -> None:
        assert self._queue is not None
        while True:
            batch = [self._queue.get()]
            while len(batch) < BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._post(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    def _post(self, batch: list[tuple[ReviewItem, dict[str, Any]]]) -> None:
        from modelseal.api.remote import RemoteError, post_held

        assert self.server is not None
        try:
            post_held(self.server, self.project, [p for _, p in batch], self.token)
        except RemoteError as exc:
            log.warning("review queue: %d held answers not posted: %s", len(batch), exc)
            self._give_up([item for item, _ in batch], "failed")
            return
        self.counts["posted"] += len(batch)

    def _give_up(self, items: list[ReviewItem], why: str) -> None:
        self.counts[why] += len(items)
        if self.callback is not None:
            for item in items:
                self.callback(item)
