"""``modelseal gate``, ``inventory``, ``reverify`` and ``audit``: build requests for :mod:`modelseal.api`,
render the results with the writers of :mod:`modelseal.reports`.

Gate exit codes: 0 allow, 1 block (also when the audit log is unusable), 3 review needed, 2 error, 4 usage.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from modelseal.cli import EXIT_ERROR, EXIT_FINDINGS, EXIT_NOTHING, EXIT_OK, EXIT_USAGE
from modelseal.cli.errors import error_exit
from modelseal.cli.options import NoDigestCache, digest_cache_off
from modelseal.core.errors import ModelsealError, UsageError

if TYPE_CHECKING:
    from modelseal.api.audit import LogContents
    from modelseal.core.result import ScanResult

EXIT_BLOCK, EXIT_REVIEW = EXIT_FINDINGS, EXIT_NOTHING
_RANK = {EXIT_OK: 0, EXIT_REVIEW: 1, EXIT_BLOCK: 2}
"""Block beats review beats allow."""

AuditLogOpt = Annotated[
    Path | None,
    typer.Option(
        "--audit-log", help="Audit log (SQLite). Default: MODELSEAL_AUDIT_LOG or the user data folder."
    ),
]

AuditDatabaseOpt = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="The registry's log, in its database (modelseal serve); --audit-log then names its witness.",
    ),
]


def _err(message: str) -> None:
    from rich.console import Console

    Console(stderr=True, highlight=False, soft_wrap=True).print(message, markup=False)


def _usage(message: str) -> typer.Exit:
    _err(f"usage: {message}")
    return typer.Exit(EXIT_USAGE)


def _choose(document: str, name: str) -> None:
    """Exit 4 unless ``name`` is one of the document's formats."""
    from modelseal.reports import DOCUMENTS

    if name not in DOCUMENTS[document]:
        raise _usage(f"--format is {' or '.join(DOCUMENTS[document])}")


def gate_command(
    models: Annotated[
        list[str], typer.Argument(metavar="MODEL...", help="Model folder(s), file(s) or hf://org/name@rev.")
    ],
    env: Annotated[
        str, typer.Option("--env", help="Environment named in the policy (dev, staging, prod...).")
    ],
    policy: Annotated[Path | None, typer.Option("--policy", help="Policy file (YAML or TOML).")] = None,
    audit_log: AuditLogOpt = None,
    lockfile: Annotated[Path | None, typer.Option("--lockfile", help="Default: ./modelseal.lock.")] = None,
    signature: Annotated[
        Path | None, typer.Option("--signature", help="Sigstore bundle; default model.sig.")
    ] = None,
    public_key: Annotated[
        Path | None, typer.Option("--public-key", help="Key that signed the model.")
    ] = None,
    trust_anchor: Annotated[
        list[Path], typer.Option("--trust-anchor", help="CA for certificate signatures.")
    ] = [],  # noqa: B006
    identity: Annotated[str | None, typer.Option("--identity", help="Required certificate identity.")] = None,
    criticality: Annotated[str, typer.Option("--criticality", help="Usage criticality class.")] = "",
    data_sensitivity: Annotated[str, typer.Option("--data-sensitivity", help="Data sensitivity class.")] = "",
    exposure: Annotated[
        str, typer.Option("--exposure", help="Exposure (offline, internal, partner, internet).")
    ] = "",
    bypass_reason: Annotated[str, typer.Option("--bypass-reason", help="Emergency bypass: why.")] = "",
    bypass_identity: Annotated[str, typer.Option("--bypass-identity", help="Emergency bypass: who.")] = "",
    output_format: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
    sarif: Annotated[
        Path | None, typer.Option("--sarif", help="Also write the scan findings as SARIF.")
    ] = None,
    server: Annotated[
        str | None,
        typer.Option("--server", help="Ask this registry instead (MODEL: a path, or its sha256: digest)."),
    ] = None,
    token: Annotated[str | None, typer.Option("--token", help="API token; default: MODELSEAL_TOKEN.")] = None,
    no_digest_cache: NoDigestCache = False,
) -> None:
    """Decide whether models may be deployed to an environment: exit 0 allow, 1 block, 3 review."""
    digest_cache_off(no_digest_cache)
    if server is not None:
        raise typer.Exit(_remote_gate(models, env, server, token, output_format))
    from modelseal.api.gating import Bypass, GateBlocked, GateRequest, gate, load_gate_policy
    from modelseal.reports import writer_for
    from modelseal.reports.gate import GateVerdict

    if output_format not in ("text", "json"):
        raise _usage("--format is text or json")
    bypass = None
    if bypass_reason or bypass_identity:
        try:
            bypass = Bypass(bypass_reason, bypass_identity)
        except ValueError as exc:
            raise _usage(f"{exc} (--bypass-reason and --bypass-identity)") from None
    codes: list[int] = []
    verdicts: list[GateVerdict] = []
    scans: list[ScanResult] = []
    writer = writer_for("gate", output_format)
    try:
        loaded = load_gate_policy(policy, Path.cwd())
        _err(f"policy: {loaded.source}")
        for model in models:
            req = GateRequest(
                model=model,
                environment=env,
                policy=policy,
                audit_log=audit_log,
                lockfile=lockfile,
                signature=signature,
                public_key=public_key,
                trust_anchors=tuple(trust_anchor),
                identity=identity,
                criticality=criticality,
                data_sensitivity=data_sensitivity,
                exposure=exposure,
                bypass=bypass,
                loaded_policy=loaded,
            )
            try:
                outcome = gate(req)
            except GateBlocked as exc:
                _err(f"BLOCK {model}: {exc}")
                codes.append(EXIT_BLOCK)
                verdicts.append(GateVerdict(model, error=str(exc)))
                continue
            scans.append(outcome.scan)
            codes.append(_VERDICT_EXIT[outcome.decision.verdict.label])
            verdict = GateVerdict(model, outcome.decision, outcome.audit_entry, outcome.audit_log)
            verdicts.append(verdict)
            if output_format == "text":  # each verdict as soon as it is recorded
                writer.write([verdict], sys.stdout)
    except ModelsealError as exc:
        raise error_exit(exc) from None
    if output_format == "json":
        writer.write(verdicts, sys.stdout)
    if sarif is not None:
        _write_sarif(sarif, scans)
    raise typer.Exit(max(codes, key=lambda c: _RANK[c]))


_VERDICT_EXIT = {"allow": EXIT_OK, "review": EXIT_REVIEW, "block": EXIT_BLOCK}


def _remote_gate(models: list[str], env: str, server: str, token: str | None, output_format: str) -> int:
    """``gate --server``: the registry's verdict for each model's manifest digest (hashed here unless the
    digest itself is given)."""
    from modelseal.api import scan
    from modelseal.api.remote import gate as remote_gate

    codes: list[int] = []
    answers = []
    try:
        for model in models:
            digest = model
            if not model.startswith("sha256:"):
                digest = scan([model], digests=True).targets[0].manifest_digest or ""
            answer = remote_gate(server, digest, env, token)
            answers.append(answer)
            codes.append(_VERDICT_EXIT[answer["verdict"]])
            if output_format != "json":
                typer.echo(f"{answer['verdict'].upper()} {model} ({env}, {digest})")
                for reason in answer["reasons"]:
                    typer.echo(f"  {reason['outcome']}: {reason['rule']}: {reason['message']}")
    except ModelsealError as exc:
        raise error_exit(exc) from None
    if output_format == "json":
        typer.echo(json.dumps(answers, indent=2))
    return max(codes, key=lambda c: _RANK[c])


def _write_sarif(path: Path, scans: list[ScanResult]) -> None:
    """The findings of every gated model, one SARIF run (what the GitHub Action uploads)."""
    from modelseal.core.result import ScanResult
    from modelseal.reports import ReportOptions, get_writer

    combined = ScanResult(
        tuple(t for s in scans for t in s.targets),
        scans[0].tool_version if scans else "",
        sum(s.seconds for s in scans),
    )
    path.write_text(
        get_writer("sarif", ReportOptions(base_dir=str(Path.cwd()))).render(combined), encoding="utf-8"
    )


def inventory_command(
    paths: Annotated[
        list[str] | None,
        typer.Argument(metavar="[PATH]...", help="Folders, files, Hugging Face caches, source trees."),
    ] = None,
    hf_cache: Annotated[
        bool, typer.Option("--hf-cache", help="Also list the default Hugging Face cache.")
    ] = False,
    output_format: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
    usage: Annotated[Path | None, typer.Option("--usage", help="YAML: match -> usage classes.")] = None,
    criticality: Annotated[str, typer.Option("--criticality", help="Default criticality class.")] = "",
    data_sensitivity: Annotated[
        str, typer.Option("--data-sensitivity", help="Default data sensitivity.")
    ] = "",
    exposure: Annotated[str, typer.Option("--exposure", help="Default exposure.")] = "",
    fail_on: Annotated[
        str, typer.Option("--fail-on", help="Exit 1 if an entry is rated this or worse.")
    ] = "",
) -> None:
    """List every model in use, where it comes from, how it is loaded and how urgently to review it."""
    from modelseal.api.inventories import InventoryRequest, Usage, inventory
    from modelseal.reports import ReportOptions, writer_for

    if not paths and not hf_cache:
        raise _usage("give a PATH to list, --hf-cache, or both")
    try:
        _choose("inventory", output_format)
        result = inventory(
            InventoryRequest(
                tuple(paths or ()), hf_cache, usage, Usage(criticality, data_sensitivity, exposure), fail_on
            )
        )
    except UsageError as exc:
        raise _usage(str(exc)) from None
    except ModelsealError as exc:
        raise error_exit(exc) from None
    writer_for("inventory", output_format, ReportOptions(width=200, color=sys.stdout.isatty())).write(
        result.assessments, sys.stdout
    )
    for warning in result.warnings:
        _err(f"warning: {warning}")
    for f in result.advisories:  # on stderr, so the table, JSON or CSV on stdout stays whole
        _err(f"{f.severity.label.upper()} {f.rule_id} [{f.file or '-'}]: {f.message}")
    if result.failed:
        raise typer.Exit(EXIT_BLOCK)


def reverify_command(
    paths: Annotated[
        list[str] | None,
        typer.Argument(metavar="[PATH]...", help="Where the models are (as for inventory)."),
    ] = None,
    state: Annotated[Path | None, typer.Option("--state", help="State of the last run (JSON).")] = None,
    lockfile: Annotated[Path | None, typer.Option("--lockfile", help="Default: ./modelseal.lock.")] = None,
    hf_cache: Annotated[
        bool, typer.Option("--hf-cache", help="Include the default Hugging Face cache.")
    ] = False,
    output_format: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
    no_digest_cache: NoDigestCache = False,
) -> None:
    """Re-scan and re-check the inventory; exit 1 on new findings, drifted files or lock differences."""
    digest_cache_off(no_digest_cache)
    from modelseal.api.inventories import ReverifyRequest, reverify
    from modelseal.reports import writer_for

    if not paths and not hf_cache:
        raise _usage("give a PATH to re-verify, --hf-cache, or both")
    _choose("reverify", output_format)
    try:
        result = reverify(
            ReverifyRequest(tuple(paths or ()), state, lockfile or Path("modelseal.lock"), hf_cache)
        )
    except ModelsealError as exc:
        raise error_exit(exc) from None
    writer_for("reverify", output_format).write(result.reverification, sys.stdout)
    for hit in result.newly_affected:  # on stderr, so JSON on stdout stays whole
        _err(f"NEWLY AFFECTED {hit.location}: {hit.advisory} ({hit.rule}) {hit.file or 'manifest'}")
    raise typer.Exit(EXIT_BLOCK if result.worse else EXIT_OK)


audit_app = typer.Typer(help="Inspect and verify the tamper-evident audit log.", no_args_is_help=True)


@audit_app.command("verify")
def audit_verify(
    audit_log: AuditLogOpt = None,
    public_key: Annotated[
        str | None, typer.Option("--public-key", help="Pin the signer: hex Ed25519 key.")
    ] = None,
    trusted: Annotated[
        list[Path], typer.Option("--trusted-checkpoint", help="A checkpoint kept elsewhere.")
    ] = [],  # noqa: B006
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable result.")] = False,
    database_url: AuditDatabaseOpt = None,
) -> None:
    """Exit 1 if any entry was edited, removed, reordered or forged, naming which."""
    from modelseal.api.audit import AuditVerifyRequest, log_path, verify

    path = log_path(audit_log) if database_url is None else audit_log
    try:
        key = bytes.fromhex(public_key) if public_key else None
        notes = tuple(p.read_text(encoding="utf-8") for p in trusted)
        result = verify(AuditVerifyRequest(path, key, notes, database_url))
        path = result.path
    except ValueError:
        raise _usage("--public-key is the hex of a 32-byte Ed25519 key") from None
    except (ModelsealError, OSError) as exc:
        _err(f"FAILED: {exc}")
        raise typer.Exit(EXIT_BLOCK) from None
    v = result.verification
    if as_json:
        typer.echo(result.to_json())
    elif v.ok:
        typer.echo(f"OK {path}: {v.size} entries, root {v.root.hex()}")
    else:
        typer.echo(f"FAILED {path}")
        for p in v.problems:
            typer.echo(f"  {p.kind}: {p.message}")
    raise typer.Exit(EXIT_OK if v.ok else EXIT_BLOCK)


@audit_app.command("show")
def audit_show(
    audit_log: AuditLogOpt = None,
    last: Annotated[int, typer.Option("--last", help="Only the last N entries (0: all).")] = 0,
    database_url: AuditDatabaseOpt = None,
) -> None:
    """Print the entries as JSON lines, exactly as stored (``audit verify`` says whether to trust them)."""
    rows = _read(audit_log, database_url).rows
    for _, record in rows[-last:] if last else rows:
        typer.echo(record)


@audit_app.command("checkpoint")
def audit_checkpoint(audit_log: AuditLogOpt = None, database_url: AuditDatabaseOpt = None) -> None:
    """Print the latest signed checkpoint: keep a copy elsewhere to detect a rewritten log later."""
    contents = _read(audit_log, database_url)
    note = contents.latest_note()
    if note is None:
        _err("the audit log is empty")
        raise typer.Exit(EXIT_ERROR)
    _err(f"# public key {contents.meta.get('public_key', '?')}")
    typer.echo(note, nl=False)


@audit_app.command("prove")
def audit_prove(
    index: Annotated[int, typer.Argument(metavar="INDEX", help="Entry index.")],
    audit_log: AuditLogOpt = None,
    old_size: Annotated[
        int | None, typer.Option("--from-size", help="Also prove consistency from this size.")
    ] = None,
    database_url: AuditDatabaseOpt = None,
) -> None:
    """Inclusion proof for one entry (and optionally a consistency proof), as JSON."""
    from modelseal.api.audit import AuditLogError, prove

    try:
        doc = prove(audit_log, index, old_size, database_url)
    except ValueError as exc:
        raise _usage(str(exc)) from None
    except AuditLogError as exc:
        raise error_exit(exc) from None
    typer.echo(json.dumps(doc, indent=2))


def _read(audit_log: Path | None, database_url: str | None) -> LogContents:
    from modelseal.api.audit import AuditLogError, contents

    try:
        return contents(audit_log, database_url)
    except AuditLogError as exc:
        raise error_exit(exc) from None


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    app.command("gate")(gate_command)
    app.command("inventory")(inventory_command)
    app.command("reverify")(reverify_command)
    app.add_typer(audit_app, name="audit")


__all__ = ["register"]
