"""Scanning a target's files on the queue's workers instead of this machine's processes.

:class:`QueueExecutor` keys every file by content, defers a job for each content without a verdict yet
(at most one waiting job per content, whoever asked), and waits for the verdicts. :class:`KnownVerdicts` is
what a worker assembling a model version uses: the verdicts are already fetched, nothing is scanned.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any

from modelseal.core.artifact import FileEntry
from modelseal.core.config import Config
from modelseal.core.rules import make_finding
from modelseal.parallel import Outcome, ScanOne, Tick, decode_outcome
from modelseal.queue import PRIORITIES
from modelseal.queue.keys import config_digest, content_of, verdict_key
from modelseal.queue.results import verdicts


def blob_payload(entry: FileEntry, content: str, key: str, config: Config, digest: str) -> dict[str, Any]:
    """A ``scan_blob`` job's arguments: where the bytes are (a path every worker sees), what they are."""
    return {
        "key": key,
        "content": content,
        "config_digest": digest,
        "path": str(entry.path),
        "relpath": entry.relpath,
        "size": entry.size,
        "config": config.raw,
    }


class QueueExecutor:
    """Outcomes from the workers of the queue at ``url`` (files must be at the same paths for them)."""

    provides_digests = True

    def __init__(
        self, url: str, config: Config, *, priority: int = PRIORITIES["user"], poll: float = 0.2
    ) -> None:
        self.url, self.config, self.priority, self.poll = url, config, priority, poll
        self.digest = config_digest(config.raw)

    def outcomes(self, files: Sequence[FileEntry], scan_one: ScanOne, tick: Tick) -> list[Outcome]:
        from modelseal.queue.app import blob_job, build_app, defer, settle_stranded
        from modelseal.queue.db import connect, prepare

        prepare(self.url)
        contents = [content_of(e) for e in files]
        keys = [verdict_key(c, e.relpath, self.digest) for c, e in zip(contents, files, strict=True)]
        with connect(self.url, results=True) as conn:  # it may record a stranded content failed
            have = verdicts(conn, keys)
            jobs = {
                key: blob_job(key, self.priority, blob_payload(e, c, key, self.config, self.digest))
                for e, c, key in zip(files, contents, keys, strict=True)
                if key not in have
            }
            if jobs:
                asyncio.run(_defer_all(build_app(self.url), list(jobs.values()), defer))
            ticked: set[str] = set()
            while True:
                for e, key in zip(files, keys, strict=True):
                    if key in have and e.relpath not in ticked:
                        ticked.add(e.relpath)
                        tick(e.relpath)
                if len(ticked) == len(files):
                    break
                time.sleep(self.poll)
                missing = [k for k in keys if k not in have]
                settle_stranded(conn, missing)
                have.update(verdicts(conn, missing))
        return [decode_outcome(have[key]) for key in keys]


async def _defer_all(app: Any, jobs: list[Any], defer: Any) -> None:
    async with app.open_async():
        await defer(app, jobs)


class KnownVerdicts:
    """Outcomes looked up by file path in verdicts fetched beforehand; a file that appeared since the
    snapshot was listed was never scanned, and says so (fail closed)."""

    provides_digests = True

    def __init__(self, keys: Mapping[str, str], found: Mapping[str, list[Any]]) -> None:
        self.keys, self.found = keys, found

    def outcomes(self, files: Sequence[FileEntry], scan_one: ScanOne, tick: Tick) -> list[Outcome]:
        out: list[Outcome] = []
        for e in files:
            known = self.found.get(self.keys.get(e.relpath, ""))
            if known is None:
                late = make_finding(
                    "MS-SCANNER-ERROR", "the file appeared after the sweep listed the snapshot"
                )
                out.append(("unscanned", [late], 0.0, None, ()))
            else:
                out.append(decode_outcome(known))
            tick(e.relpath)
        return out
