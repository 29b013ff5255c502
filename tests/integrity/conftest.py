"""Fixtures: small models, keys, certificate chains and Hugging Face cache layouts, all generated here."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

MODEL_FILES = {
    "model-00001-of-00002.safetensors": os.urandom(5000),
    "model-00002-of-00002.safetensors": os.urandom(3000),
    "tokenizer.json": json.dumps({"model": {"vocab": {"a": 0, "b": 1}}}).encode(),
    "config.json": json.dumps({"architectures": ["BertModel"], "hidden_size": 8}).encode(),
    ".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n",
    "nested/generation_config.json": b"{}",
}


@pytest.fixture
def model(tmp_path: Path) -> Path:
    root = tmp_path / "model"
    for rel, data in MODEL_FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> tuple[Path, Path]:
    priv = path.with_suffix(".pem")
    pub = path.with_suffix(".pub")
    priv.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    pub.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return priv, pub


KeyMaker = Callable[[str], tuple[Path, Path]]


@pytest.fixture
def make_key(tmp_path: Path) -> KeyMaker:
    """``make_key("p256")`` → (private PEM, public PEM) paths."""

    def make(kind: str) -> tuple[Path, Path]:
        curves = {
            "p256": ec.SECP256R1(),
            "p384": ec.SECP384R1(),
            "p521": ec.SECP521R1(),
            "k256": ec.SECP256K1(),
        }
        key = (
            ed25519.Ed25519PrivateKey.generate()
            if kind == "ed25519"
            else ec.generate_private_key(curves[kind])
        )
        return _write_key(tmp_path / f"{kind}-{os.urandom(4).hex()}", key)

    return make


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool,
    email: str | None = None,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name, issuer_key = issuer or (name, key)
    now = dt.datetime.now(dt.timezone.utc)
    b = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    if not ca:
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        if email:
            b = b.add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Path]:
    """A root CA, an intermediate and a code-signing leaf for ``ml@example.org``, as PEM files."""
    pem = serialization.Encoding.PEM
    root_key, inter_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = _cert("Test Root", root_key, None, ca=True)
    inter = _cert("Test Intermediate", inter_key, (root.subject, root_key), ca=True)
    leaf = _cert("Model Publisher", leaf_key, (inter.subject, inter_key), ca=False, email="ml@example.org")
    other_key = ec.generate_private_key(ec.SECP256R1())
    other_root = _cert("Other Root", other_key, None, ca=True)
    out = {
        "root": tmp_path / "root.pem",
        "intermediate": tmp_path / "intermediate.pem",
        "leaf": tmp_path / "leaf.pem",
        "other_root": tmp_path / "other_root.pem",
    }
    out["root"].write_bytes(root.public_bytes(pem))
    out["intermediate"].write_bytes(inter.public_bytes(pem))
    out["leaf"].write_bytes(leaf.public_bytes(pem))
    out["other_root"].write_bytes(other_root.public_bytes(pem))
    out["leaf_key"], _ = _write_key(tmp_path / "leaf-key", leaf_key)
    return out


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def build_hf_cache(
    cache: Path, repo_id: str, files: dict[str, bytes], *, commit: str | None = None, ref: str = "main"
) -> Path:
    """Lay out one revision exactly as huggingface_hub's cache does; returns the snapshot folder.

    Folder names come from huggingface_hub itself (``repo_folder_name``); blobs are named by the SHA-256 of
    LFS files (here: ``*.safetensors``, as ``.gitattributes`` says) and by the git blob SHA-1 of the others;
    snapshot entries are relative links ``../../blobs/<name>`` (one ``..`` more per sub-folder).
    """
    from huggingface_hub.file_download import repo_folder_name

    repo = cache / repo_folder_name(repo_id=repo_id, repo_type="model")
    commit = commit or hashlib.sha1(repr(sorted(files.items())).encode()).hexdigest()
    snapshot = repo / "snapshots" / commit
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / ref).write_text(commit)
    for rel, data in files.items():
        lfs = rel.endswith(".safetensors")
        name = hashlib.sha256(data).hexdigest() if lfs else git_blob_sha1(data)
        (repo / "blobs" / name).write_bytes(data)
        link = snapshot / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        depth = rel.count("/")
        link.symlink_to(Path(*([".."] * (2 + depth)), "blobs", name))
    return snapshot
