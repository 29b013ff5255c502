"""Keyless Sigstore bundles (Fulcio certificate, Rekor entry), checked with sigstore-python against a trust
root the caller supplies: nothing is fetched, so verification stays offline and pinned to that root."""

from __future__ import annotations

from pathlib import Path

from modelseal.core.errors import ModelsealError
from modelseal.core.extras import require
from modelseal.integrity.oms import SignatureError


def verify_keyless(bundle_json: str, *, trust_root: Path, identity: str, issuer: str) -> tuple[str, bytes]:
    """(payload type, payload) of a bundle whose certificate, log entry and identity all check out."""
    require("sigstore", "sigstore", feature="keyless Sigstore bundles")
    from sigstore.errors import Error as SigstoreError
    from sigstore.models import Bundle, TrustedRoot
    from sigstore.verify import Verifier, policy

    try:
        root = TrustedRoot.from_file(str(trust_root))
    except (OSError, ValueError, SigstoreError) as exc:
        raise ModelsealError(f"{trust_root}: not a usable Sigstore trusted root ({exc})") from None
    try:
        bundle = Bundle.from_json(bundle_json)
        payload_type, payload = Verifier(trusted_root=root).verify_dsse(
            bundle, policy.Identity(identity=identity, issuer=issuer)
        )
    except (SigstoreError, ValueError) as exc:
        raise SignatureError(
            f"keyless bundle does not verify for {identity!r} from {issuer!r} under {trust_root}: {exc}"
        ) from None
    return payload_type, payload
