"""A synthetic hub mirror built by code, laid out like the Hugging Face cache: ``models--org--name`` with
``blobs/<digest>``, ``snapshots/<commit>/<file>`` links and ``refs/main``. Contents are shared between
repos the way forks share base weights (hard links to one copy); a few snapshots carry a pickle whose
reduce would run a harmless ``echo``. Used by tests/queue and bench/bench_sweep.py."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import random
import struct
from dataclasses import dataclass, field
from pathlib import Path


class _RunsEcho:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("echo modelseal-test-payload",))


def malicious_pickle(tag: int) -> bytes:
    return pickle.dumps({"tag": tag, "x": _RunsEcho()}, protocol=4)


def safetensors_bytes(seed: int, floats: int = 256) -> bytes:
    data = struct.pack(f"<{floats}f", *(float((seed * 31 + i) % 97) / 7 for i in range(floats)))
    tensors = {"w": {"dtype": "F32", "shape": [floats], "data_offsets": [0, len(data)]}}
    header = json.dumps({"__metadata__": {"seed": str(seed)}, **tensors}).encode()
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + data


def benign_pickle(seed: int) -> bytes:
    return pickle.dumps({"weights": [seed + i / 10 for i in range(64)], "step": seed}, protocol=4)


def config_json(seed: int) -> bytes:
    return json.dumps({"model_type": "bert", "hidden_size": 64 + seed % 8, "seed": seed}).encode()


@dataclass
class Mirror:
    root: Path
    snapshots: list[Path] = field(default_factory=list)
    malicious: list[str] = field(default_factory=list)
    """Model ids whose snapshot holds the malicious pickle."""
    references: int = 0
    distinct: int = 0
    bytes_total: int = 0


def _git_name(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


class _Store:
    """One copy of each content; repos hard-link to it (as a mirror on one filesystem can)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def put(self, content: bytes, lfs: bool) -> tuple[Path, str]:
        name = hashlib.sha256(content).hexdigest() if lfs else _git_name(content)
        path = self.root / name
        if not path.exists():
            path.write_bytes(content)
        return path, name


def add_snapshot(mirror: Mirror, store: _Store, model: str, files: dict[str, tuple[bytes, bool]]) -> Path:
    """One repo with one commit holding ``files`` (name → (content, stored as LFS))."""
    repo = mirror.root / ("models--" + model.replace("/", "--"))
    commit = hashlib.sha1(model.encode()).hexdigest()
    snapshot = repo / "snapshots" / commit
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True, exist_ok=True)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    for name, (content, lfs) in files.items():
        source, blob_name = store.put(content, lfs)
        blob = repo / "blobs" / blob_name
        if not blob.exists():
            os.link(source, blob)
        (snapshot / name).symlink_to(Path("..", "..", "blobs", blob_name))
        mirror.references += 1
        mirror.bytes_total += len(content)
    mirror.snapshots.append(snapshot)
    return snapshot


def build_mirror(
    root: Path, snapshots: int, *, shared: float = 0.7, malicious: int = 2, seed: int = 7, salt: int = 0
) -> Mirror:
    """``snapshots`` model repos of three files each (weights in a mixed format, config, a pickle),
    about ``shared`` of the file references pointing at contents other repos hold too. Mirrors built with
    different ``salt`` share no content."""
    rng = random.Random(seed)
    mirror = Mirror(root / f"mirror{salt}")
    store = _Store(root / "store")
    pool = max(4, snapshots // 20)  # base models the forks share
    bad = set(rng.sample(range(snapshots), min(malicious, snapshots)))
    contents: set[bytes] = set()
    for i in range(snapshots):
        files: dict[str, tuple[bytes, bool]] = {}
        for slot, (name, make, lfs) in enumerate(
            [
                ("model.safetensors", safetensors_bytes, True),
                ("config.json", config_json, False),
                ("training_args.bin", benign_pickle, True),
            ]
        ):
            base = rng.randrange(pool) if rng.random() < shared else 10_000_000 + i
            files[name] = (make(base * 3 + slot + salt * 100_000_000), lfs)
        if i in bad:
            files["training_args.bin"] = (malicious_pickle(i), True)
            mirror.malicious.append(f"org{i % 50}/model-{i}-{salt}")
        contents.update(content for content, _ in files.values())
        add_snapshot(mirror, store, f"org{i % 50}/model-{i}-{salt}", files)
    mirror.distinct = len(contents)
    return mirror
