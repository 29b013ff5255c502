"""Signing and verification, with interop both ways with the OpenSSF ``model-signing`` package."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from modelseal.integrity.oms import Bundle, Serialization, SignatureError, Statement
from modelseal.integrity.signing import key_hint, load_public_key, sign, verify_model
from modelseal.sources.local import resolve_local

from .conftest import MODEL_FILES, KeyMaker

ms = pytest.importorskip("model_signing")

TAMPER_TARGETS = ["model-00001-of-00002.safetensors", "tokenizer.json", "config.json", ".gitattributes"]


def _sign(model: Path, key: Path, out: Path, **kw: object) -> Path:
    out.write_text(sign(resolve_local(str(model)), key, **kw).to_json())  # type: ignore[arg-type]
    return out


def _ms_hashing(shard_size: int | None = None) -> object:
    """model-signing's hashing config that includes .git* files like modelseal does by default."""
    cfg = ms.hashing.Config().set_ignored_paths(paths=[], ignore_git_paths=False)
    if shard_size:
        cfg = cfg.use_shard_serialization(shard_size=shard_size)
    return cfg


def _ms_verify(model: Path, sig: Path, pub: Path, shard_size: int | None = None) -> None:
    ms.verifying.Config().use_elliptic_key_verifier(public_key=pub).set_hashing_config(
        _ms_hashing(shard_size)
    ).verify(model, sig)


@pytest.mark.parametrize("curve", ["p256", "p384", "p521"])
def test_modelseal_signature_verifies_with_model_signing(
    model: Path, make_key: KeyMaker, tmp_path: Path, curve: str
) -> None:
    priv, pub = make_key(curve)
    sig = _sign(model, priv, tmp_path / "model.sig")
    _ms_verify(model, sig, pub)
    # and the payload is what the format says
    bundle = json.loads(sig.read_text())
    assert bundle["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "https://model_signing/signature/v1.0"
    assert [r["name"] for r in statement["predicate"]["resources"]] == sorted(
        MODEL_FILES, key=lambda n: tuple(n.split("/"))
    )


def test_modelseal_shards_signature_verifies_with_model_signing(
    model: Path, make_key: KeyMaker, tmp_path: Path
) -> None:
    priv, pub = make_key("p256")
    sig = _sign(
        model, priv, tmp_path / "s.sig", serialization=Serialization(method="shards", shard_size=1024)
    )
    _ms_verify(model, sig, pub, shard_size=1024)
    # the shard size is written as an integer, so model-signing can also guess the configuration itself
    # (its guess always ignores .git* files, so leave none for this part)
    (model / ".gitattributes").unlink()
    sig = _sign(
        model, priv, tmp_path / "s2.sig", serialization=Serialization(method="shards", shard_size=1024)
    )
    ms.verifying.Config().use_elliptic_key_verifier(public_key=pub).verify(model, sig)


@pytest.mark.parametrize("method", ["files", "shards"])
def test_model_signing_signature_verifies_with_modelseal(
    model: Path, make_key: KeyMaker, tmp_path: Path, method: str
) -> None:
    priv, pub = make_key("p384")
    sig = tmp_path / "ms.sig"
    hashing = _ms_hashing(1024 if method == "shards" else None)
    ms.signing.Config().use_elliptic_key_signer(private_key=priv).set_hashing_config(hashing).sign(model, sig)
    result = verify_model(resolve_local(str(model)), sig, public_key=pub)
    assert result.ok, result.differences
    assert result.signer.startswith("key:")


def test_model_signing_default_ignores_are_reported_not_silent(
    model: Path, make_key: KeyMaker, tmp_path: Path
) -> None:
    priv, pub = make_key("p256")
    sig = tmp_path / "ms.sig"
    ms.signing.Config().use_elliptic_key_signer(private_key=priv).sign(model, sig)  # ignores .git* by default
    result = verify_model(resolve_local(str(model)), sig, public_key=pub)
    assert result.ok
    assert result.uncovered == (".gitattributes",)


@pytest.mark.parametrize("target", TAMPER_TARGETS)
@pytest.mark.parametrize("signer", ["modelseal", "model-signing"])
def test_tampering_any_single_file_fails_naming_it(
    model: Path, make_key: KeyMaker, tmp_path: Path, target: str, signer: str
) -> None:
    priv, pub = make_key("p256")
    sig = tmp_path / "model.sig"
    if signer == "modelseal":
        _sign(model, priv, sig)
    else:
        ms.signing.Config().use_elliptic_key_signer(private_key=priv).set_hashing_config(_ms_hashing()).sign(
            model, sig
        )
    path = model / target
    path.write_bytes(path.read_bytes() + b" ")
    result = verify_model(resolve_local(str(model)), sig, public_key=pub)
    assert [(d.kind, d.subject) for d in result.differences] == [("changed", target)]
    assert [(f.rule_id, f.file) for f in result.findings()] == [("MS-SIGNATURE-INVALID", target)]
    if signer == "modelseal":  # the reference verifier sees the same tampering in our signature
        with pytest.raises(ValueError, match=target.replace(".", r"\.")):
            _ms_verify(model, sig, pub)


def test_added_and_removed_files_are_named(model: Path, make_key: KeyMaker, tmp_path: Path) -> None:
    priv, pub = make_key("p256")
    sig = _sign(model, priv, tmp_path / "model.sig")
    (model / "extra.py").write_text("print('hi')\n")
    (model / "nested" / "generation_config.json").unlink()
    result = verify_model(resolve_local(str(model)), sig, public_key=pub)
    assert {(d.kind, d.subject) for d in result.differences} == {
        ("added", "extra.py"),
        ("missing", "nested/generation_config.json"),
    }
    with pytest.raises(ValueError, match=r"extra\.py"):
        _ms_verify(model, sig, pub)


def test_shards_name_the_tampered_file(model: Path, make_key: KeyMaker, tmp_path: Path) -> None:
    priv, pub = make_key("p256")
    sig = _sign(
        model, priv, tmp_path / "s.sig", serialization=Serialization(method="shards", shard_size=1000)
    )
    weights = model / "model-00001-of-00002.safetensors"
    data = bytearray(weights.read_bytes())
    data[2500] ^= 1
    weights.write_bytes(bytes(data))
    result = verify_model(resolve_local(str(model)), sig, public_key=pub)
    assert [d.subject for d in result.differences] == ["model-00001-of-00002.safetensors:2000:3000"]


def test_signature_inside_the_model_signs_everything_else(model: Path, make_key: KeyMaker) -> None:
    from modelseal.integrity.signing import self_path

    priv, pub = make_key("p256")
    sig = model / "model.sig"
    art = resolve_local(str(model))
    sig.write_text(
        sign(art, priv, serialization=Serialization(ignore_paths=(".git", *self_path(sig, art)))).to_json()
    )
    assert verify_model(resolve_local(str(model)), sig, public_key=pub).ok


def test_wrong_key_is_named(model: Path, make_key: KeyMaker, tmp_path: Path) -> None:
    priv, pub = make_key("p256")
    _, other_pub = make_key("p256")
    sig = _sign(model, priv, tmp_path / "model.sig")
    with pytest.raises(SignatureError) as err:
        verify_model(resolve_local(str(model)), sig, public_key=other_pub)
    assert f"signed by key {key_hint(load_public_key(pub))}, but {other_pub} is key" in str(err.value)


def test_altered_statement_fails_the_signature(model: Path, make_key: KeyMaker, tmp_path: Path) -> None:
    priv, pub = make_key("p256")
    sig = _sign(model, priv, tmp_path / "model.sig")
    bundle = json.loads(sig.read_text())
    payload = base64.b64decode(bundle["dsseEnvelope"]["payload"]).replace(b'"config.json"', b'"config.jsom"')
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(payload).decode()
    sig.write_text(json.dumps(bundle))
    with pytest.raises(SignatureError, match="does not verify"):
        verify_model(resolve_local(str(model)), sig, public_key=pub)


def test_ed25519_signs_and_verifies(model: Path, make_key: KeyMaker, tmp_path: Path) -> None:
    priv, pub = make_key("ed25519")
    sig = _sign(model, priv, tmp_path / "model.sig")
    assert verify_model(resolve_local(str(model)), sig, public_key=pub).ok


def test_unsupported_curve_is_refused(model: Path, make_key: KeyMaker, tmp_path: Path) -> None:
    priv, _ = make_key("k256")
    with pytest.raises(SignatureError, match="not supported"):
        _sign(model, priv, tmp_path / "model.sig")


def test_certificate_chain_sign_and_verify(
    model: Path, pki: dict[str, Path], make_key: KeyMaker, tmp_path: Path
) -> None:
    sig = _sign(
        model, pki["leaf_key"], tmp_path / "c.sig", certificate=pki["leaf"], chain=[pki["intermediate"]]
    )
    art = resolve_local(str(model))
    result = verify_model(art, sig, trust_anchors=[pki["root"]], identity="ml@example.org")
    assert result.ok and result.signer == "ml@example.org"
    with pytest.raises(SignatureError, match="does not chain"):
        verify_model(art, sig, trust_anchors=[pki["other_root"]])
    with pytest.raises(SignatureError, match=r"signed by 'ml@example\.org', expected 'eve@example\.org'"):
        verify_model(art, sig, trust_anchors=[pki["root"]], identity="eve@example.org")
    _, stranger = make_key("p256")
    with pytest.raises(SignatureError, match=r"signed by 'ml@example\.org' with key [0-9a-f]{64}, not with"):
        verify_model(art, sig, trust_anchors=[pki["root"]], public_key=stranger)
    # model-signing accepts our certificate bundle
    ms.verifying.Config().use_certificate_verifier(certificate_chain=[pki["root"]]).set_hashing_config(
        _ms_hashing()
    ).verify(model, sig)


def test_model_signing_certificate_bundle_verifies_with_modelseal(
    model: Path, pki: dict[str, Path], tmp_path: Path
) -> None:
    sig = tmp_path / "ms-cert.sig"
    ms.signing.Config().use_certificate_signer(
        private_key=pki["leaf_key"], signing_certificate=pki["leaf"], certificate_chain=[pki["intermediate"]]
    ).set_hashing_config(_ms_hashing()).sign(model, sig)
    result = verify_model(resolve_local(str(model)), sig, trust_anchors=[pki["root"]])
    assert result.ok and result.signer == "ml@example.org"


def test_statement_checks_fail_closed() -> None:
    good = Statement("m", Serialization(), ())
    data = json.loads(good.to_payload())
    data["subject"][0]["digest"]["sha256"] = "00" * 32
    with pytest.raises(SignatureError, match="subject digest"):
        Statement.from_payload(json.dumps(data).encode())
    data = json.loads(good.to_payload())
    data["predicateType"] = "https://example.org/other"
    with pytest.raises(SignatureError, match="predicate type"):
        Statement.from_payload(json.dumps(data).encode())
    data = json.loads(good.to_payload())
    data["predicate"]["resources"] = [{"name": "../etc/passwd", "algorithm": "sha256", "digest": "00" * 32}]
    with pytest.raises(SignatureError, match="not a relative path"):
        Statement.from_payload(json.dumps(data).encode())


def test_malformed_bundle_is_a_signature_error(tmp_path: Path) -> None:
    p = tmp_path / "bad.sig"
    p.write_text('{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "dsseEnvelope": {}}')
    with pytest.raises(SignatureError):
        Bundle.read(p)
    p.write_text("not json")
    with pytest.raises(SignatureError):
        Bundle.read(p)


def _keyless_bundle(model: Path, pki: dict[str, Path], out: Path) -> Path:
    """A bundle shaped like a keyless Sigstore one (leaf certificate, no chain) from our own test CA."""
    cert_bundle = json.loads(
        _sign(model, pki["leaf_key"], out, certificate=pki["leaf"], chain=[pki["intermediate"]]).read_text()
    )
    leaf = cert_bundle["verificationMaterial"]["x509CertificateChain"]["certificates"][0]
    cert_bundle["verificationMaterial"] = {"certificate": leaf, "tlogEntries": []}
    out.write_text(json.dumps(cert_bundle))
    return out


def test_keyless_bundle_needs_a_trust_root(model: Path, pki: dict[str, Path], tmp_path: Path) -> None:
    sig = _keyless_bundle(model, pki, tmp_path / "keyless.sig")
    with pytest.raises(SignatureError, match="--trust-root"):
        verify_model(resolve_local(str(model)), sig)


def test_keyless_bundle_without_log_entry_fails_closed(
    model: Path, pki: dict[str, Path], tmp_path: Path
) -> None:
    sigstore = pytest.importorskip("sigstore")
    shipped = Path(sigstore.__file__).parent / "_store" / "https%3A%2F%2Ftuf-repo-cdn.sigstore.dev"
    trust_root = shipped / "trusted_root.json"
    if not trust_root.is_file():
        pytest.skip("sigstore does not ship its production trusted root here")
    sig = _keyless_bundle(model, pki, tmp_path / "keyless.sig")
    with pytest.raises(SignatureError, match=r"does not verify for 'ml@example\.org'"):
        verify_model(
            resolve_local(str(model)),
            sig,
            trust_root=trust_root,
            identity="ml@example.org",
            issuer="https://accounts.example.org",
        )


def test_single_file_model_interop(model: Path, make_key: KeyMaker, tmp_path: Path) -> None:
    """A single-file model's only resource is named "." in the format, both ways."""
    priv, pub = make_key("p256")
    weights = model / "model-00002-of-00002.safetensors"
    ours = _sign(weights, priv, tmp_path / "ours.sig")
    ms.verifying.Config().use_elliptic_key_verifier(public_key=pub).verify(weights, ours)
    theirs = tmp_path / "theirs.sig"
    ms.signing.Config().use_elliptic_key_signer(private_key=priv).sign(weights, theirs)
    assert verify_model(resolve_local(str(weights)), theirs, public_key=pub).ok
    weights.write_bytes(b"other")
    assert [d.kind for d in verify_model(resolve_local(str(weights)), ours, public_key=pub).differences] == [
        "changed"
    ]
