"""``modelseal sign``, ``verify`` and ``lock``: thin shells over :mod:`modelseal.integrity`.

Every failure names what differs (file, key, identity, revision) and exits 1; errors that stop the check
(unreadable key, malformed lockfile) exit 2; a command line without anything to check exits 4.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from modelseal.cli import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, EXIT_USAGE
from modelseal.core.errors import ModelsealError
from modelseal.integrity.diff import Difference

if TYPE_CHECKING:
    from modelseal.integrity.oms import Serialization
    from modelseal.sources.resolve import Resolved

EXIT_DIFF = EXIT_FINDINGS


def _resolve(target: str, offline: bool, cache_dir: Path | None) -> Resolved:
    from modelseal.sources.resolve import resolve

    return resolve(target, offline=offline, cache_dir=cache_dir)


def _err(message: str) -> None:
    from rich.console import Console

    Console(stderr=True, highlight=False).print(message, markup=False)


def _fail(error: ModelsealError) -> typer.Exit:
    from modelseal.integrity.oms import SignatureError

    _err(f"error: {error}" if not isinstance(error, SignatureError) else f"FAILED: {error}")
    return typer.Exit(EXIT_DIFF if isinstance(error, SignatureError) else EXIT_ERROR)


def _report(title: str, differences: tuple[Difference, ...] | list[Difference]) -> None:
    typer.echo(f"FAILED {title}" if differences else f"OK {title}")
    for d in differences:
        typer.echo(f"  {d.kind}: {d}")


def _serialization(
    method: str, hash_type: str, shard_size: int, ignore: list[str], ignore_git: bool, extra: tuple[str, ...]
) -> Serialization:
    from modelseal.integrity.manifest import DEFAULT_IGNORE
    from modelseal.integrity.oms import Serialization

    git = (".git", ".gitattributes", ".github", ".gitignore") if ignore_git else ()
    patterns = tuple(dict.fromkeys([*DEFAULT_IGNORE, *git, *ignore, *extra]))
    return Serialization(method=method, hash_type=hash_type, ignore_paths=patterns, shard_size=shard_size)


Model = Annotated[str, typer.Argument(help="Model folder, file or hf://org/name@rev.")]
Offline = Annotated[
    bool, typer.Option("--offline", help="hf:// only: use the local cache, never the network.")
]
CacheDir = Annotated[
    Path | None, typer.Option("--cache-dir", help="hf:// only: Hugging Face hub cache folder.")
]
HashType = Annotated[str, typer.Option("--hash", help="sha256 (default) or blake3.")]
Ignore = Annotated[
    list[str], typer.Option("--ignore", help="Path (relative to the model) to leave out; repeatable.")
]
LockPath = Annotated[Path, typer.Option("--lockfile", help="The lockfile.")]
Certs = Annotated[list[Path], typer.Option("--certificate-chain", help="PEM certificates (repeatable).")]


def sign(
    model: Model,
    private_key: Annotated[
        Path, typer.Option("--private-key", help="PEM private key (ECDSA P-256/384/521, Ed25519).")
    ],
    signature: Annotated[Path, typer.Option("--signature", help="Where to write the Sigstore bundle.")],
    certificate: Annotated[
        Path | None, typer.Option("--certificate", help="Signing certificate for the key.")
    ] = None,
    chain: Certs = [],  # noqa: B006 - typer reads, never mutates, the default
    method: Annotated[str, typer.Option("--method", help="Serialisation: files or shards.")] = "files",
    hash_type: HashType = "sha256",
    shard_size: Annotated[
        int, typer.Option("--shard-size", help="Bytes per shard (--method shards).")
    ] = 1_000_000_000,
    ignore: Ignore = [],  # noqa: B006
    ignore_git: Annotated[
        bool, typer.Option("--ignore-git", help="Leave out .git*, as the OpenSSF tool does.")
    ] = False,
    password_env: Annotated[
        str | None, typer.Option("--password-env", help="Variable holding the key password.")
    ] = None,
    offline: Offline = False,
    cache_dir: CacheDir = None,
) -> None:
    """Sign every file of a model (OpenSSF model signing v1.0 format)."""
    from modelseal.integrity.signing import self_path
    from modelseal.integrity.signing import sign as do_sign

    try:
        t = _resolve(model, offline, cache_dir)
        password = os.environ.get(password_env, "").encode() if password_env else None
        ser = _serialization(
            method, hash_type, shard_size, ignore, ignore_git, self_path(signature, t.artifact)
        )
        bundle = do_sign(
            t.artifact,
            private_key,
            serialization=ser,
            certificate=certificate,
            chain=chain,
            password=password,
        )
        signature.write_text(bundle.to_json(), encoding="utf-8")
    except ModelsealError as exc:
        raise _fail(exc) from None
    typer.echo(f"signed {model}: {signature}")


def verify(
    model: Model,
    public_key: Annotated[
        Path | None, typer.Option("--public-key", help="PEM public key of the signer.")
    ] = None,
    signature: Annotated[Path | None, typer.Option("--signature", help="Sigstore bundle to verify.")] = None,
    anchors: Certs = [],  # noqa: B006
    identity: Annotated[str | None, typer.Option("--identity", help="Required certificate identity.")] = None,
    trust_root: Annotated[
        Path | None, typer.Option("--trust-root", help="Sigstore trusted_root.json (keyless bundles).")
    ] = None,
    issuer: Annotated[str | None, typer.Option("--issuer", help="OIDC issuer (keyless bundles).")] = None,
    locked: Annotated[
        bool, typer.Option("--locked", help="Compare with the model's lockfile entry.")
    ] = False,
    lockfile: LockPath = Path("modelseal.lock"),
    entry: Annotated[
        str | None, typer.Option("--entry", help="Lock entry to compare with (mirror check).")
    ] = None,
    offline: Offline = False,
    cache_dir: CacheDir = None,
) -> None:
    """Verify a model against its signature and/or its lockfile entry; exit 1 naming each difference.

    With a certificate signature, --certificate-chain gives the trust anchors."""
    if signature is None and not locked:
        _err("usage: give --signature FILE, --locked, or both")
        raise typer.Exit(EXIT_USAGE)
    from modelseal.integrity.lockfile import check_lock, read_lock
    from modelseal.integrity.manifest import manifest_for
    from modelseal.integrity.signing import verify_model
    from modelseal.sources.hf import verify_snapshot

    failed = False
    try:
        t = _resolve(model, offline, cache_dir)
        manifest = manifest_for(t.artifact)
        signer = None
        if t.snapshot is not None:
            cache = verify_snapshot(t.snapshot)
            _report(f"{model}: Hugging Face cache record ({cache.checked} files)", cache.differences)
            failed |= not cache.ok
        if signature is not None:
            result = verify_model(
                t.artifact,
                signature,
                public_key=public_key,
                trust_anchors=anchors,
                identity=identity,
                trust_root=trust_root,
                issuer=issuer,
                manifest=manifest,
            )
            signer = result.signer
            _report(f"{model}: signature by {result.signer}", result.differences)
            for rel in result.uncovered:
                _err(f"note: {rel} is not covered by the signature (ignored by the signer)")
            failed |= not result.ok
        if locked:
            lock = read_lock(lockfile)
            key = entry or t.lock_key
            found = lock.get(key)
            if found is None:
                _report(f"{model}: lock", [Difference("entry", key, f"no entry in {lockfile}")])
                raise typer.Exit(EXIT_DIFF)
            check = check_lock(
                t.artifact, found, revision=t.revision, repo_uid=t.repo_uid, signer=signer, manifest=manifest
            )
            _report(f"{model}: lock entry {key} in {lockfile}", check.differences)
            failed |= not check.ok
    except ModelsealError as exc:
        raise _fail(exc) from None
    raise typer.Exit(EXIT_DIFF if failed else EXIT_OK)


def lock(
    models: Annotated[list[str], typer.Argument(help="Models to pin: folders, files or hf://org/name@rev.")],
    lockfile: LockPath = Path("modelseal.lock"),
    hash_type: HashType = "sha256",
    ignore: Ignore = [],  # noqa: B006
    signer: Annotated[
        str | None, typer.Option("--signer", help="Expected signer (key:<hint> or identity).")
    ] = None,
    offline: Offline = False,
    cache_dir: CacheDir = None,
) -> None:
    """Add or update lockfile entries: per-file digests, manifest digest, revision, expected signer."""
    from modelseal.integrity.lockfile import lock_entry, read_lock, write_lock
    from modelseal.integrity.manifest import DEFAULT_IGNORE, manifest_for

    try:
        current = read_lock(lockfile)
        for model in models:
            t = _resolve(model, offline, cache_dir)
            manifest = manifest_for(t.artifact, hash_type, ignore=(*DEFAULT_IGNORE, *ignore))
            if manifest.rejected:
                _report(
                    f"{model}: not locked", [Difference("rejected", r, why) for r, why in manifest.rejected]
                )
                raise typer.Exit(EXIT_DIFF)
            new = lock_entry(t.lock_key, manifest, revision=t.revision, repo_uid=t.repo_uid, signer=signer)
            current = current.with_entry(new)
            typer.echo(f"locked {t.lock_key}: {manifest.digest} ({len(manifest.files)} files)")
            for rel in manifest.ignored:
                _err(f"note: {rel} ignored (not pinned)")
        write_lock(lockfile, current)
    except ModelsealError as exc:
        raise _fail(exc) from None


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    app.command("sign")(sign)
    app.command("verify")(verify)
    app.command("lock")(lock)
