"""Signed checkpoints in the C2SP signed-note format (the one transparency logs and witnesses use).

A checkpoint commits to the log's size and root; signing it with Ed25519 means a copy kept anywhere
else (a CI artifact, a witness) later proves whether the log was rewritten.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from modelseal.core.errors import ModelsealError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

_ED25519 = 0x01
_DASH = "\u2014"


class CheckpointError(ModelsealError):
    """A checkpoint is malformed or its signature does not verify."""


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    def body(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"


def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte key hash the signed-note format puts in front of each signature."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([_ED25519]) + public_key).digest()[:4]


@dataclass(frozen=True)
class SigningKey:
    name: str
    private: Ed25519PrivateKey

    @property
    def public_bytes(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    def sign(self, checkpoint: Checkpoint) -> str:
        body = checkpoint.body()
        sig = self.private.sign(body.encode())
        blob = base64.b64encode(key_id(self.name, self.public_bytes) + sig).decode()
        return f"{body}\n{_DASH} {self.name} {blob}\n"


def require_signing() -> None:
    """Checkpoints are Ed25519-signed: without ``cryptography`` the log can be neither written nor checked."""
    try:
        import cryptography  # noqa: F401
    except ImportError:
        raise CheckpointError(
            "the audit log signs its checkpoints with Ed25519: pip install 'modelseal[signing]'"
        ) from None


def load_or_create_key(path: Path, name: str) -> SigningKey:
    """The log's Ed25519 key, created (mode 0600) on first use; a key that cannot be read is an error."""
    require_signing()
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(base64.b64encode(os.urandom(32)).decode() + "\n")
    except FileExistsError:
        pass  # another process created it first: use theirs
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot create the audit signing key ({exc})") from exc
    try:
        seed = base64.b64decode(path.read_text().strip(), validate=True)
        return SigningKey(name, Ed25519PrivateKey.from_private_bytes(seed))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: cannot read the audit signing key ({exc})") from exc


def parse_note(note: str) -> tuple[Checkpoint, list[tuple[str, bytes]]]:
    """Split a signed note into its checkpoint and its (signer name, key id + signature) lines."""
    body, sep, sigs = note.partition("\n\n")
    if not sep:
        raise CheckpointError("checkpoint has no signature block")
    lines = body.split("\n")
    if len(lines) < 3:
        raise CheckpointError("checkpoint body needs origin, size and root")
    try:
        size = int(lines[1])
        root = base64.b64decode(lines[2], validate=True)
    except ValueError as exc:
        raise CheckpointError(f"checkpoint size or root is malformed ({exc})") from None
    if size < 0 or len(root) != 32 or str(size) != lines[1]:
        raise CheckpointError("checkpoint size or root is malformed")
    signatures = []
    for line in sigs.splitlines():
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != _DASH:
            raise CheckpointError(f"malformed signature line {line!r}")
        try:
            signatures.append((parts[1], base64.b64decode(parts[2], validate=True)))
        except ValueError:
            raise CheckpointError(f"malformed signature line {line!r}") from None
    return Checkpoint(lines[0], size, root), signatures


def verify_note(note: str, name: str, public_key: bytes) -> Checkpoint:
    """The checkpoint in ``note`` if ``name``'s key signed exactly this body; else CheckpointError."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    checkpoint, signatures = parse_note(note)
    if note.partition("\n\n")[0] + "\n" != checkpoint.body():
        raise CheckpointError("checkpoint body has extra or non-canonical lines")
    want = key_id(name, public_key)
    try:
        verifier = Ed25519PublicKey.from_public_bytes(public_key)
    except ValueError as exc:
        raise CheckpointError(f"public key is not an Ed25519 key ({exc})") from None
    for signer, blob in signatures:
        if signer == name and blob[:4] == want:
            try:
                verifier.verify(blob[4:], checkpoint.body().encode())
            except InvalidSignature:
                raise CheckpointError(f"signature by {name} does not verify") from None
            return checkpoint
    raise CheckpointError(f"checkpoint carries no signature by {name} with the expected key")
