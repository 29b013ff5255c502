"""The OpenSSF model signing v1.0 format, as data: an in-toto Statement v1 in a DSSE envelope in a Sigstore
bundle v0.3.

The statement's subject is the model name with a SHA-256 over the raw bytes of every resource digest, in
resource order; the predicate (``https://model_signing/signature/v1.0``) lists the resources (files, or file
shards named ``path:start:end``) sorted by path components, and how they were serialised. This module only
builds and parses; :mod:`modelseal.integrity.signing` signs and verifies.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelseal.core.artifact import Artifact
from modelseal.core.errors import IntegrityError
from modelseal.core.hashing import hash_ranges, shard_ranges
from modelseal.integrity.manifest import (
    DEFAULT_IGNORE,
    Manifest,
    is_ignored,
    manifest_for,
    with_digests_of,
)

if TYPE_CHECKING:
    from modelseal.core.digestcache import DigestCache

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://model_signing/signature/v1.0"
BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
DEFAULT_SHARD_SIZE = 1_000_000_000
"""The reference tool's shard size; a different one is recorded in the signature and works just as well."""
MAX_BUNDLE_BYTES = 64 << 20
"""A bundle lists one digest per file or shard: far below this even for terabyte models."""
SINGLE_FILE_NAME = "."
"""The reference tool names the only resource of a single-file model by its path relative to itself."""


class SignatureError(IntegrityError):
    """A signature is malformed or does not verify. The message names the key, identity or field at fault."""

    hint = "check that --public-key/--trust-anchor match the signer, then re-sign the model if it changed"


@dataclass(frozen=True)
class Serialization:
    """How the model was turned into resources; verification must redo exactly this."""

    method: str = "files"
    """``files`` (one digest per file) or ``shards`` (one per ``shard_size`` bytes of each file)."""
    hash_type: str = "sha256"
    allow_symlinks: bool = False
    ignore_paths: tuple[str, ...] = DEFAULT_IGNORE
    shard_size: int = DEFAULT_SHARD_SIZE

    def __post_init__(self) -> None:
        if self.method not in ("files", "shards"):
            raise SignatureError(
                f"unknown serialization method {self.method!r}; expected 'files' or 'shards'"
            )
        if self.method == "shards" and self.shard_size <= 0:
            raise SignatureError(f"shard size must be positive, got {self.shard_size}")

    @property
    def resource_algorithm(self) -> str:
        """The ``algorithm`` of each resource (the reference tool tags shards with their size)."""
        if self.method == "shards":
            return f"{self.hash_type}-sharded-{self.shard_size}"
        return self.hash_type

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"method": self.method, "hash_type": self.hash_type}
        if self.method == "shards":
            out["shard_size"] = self.shard_size
        out["allow_symlinks"] = self.allow_symlinks
        if self.ignore_paths:
            out["ignore_paths"] = list(self.ignore_paths)
        return out

    @classmethod
    def from_json(cls, data: Any) -> Serialization:
        if not isinstance(data, dict):
            raise SignatureError("predicate.serialization is not an object")
        try:
            shard = data.get("shard_size", DEFAULT_SHARD_SIZE)
            # protobuf's JSON writes numbers of a Struct as floats (1000.0)
            if isinstance(shard, float) and shard.is_integer():
                shard = int(shard)
            ignore = data.get("ignore_paths", [])
            if not isinstance(ignore, list) or not all(isinstance(p, str) for p in ignore):
                raise SignatureError("predicate.serialization.ignore_paths is not a list of paths")
            if not isinstance(shard, int) or not isinstance(data["allow_symlinks"], bool):
                raise SignatureError("predicate.serialization has a malformed shard_size or allow_symlinks")
            return cls(
                method=str(data["method"]),
                hash_type=str(data["hash_type"]),
                allow_symlinks=data["allow_symlinks"],
                ignore_paths=tuple(ignore),
                shard_size=shard,
            )
        except KeyError as exc:
            raise SignatureError(f"predicate.serialization lacks {exc.args[0]!r}") from None


@dataclass(frozen=True)
class Resource:
    name: str
    """POSIX path relative to the model root, or ``path:start:end`` for a shard."""
    algorithm: str
    digest: str
    """Lower-case hex."""

    @property
    def path(self) -> str:
        return self.name.rsplit(":", 2)[0] if "-sharded-" in self.algorithm else self.name


def _sort_key(r: Resource) -> tuple[tuple[str, ...], int, int]:
    """The reference tool sorts by path components, then shard offsets (not by the joined string)."""
    if "-sharded-" in r.algorithm:
        path, start, end = r.name.rsplit(":", 2)
        return tuple(path.split("/")), int(start), int(end)
    return tuple(r.name.split("/")), 0, 0


@dataclass(frozen=True)
class Statement:
    """The signed content: which resources, with which digests, serialised how."""

    model_name: str
    serialization: Serialization
    resources: tuple[Resource, ...] = field(default=())

    def root_digest(self) -> str:
        """Hex SHA-256 over the raw digests in resource order: the subject digest."""
        h = hashlib.sha256()
        for r in self.resources:
            h.update(bytes.fromhex(r.digest))
        return h.hexdigest()

    def digests(self) -> dict[str, str]:
        return {r.name: f"{r.algorithm}:{r.digest}" for r in self.resources}

    def to_payload(self) -> bytes:
        statement = {
            "_type": STATEMENT_TYPE,
            "subject": [{"name": self.model_name, "digest": {"sha256": self.root_digest()}}],
            "predicateType": PREDICATE_TYPE,
            "predicate": {
                "serialization": self.serialization.to_json(),
                "resources": [
                    {"name": r.name, "algorithm": r.algorithm, "digest": r.digest} for r in self.resources
                ],
            },
        }
        return json.dumps(statement, indent=2).encode("utf-8")

    @classmethod
    def from_payload(cls, payload: bytes) -> Statement:
        """Parse and check a statement; every inconsistency is an error, never a partial result."""
        try:
            data = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SignatureError(f"the signed payload is not JSON: {exc}") from None
        if not isinstance(data, dict) or data.get("_type") != STATEMENT_TYPE:
            raise SignatureError(f"the signed payload is not an in-toto statement ({STATEMENT_TYPE})")
        if data.get("predicateType") != PREDICATE_TYPE:
            raise SignatureError(
                f"unsupported predicate type {data.get('predicateType')!r}; expected {PREDICATE_TYPE}"
            )
        subjects = data.get("subject")
        predicate = data.get("predicate")
        if not isinstance(subjects, list) or len(subjects) != 1 or not isinstance(predicate, dict):
            raise SignatureError("the statement must have exactly one subject and a predicate")
        try:
            name = str(subjects[0]["name"])
            root = str(subjects[0]["digest"]["sha256"])
            raw = predicate["resources"]
            resources = tuple(
                Resource(str(r["name"]), str(r["algorithm"]), str(r["digest"]).lower()) for r in raw
            )
        except (KeyError, TypeError) as exc:
            raise SignatureError(f"malformed subject or resource in the statement ({exc})") from None
        serialization = Serialization.from_json(predicate.get("serialization"))
        names = [r.name for r in resources]
        if len(set(names)) != len(names):
            raise SignatureError("the statement lists a resource twice")
        for r in resources:
            if r.algorithm != serialization.resource_algorithm:
                raise SignatureError(
                    f"resource {r.name} uses {r.algorithm}, but the serialization says "
                    f"{serialization.resource_algorithm}"
                )
            _check_name(r.name)
        statement = cls(name, serialization, resources)
        try:
            actual_root = statement.root_digest()
        except ValueError:
            raise SignatureError("a resource digest is not hex") from None
        if actual_root != root.lower():
            raise SignatureError(
                f"the subject digest {root} does not match the resources (they hash to {actual_root})"
            )
        return statement


def _check_name(name: str) -> None:
    """Resource names are relative POSIX paths that cannot climb out of the model."""
    if name.startswith("/") or "\\" in name or ".." in name.split("/") or "\0" in name:
        raise SignatureError(f"resource name {name!r} is not a relative path inside the model")


def _oms_name(artifact: Artifact, relpath: str) -> str:
    return SINGLE_FILE_NAME if artifact.root.is_file() else relpath


def statement_for(
    artifact: Artifact,
    serialization: Serialization,
    *,
    manifest: Manifest | None = None,
    workers: int | None = None,
    cache: DigestCache | None = None,
) -> Statement:
    """The statement of a local model. ``files`` reuses the digests of ``manifest`` (and of the artifact),
    both methods those ``cache`` vouches for."""
    ignore = serialization.ignore_paths
    kept = [e for e in artifact.files if not is_ignored(e.relpath, ignore)]
    algorithm = serialization.resource_algorithm
    resources: list[Resource] = []
    if serialization.method == "files":
        hashed = with_digests_of(artifact, manifest, serialization.hash_type)
        done = manifest_for(hashed, serialization.hash_type, ignore=ignore, workers=workers, cache=cache)
        digests = done.digests()
        for e in kept:
            resources.append(
                Resource(_oms_name(artifact, e.relpath), algorithm, digests[e.relpath].split(":", 1)[1])
            )
    else:
        ranges = [(e, r) for e in kept for r in shard_ranges(e.path, e.size, serialization.shard_size)]
        found = hash_ranges([r for _, r in ranges], serialization.hash_type, workers, cache=cache)
        for (e, r), digest in zip(ranges, found, strict=True):
            name = f"{_oms_name(artifact, e.relpath)}:{r.start}:{r.end}"
            resources.append(Resource(name, algorithm, digest.split(":", 1)[1]))
    resources.sort(key=_sort_key)
    name = artifact.root.name or artifact.root.resolve().name
    return Statement(name, serialization, tuple(resources))


@dataclass(frozen=True)
class Bundle:
    """A Sigstore bundle v0.3 holding one DSSE envelope; ``material`` is its verificationMaterial as JSON."""

    payload: bytes
    signature: bytes
    material: Mapping[str, Any]
    payload_type: str = PAYLOAD_TYPE
    raw: str = field(default="", compare=False, repr=False)
    """The JSON as read, for verifiers (sigstore-python) that parse the bundle themselves."""

    def to_json(self) -> str:
        bundle = {
            "mediaType": BUNDLE_MEDIA_TYPE,
            "verificationMaterial": dict(self.material),
            "dsseEnvelope": {
                "payload": base64.b64encode(self.payload).decode("ascii"),
                "payloadType": self.payload_type,
                "signatures": [{"sig": base64.b64encode(self.signature).decode("ascii"), "keyid": ""}],
            },
        }
        return json.dumps(bundle, indent=2)

    @classmethod
    def read(cls, path: Path) -> Bundle:
        try:
            if path.stat().st_size > MAX_BUNDLE_BYTES:
                raise SignatureError(f"{path}: larger than {MAX_BUNDLE_BYTES} bytes, not a model signature")
            text = path.read_text(encoding="utf-8")
            data = json.loads(text)
        except OSError as exc:
            raise IntegrityError(f"{path}: cannot read the signature ({exc.strerror})") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SignatureError(f"{path}: not a JSON Sigstore bundle ({exc})") from None
        if not isinstance(data, dict) or data.get("mediaType") != BUNDLE_MEDIA_TYPE:
            media = data.get("mediaType") if isinstance(data, dict) else None
            raise SignatureError(f"{path}: bundle media type {media!r}, expected {BUNDLE_MEDIA_TYPE}")
        try:
            envelope = data["dsseEnvelope"]
            signatures = envelope["signatures"]
            if not isinstance(signatures, list) or len(signatures) != 1:
                raise SignatureError(f"{path}: the DSSE envelope must carry exactly one signature")
            material = data["verificationMaterial"]
            if not isinstance(material, dict):
                raise SignatureError(f"{path}: verificationMaterial is not an object")
            return cls(
                payload=base64.b64decode(envelope["payload"], validate=True),
                signature=base64.b64decode(signatures[0]["sig"], validate=True),
                material=material,
                payload_type=str(envelope["payloadType"]),
                raw=text,
            )
        except (KeyError, TypeError) as exc:
            raise SignatureError(f"{path}: the bundle lacks a DSSE envelope field ({exc})") from None
        except binascii.Error:
            raise SignatureError(f"{path}: payload or signature is not base64") from None


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: what is actually signed."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def resource_paths(resources: Sequence[Resource]) -> set[str]:
    """The files a statement covers (shards collapse to their file)."""
    return {r.path for r in resources}
