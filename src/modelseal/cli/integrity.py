"""``modelseal sign``, ``verify`` and ``lock``: build requests for :mod:`modelseal.api.integrity`, render.

Every failure names what differs (file, key, identity, revision) and exits 1; errors that stop the check
(unreadable key, malformed lockfile) exit 2; a command line without anything to check exits 4.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from modelseal.cli import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, EXIT_USAGE
from modelseal.cli.options import CacheDir, NoDigestCache, Offline
from modelseal.core.errors import ModelsealError

if TYPE_CHECKING:
    from modelseal.core.differences import Difference

EXIT_DIFF = EXIT_FINDINGS


def _err(message: str) -> None:
    from rich.console import Console

    Console(stderr=True, highlight=False, soft_wrap=True).print(message, markup=False)


def _fail(error: ModelsealError) -> typer.Exit:
    """A signature that does not verify is a difference (exit 1); any other error stops the check (2)."""
    from modelseal.api.integrity import SignatureError

    failed = isinstance(error, SignatureError)
    _err(f"FAILED: {error.one_line()}" if failed else f"error: {error.one_line()}")
    return typer.Exit(EXIT_DIFF if failed else EXIT_ERROR)


def _report(title: str, differences: Sequence[Difference]) -> None:
    typer.echo(f"FAILED {title}" if differences else f"OK {title}")
    for d in differences:
        typer.echo(f"  {d.kind}: {d}")


Model = Annotated[str, typer.Argument(metavar="MODEL", help="Model folder, file or hf://org/name@rev.")]
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
    no_digest_cache: NoDigestCache = False,
) -> None:
    """Sign every file of a model (OpenSSF model signing v1.0 format)."""
    from modelseal.api.integrity import SignRequest, Where
    from modelseal.api.integrity import sign as do_sign

    try:
        do_sign(
            SignRequest(
                Where(model, offline, cache_dir),
                private_key,
                signature,
                certificate,
                tuple(chain),
                method,
                hash_type,
                shard_size,
                tuple(ignore),
                ignore_git,
                os.environ.get(password_env, "").encode() if password_env else None,
                digest_cache=not no_digest_cache,
            )
        )
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
    trust_digest_cache: Annotated[
        bool,
        typer.Option(
            "--trust-digest-cache",
            help="Take digests of files unchanged since lock/sign/scan cached them instead of reading them.",
        ),
    ] = False,
) -> None:
    """Verify a model against its signature and/or its lockfile entry; exit 1 naming each difference.

    With a certificate signature, --certificate-chain gives the trust anchors."""
    if signature is None and not locked:
        _err("usage: give --signature FILE, --locked, or both")
        raise typer.Exit(EXIT_USAGE)
    from modelseal.api.checks import SignatureCheck
    from modelseal.api.integrity import VerifyRequest, Where
    from modelseal.api.integrity import verify as do_verify

    check = None
    if signature is not None:
        check = SignatureCheck(signature, public_key, tuple(anchors), identity, trust_root, issuer)
    try:
        where = Where(model, offline, cache_dir)
        result = do_verify(VerifyRequest(where, check, locked, lockfile, entry, trust_digest_cache))
    except ModelsealError as exc:
        raise _fail(exc) from None
    if result.cache is not None:
        _report(
            f"{model}: Hugging Face cache record ({result.cache.checked} files)", result.cache.differences
        )
    sig = result.signature
    if sig is not None and sig.result is not None:
        _report(f"{model}: signature by {sig.result.signer}", sig.result.differences)
        for rel in sig.result.uncovered:
            _err(f"note: {rel} is not covered by the signature (ignored by the signer)")
    if result.lock is not None:
        if result.lock.check is None:
            _report(f"{model}: lock", result.lock_differences)
        else:
            _report(f"{model}: lock entry {result.lock.key} in {lockfile}", result.lock_differences)
    raise typer.Exit(EXIT_OK if result.ok else EXIT_DIFF)


def lock(
    models: Annotated[
        list[str],
        typer.Argument(metavar="MODEL...", help="Models to pin: folders, files or hf://org/name@rev."),
    ],
    lockfile: LockPath = Path("modelseal.lock"),
    hash_type: HashType = "sha256",
    ignore: Ignore = [],  # noqa: B006
    signer: Annotated[
        str | None, typer.Option("--signer", help="Expected signer (key:<hint> or identity).")
    ] = None,
    offline: Offline = False,
    cache_dir: CacheDir = None,
    no_digest_cache: NoDigestCache = False,
) -> None:
    """Add or update lockfile entries: per-file digests, manifest digest, revision, expected signer."""
    from modelseal.api.integrity import LockRequest, Where
    from modelseal.api.integrity import lock as do_lock

    wheres = tuple(Where(m, offline, cache_dir) for m in models)
    try:
        request = LockRequest(wheres, lockfile, hash_type, tuple(ignore), signer, not no_digest_cache)
        result = do_lock(request)
    except ModelsealError as exc:
        raise _fail(exc) from None
    for done in result.locked:
        if done.refused:
            _report(f"{done.model}: not locked", done.refused)
            raise typer.Exit(EXIT_DIFF)
        typer.echo(f"locked {done.key}: {done.manifest.digest} ({len(done.manifest.files)} files)")
        for rel in done.manifest.ignored:
            _err(f"note: {rel} ignored (not pinned)")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    app.command("sign")(sign)
    app.command("verify")(verify)
    app.command("lock")(lock)
