"""Scanning on a PostgreSQL job queue (procrastinate): workers on many machines, content dedup, sweeps.

The unit of work is one file *content*: its verdict is keyed by (content digest, scanner version,
configuration digest) in ``blob_verdicts``, so a blob shared by a thousand forks is scanned once; a queueing
lock and a run lock on that key keep two workers from scanning it at the same time. A model version is
then assembled from its files' verdicts plus the checks over the whole artifact, by the same code a local
scan runs (:class:`~modelseal.parallel.Executor`). Job payloads are JSON.

Needs the ``queue`` extra (procrastinate, psycopg); nothing here is imported by ``import modelseal`` or a
plain ``modelseal scan``.
"""

from __future__ import annotations

PRIORITIES = {"ci": 30, "user": 20, "background": 0}
"""Job priorities by who asked (higher runs first): CI and people before background re-verification."""
