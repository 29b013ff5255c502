"""Sign a model and verify its signature offline with keys or certificate chains (OpenSSF model signing v1.0).

ECDSA keys on P-256, P-384 and P-521 sign with SHA-256, SHA-384 and SHA-512 as Sigstore's key details
prescribe; Ed25519 signs the PAE directly. A public-key bundle carries a hint (hex SHA-256 of the PEM public
key) so a wrong key is named as such instead of failing as a bad signature. A certificate bundle carries the
chain, leaf first; it is validated against the trust anchors the caller gives, at the leaf's issuance time
because key-based bundles have no timestamp.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelseal.core.artifact import Artifact
from modelseal.core.differences import Difference, diff_digests
from modelseal.core.errors import IntegrityError
from modelseal.core.extras import require
from modelseal.core.findings import Finding
from modelseal.core.rules import make_finding
from modelseal.integrity.manifest import Manifest, is_ignored
from modelseal.integrity.oms import (
    PAYLOAD_TYPE,
    Bundle,
    Serialization,
    SignatureError,
    Statement,
    pae,
    statement_for,
)

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

    from modelseal.core.digestcache import DigestCache

_CURVE_HASH = {"secp256r1": "SHA256", "secp384r1": "SHA384", "secp521r1": "SHA512"}


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise IntegrityError(f"{path}: cannot read the {what} ({exc.strerror})") from None


def _check_key_type(key: PublicKeyTypes, origin: str) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in _CURVE_HASH:
            raise SignatureError(
                f"{origin}: curve {key.curve.name} is not supported; use P-256, P-384 or P-521"
            )
    elif not isinstance(key, ed25519.Ed25519PublicKey):
        raise SignatureError(f"{origin}: only ECDSA (P-256/384/521) and Ed25519 keys are supported")


def _require_cryptography() -> None:
    require("signing", "cryptography", feature="signing and verifying models")


def load_private_key(path: Path, password: bytes | None = None) -> PrivateKeyTypes:
    _require_cryptography()
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_private_key(_read(path, "private key"), password)
    except (ValueError, TypeError) as exc:
        raise SignatureError(f"{path}: not a usable PEM private key ({exc})") from None
    _check_key_type(key.public_key(), str(path))
    return key


def load_public_key(path: Path) -> PublicKeyTypes:
    _require_cryptography()
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_public_key(_read(path, "public key"))
    except (ValueError, TypeError) as exc:
        raise IntegrityError(  # an unusable key stops the check (exit 2): it says nothing about the model
            f"{path}: not a PEM public key ({exc})",
            hint="give --public-key the signer's public key (BEGIN PUBLIC KEY), not its private key",
        ) from None
    _check_key_type(key, str(path))
    return key


def key_hint(key: PublicKeyTypes) -> str:
    """Hex SHA-256 of the PEM SubjectPublicKeyInfo: how the bundle names its key."""
    from cryptography.hazmat.primitives import serialization

    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(pem).hexdigest()


def _sign_bytes(key: PrivateKeyTypes, data: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(getattr(hashes, _CURVE_HASH[key.curve.name])()))
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    raise SignatureError("only ECDSA (P-256/384/521) and Ed25519 keys can sign")


def _verify_bytes(key: PublicKeyTypes, signature: bytes, data: bytes, who: str) -> None:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(getattr(hashes, _CURVE_HASH[key.curve.name])()))
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
        else:
            raise SignatureError(f"{who}: unsupported key type")
    except InvalidSignature:
        raise SignatureError(
            f"the signature does not verify with {who}: the statement was altered or signed by another key"
        ) from None


def sign(
    artifact: Artifact,
    private_key: Path,
    *,
    serialization: Serialization | None = None,
    certificate: Path | None = None,
    chain: Sequence[Path] = (),
    password: bytes | None = None,
    manifest: Manifest | None = None,
    cache: DigestCache | None = None,
) -> Bundle:
    """A bundle over the artifact's statement. With ``certificate`` the bundle carries it and ``chain``;
    ``cache`` supplies the digests of unchanged files."""
    _require_cryptography()
    from cryptography.hazmat.primitives import serialization as ser

    key = load_private_key(private_key, password)
    ser_ = serialization or Serialization()
    if not ser_.allow_symlinks and any(e.path.is_symlink() for e in artifact.files):
        ser_ = replace(ser_, allow_symlinks=True)
    material: dict[str, Any]
    if certificate is None:
        material = {"publicKey": {"hint": key_hint(key.public_key())}, "tlogEntries": []}
    else:
        certs = _load_pem_certificates([certificate, *chain])
        if certs[0].public_key() != key.public_key():
            raise SignatureError(f"{certificate}: the certificate's public key does not match {private_key}")
        raw = [{"rawBytes": base64.b64encode(c.public_bytes(ser.Encoding.DER)).decode()} for c in certs]
        material = {"x509CertificateChain": {"certificates": raw}, "tlogEntries": []}
    statement = statement_for(artifact, ser_, manifest=manifest, cache=cache)
    payload = statement.to_payload()
    return Bundle(payload, _sign_bytes(key, pae(PAYLOAD_TYPE, payload)), material)


def _load_pem_certificates(paths: Sequence[Path]) -> list[x509.Certificate]:
    from cryptography import x509

    certs: list[x509.Certificate] = []
    for path in paths:
        try:
            certs.extend(x509.load_pem_x509_certificates(_read(path, "certificate")))
        except ValueError as exc:
            raise SignatureError(f"{path}: not a PEM certificate ({exc})") from None
    return certs


def certificate_identity(cert: x509.Certificate) -> str:
    """Who a certificate names: its SAN e-mail or URI (as Sigstore does), else its subject."""
    from cryptography import x509

    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [
            *san.get_values_for_type(x509.RFC822Name),
            *san.get_values_for_type(x509.UniformResourceIdentifier),
        ]
        if names:
            return str(names[0])
    except x509.ExtensionNotFound:
        pass
    return cert.subject.rfc4514_string()


def _verify_chain(material: dict[str, Any], anchors: Sequence[Path]) -> tuple[PublicKeyTypes, str]:
    """Validate the bundle's chain against the anchors; return the leaf key and identity."""
    from cryptography import x509
    from cryptography.x509 import verification as v
    from cryptography.x509.oid import ExtendedKeyUsageOID

    try:
        raw = [
            base64.b64decode(c["rawBytes"], validate=True)
            for c in material["x509CertificateChain"]["certificates"]
        ]
        chain = [x509.load_der_x509_certificate(r) for r in raw]
    except (KeyError, TypeError, ValueError) as exc:
        raise SignatureError(f"the bundle's certificate chain is malformed ({exc})") from None
    if not chain:
        raise SignatureError("the bundle's certificate chain is empty")
    if not anchors:
        raise SignatureError(
            "the signature is certificate-based: give the trust anchors with --certificate-chain"
        )
    leaf, identity = chain[0], certificate_identity(chain[0])
    store = v.Store(_load_pem_certificates(anchors))
    verifier = (
        v.PolicyBuilder()
        .store(store)
        .time(leaf.not_valid_before_utc)
        .extension_policies(
            ca_policy=v.ExtensionPolicy.webpki_defaults_ca(), ee_policy=v.ExtensionPolicy.permit_all()
        )
        .build_client_verifier()
    )
    try:
        verifier.verify(leaf, chain[1:])
    except v.VerificationError as exc:
        raise SignatureError(
            f"certificate of {identity!r} does not chain to the trust anchors: {exc}"
        ) from None
    usable = False
    extensions = leaf.extensions
    with contextlib.suppress(x509.ExtensionNotFound):
        usable = extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    with contextlib.suppress(x509.ExtensionNotFound):
        usable = (
            usable
            or ExtendedKeyUsageOID.CODE_SIGNING
            in extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        )
    if not usable:
        raise SignatureError(
            f"certificate of {identity!r} is not allowed to sign (no digitalSignature/codeSigning)"
        )
    key = leaf.public_key()
    _check_key_type(key, f"certificate of {identity!r}")
    return key, identity


@dataclass(frozen=True)
class VerifiedSignature:
    """A bundle whose signature checked out: who signed, and the statement they signed."""

    signer: str
    """``key:<hint>`` for a bare key, the certificate identity otherwise."""
    statement: Statement


def verify_bundle(
    bundle: Bundle,
    *,
    public_key: Path | None = None,
    trust_anchors: Sequence[Path] = (),
    identity: str | None = None,
    trust_root: Path | None = None,
    issuer: str | None = None,
) -> VerifiedSignature:
    """Check the envelope's signature and parse the statement; any failure raises :class:`SignatureError`.

    Keyless Sigstore bundles need ``trust_root`` (a Sigstore trusted_root.json), ``identity`` and ``issuer``.
    """
    _require_cryptography()
    if bundle.payload_type != PAYLOAD_TYPE:
        raise SignatureError(f"DSSE payload type {bundle.payload_type!r}, expected {PAYLOAD_TYPE}")
    material = dict(bundle.material)
    if "x509CertificateChain" in material:
        key, signer = _verify_chain(material, trust_anchors)
        if identity is not None and signer != identity:
            raise SignatureError(f"signed by {signer!r}, expected {identity!r}")
        if public_key is not None and key_hint(load_public_key(public_key)) != key_hint(key):
            raise SignatureError(f"signed by {signer!r} with key {key_hint(key)}, not with {public_key}")
        who = f"the certificate of {signer!r}"
    elif "certificate" in material:
        if trust_root is None or identity is None or issuer is None:
            raise SignatureError(
                "this is a keyless Sigstore bundle: give --trust-root, --identity and --issuer to verify it"
            )
        from modelseal.integrity.sigstore import verify_keyless

        _, payload = verify_keyless(bundle.raw, trust_root=trust_root, identity=identity, issuer=issuer)
        return VerifiedSignature(identity, Statement.from_payload(payload))
    else:
        if public_key is None:
            raise SignatureError("the signature was made with a key: give its public key with --public-key")
        key = load_public_key(public_key)
        hint = key_hint(key)
        want = (
            material.get("publicKey", {}).get("hint") if isinstance(material.get("publicKey"), dict) else None
        )
        if want and want != hint:
            raise SignatureError(f"signed by key {want}, but {public_key} is key {hint}")
        signer, who = f"key:{hint}", f"key {public_key} ({hint})"
    _verify_bytes(key, bundle.signature, pae(bundle.payload_type, bundle.payload), who)
    return VerifiedSignature(signer, Statement.from_payload(bundle.payload))


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of checking a model against a signature."""

    signer: str
    differences: tuple[Difference, ...]
    uncovered: tuple[str, ...]
    """Files present but not covered: excluded by the signer's ``ignore_paths``, or empty under ``shards``
    (an empty file has no shard in the OpenSSF format). Listed so nothing passes unseen."""

    @property
    def ok(self) -> bool:
        return not self.differences

    def findings(self) -> tuple[Finding, ...]:
        return tuple(
            make_finding("MS-SIGNATURE-INVALID", f"signed by {self.signer}: {d}", file=d.subject)
            for d in self.differences
        )


def verify_model(
    artifact: Artifact,
    signature: Path,
    *,
    public_key: Path | None = None,
    trust_anchors: Sequence[Path] = (),
    identity: str | None = None,
    trust_root: Path | None = None,
    issuer: str | None = None,
    manifest: Manifest | None = None,
) -> VerifyResult:
    """Verify the signature, then rehash the model the way it was signed and name every difference."""
    _require_cryptography()
    verified = verify_bundle(
        Bundle.read(signature),
        public_key=public_key,
        trust_anchors=trust_anchors,
        identity=identity,
        trust_root=trust_root,
        issuer=issuer,
    )
    ser = verified.statement.serialization
    own = self_path(signature, artifact)
    ignore = (*ser.ignore_paths, *own)
    redo = replace(ser, ignore_paths=ignore)
    local = statement_for(artifact, redo, manifest=manifest)
    differences = [Difference("rejected", rel, reason) for rel, reason in artifact.rejected]
    differences += diff_digests(verified.statement.digests(), local.digests())
    uncovered = tuple(
        e.relpath
        for e in artifact.files
        if e.relpath not in own
        and (is_ignored(e.relpath, ignore) or (ser.method == "shards" and e.size == 0))
    )
    return VerifyResult(verified.signer, tuple(differences), uncovered)


def self_path(path: Path, artifact: Artifact) -> tuple[str, ...]:
    """The signature's own path when it lies inside the model (it cannot sign itself)."""
    try:
        return (path.resolve().relative_to(artifact.root.resolve()).as_posix(),)
    except ValueError:
        return ()
