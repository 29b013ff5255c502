"""``modelseal gate``, ``inventory``, ``reverify`` and ``audit``: thin shells over policy, inventory, audit.

Gate exit codes: 0 allow, 1 block (also when the audit log is unusable), 3 review needed, 2 error, 4 usage.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from modelseal.cli import EXIT_ERROR, EXIT_FINDINGS, EXIT_NOTHING, EXIT_OK, EXIT_USAGE
from modelseal.core.errors import ModelsealError

if TYPE_CHECKING:
    from modelseal.audit.log import LogContents
    from modelseal.core.result import ScanResult
    from modelseal.inventory.model import Reference
    from modelseal.policy.evaluate import Decision

EXIT_BLOCK, EXIT_REVIEW = EXIT_FINDINGS, EXIT_NOTHING

AuditLogOpt = Annotated[
    Path | None,
    typer.Option(
        "--audit-log", help="Audit log (SQLite). Default: MODELSEAL_AUDIT_LOG or the user data folder."
    ),
]


def _err(message: str) -> None:
    from rich.console import Console

    Console(stderr=True, highlight=False, soft_wrap=True).print(message, markup=False)


def _exit_code(decision: Decision) -> int:
    from modelseal.policy.model import Verdict

    return {Verdict.ALLOW: EXIT_OK, Verdict.REVIEW: EXIT_REVIEW, Verdict.BLOCK: EXIT_BLOCK}[decision.verdict]


def _render(decision: Decision, audit: str) -> None:
    head = f"{decision.verdict.label.upper()} {decision.model} (environment {decision.environment})"
    typer.echo(head)
    if decision.bypass is not None:
        typer.echo(
            f"  EMERGENCY BYPASS by {decision.bypass.identity}: {decision.bypass.reason} "
            f"(policy said {decision.evaluated.label})"
        )
    for r in decision.reasons:
        typer.echo(f"  [{r.outcome}] {r.rule_id}: {r.message}")
    for f, w in decision.waived_findings:
        typer.echo(
            f"  [waived] {f.rule_id} in {f.file or 'model'}: approved by {w.approver} until {w.expires}"
        )
    for w in decision.expired_waivers:
        typer.echo(f"  [expired waiver] {w.rule} (approved by {w.approver}) expired on {w.expires}")
    typer.echo(f"  digest {decision.digest or '-'}; policy {decision.policy}; {audit}")


def gate_command(
    models: Annotated[list[str], typer.Argument(help="Model folder(s), file(s) or hf://org/name@rev.")],
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
) -> None:
    """Decide whether models may be deployed to an environment: exit 0 allow, 1 block, 3 review."""
    from modelseal.policy.evaluate import Bypass
    from modelseal.policy.gate import GateBlocked, GateRequest, run_gate
    from modelseal.policy.load import find_policy, load_policy

    if output_format not in ("text", "json"):
        _err("usage: --format is text or json")
        raise typer.Exit(EXIT_USAGE)
    bypass = None
    if bypass_reason or bypass_identity:
        try:
            bypass = Bypass(bypass_reason, bypass_identity)
        except ValueError as exc:
            _err(f"usage: {exc} (--bypass-reason and --bypass-identity)")
            raise typer.Exit(EXIT_USAGE) from None
    codes: list[int] = []
    docs: list[dict[str, object]] = []
    scans: list[ScanResult] = []
    try:
        loaded = load_policy(find_policy(policy, Path.cwd()))
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
            )
            try:
                outcome = run_gate(req, policy=loaded)
            except GateBlocked as exc:
                _err(f"BLOCK {model}: {exc}")
                codes.append(EXIT_BLOCK)
                docs.append({"model": model, "verdict": "block", "error": str(exc)})
                continue
            decision = outcome.decision
            scans.append(outcome.scan)
            codes.append(_exit_code(decision))
            docs.append(decision.to_document() | {"audit_entry": outcome.audit_entry})
            if output_format == "text":
                _render(decision, f"audit entry {outcome.audit_entry} in {outcome.audit_log}")
    except ModelsealError as exc:
        _err(f"error: {exc}")
        raise typer.Exit(EXIT_ERROR) from None
    if output_format == "json":
        typer.echo(json.dumps(docs[0] if len(docs) == 1 else docs, indent=2))
    if sarif is not None:
        _write_sarif(sarif, scans)
    # block beats review beats allow
    raise typer.Exit(max(codes, key=lambda c: {EXIT_OK: 0, EXIT_REVIEW: 1, EXIT_BLOCK: 2}[c]))


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
    paths: Annotated[list[str], typer.Argument(help="Folders, files, Hugging Face caches, source trees.")],
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
    from modelseal.core.config import load_config
    from modelseal.inventory import report
    from modelseal.inventory.discover import discover
    from modelseal.inventory.risk import CLASSES, RATINGS, Usage, assess, load_usage_rules, usage_for
    from modelseal.policy.gate import reputation

    ratings = [label for _, label in RATINGS]
    if output_format not in ("table", "json", "csv") or (fail_on and fail_on not in ratings):
        _err(f"usage: --format is table, json or csv; --fail-on is one of {', '.join(ratings)}")
        raise typer.Exit(EXIT_USAGE)
    default = Usage(criticality, data_sensitivity, exposure)
    for name, value in (
        ("criticality", criticality),
        ("data_sensitivity", data_sensitivity),
        ("exposure", exposure),
    ):
        if value and value not in CLASSES[name]:
            _err(f"usage: --{name.replace('_', '-')} is one of {', '.join(CLASSES[name])}")
            raise typer.Exit(EXIT_USAGE)

    try:
        raw_config = load_config().raw

        def tier_of(model_id: str) -> str | None:
            return reputation(model_id, raw_config)[0]

        rules = load_usage_rules(usage) if usage else ()
        refs = discover(paths, include_default_cache=hf_cache)
    except ModelsealError as exc:
        _err(f"error: {exc}")
        raise typer.Exit(EXIT_ERROR) from None
    assessed = [assess(r, tier_of, usage_for(r, rules, default)) for r in refs]
    if output_format == "json":
        typer.echo(report.to_json(assessed))
    elif output_format == "csv":
        typer.echo(report.to_csv(assessed), nl=False)
    else:
        from rich.console import Console

        Console(width=200).print(report.to_table(assessed))
    if fail_on:
        floor = ratings.index(fail_on)
        if any(ratings.index(a.rating) <= floor for a in assessed):
            raise typer.Exit(EXIT_BLOCK)


def reverify_command(
    paths: Annotated[list[str], typer.Argument(help="Where the models are (as for inventory).")],
    state: Annotated[Path | None, typer.Option("--state", help="State of the last run (JSON).")] = None,
    lockfile: Annotated[Path | None, typer.Option("--lockfile", help="Default: ./modelseal.lock.")] = None,
    hf_cache: Annotated[
        bool, typer.Option("--hf-cache", help="Include the default Hugging Face cache.")
    ] = False,
    output_format: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
) -> None:
    """Re-scan and re-check the inventory; exit 1 on new findings, drifted files or lock differences."""
    from modelseal.api import scan
    from modelseal.core.config import load_config
    from modelseal.inventory.discover import discover
    from modelseal.inventory.reverify import default_state_path, reverify

    try:
        config = load_config()
        refs = discover(paths, include_default_cache=hf_cache)
        result = reverify(
            refs,
            state or default_state_path(),
            scan=lambda target: scan([target], config),
            lock_check=_lock_checker(lockfile or Path("modelseal.lock")),
        )
    except ModelsealError as exc:
        _err(f"error: {exc}")
        raise typer.Exit(EXIT_ERROR) from None
    if output_format == "json":
        typer.echo(result.to_json())
    else:
        if result.previous_tool_version and result.previous_tool_version != result.tool_version:
            typer.echo(
                f"modelseal {result.previous_tool_version} -> {result.tool_version}: rules may have changed"
            )
        for c in result.changes:
            state_word = "NEW" if c.first_seen else ("CHANGED" if c.worse else "unchanged")
            typer.echo(f"{state_word} {c.location}")
            for label, items in (
                ("new finding", c.new_findings),
                ("resolved", c.resolved_findings),
                ("drifted", c.drifted),
                ("added file", c.added),
                ("removed file", c.removed),
                ("lock", c.lock),
            ):
                for item in items:
                    typer.echo(f"  {label}: {item}")
            if c.error:
                typer.echo(f"  error: {c.error}")
        for gone in result.gone:
            typer.echo(f"GONE {gone}")
    raise typer.Exit(EXIT_BLOCK if result.worse else EXIT_OK)


def _lock_checker(path: Path) -> Callable[[Reference], tuple[str, ...]]:
    """Differences from the lock entry keyed by the model's path (hub cache entries by ``hf://id``)."""

    def check(ref: Reference) -> tuple[str, ...]:
        from modelseal.integrity.lockfile import check_lock, read_lock
        from modelseal.sources.local import resolve_local

        if not path.is_file():
            return ()
        key = f"hf://{ref.model}" if ref.kind == "hf-cache" else Path(ref.location).as_posix()
        entry = read_lock(path).get(key)
        if entry is None:
            return ()
        result = check_lock(resolve_local(ref.location), entry, revision=ref.revision)
        return tuple(str(d) for d in result.differences)

    return check


audit_app = typer.Typer(help="Inspect and verify the tamper-evident audit log.", no_args_is_help=True)


def _log_path(audit_log: Path | None) -> Path:
    from modelseal.audit.log import default_log_path

    return audit_log or default_log_path()


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
) -> None:
    """Exit 1 if any entry was edited, removed, reordered or forged, naming which."""
    from modelseal.audit.verify import describe, verify_log

    path = _log_path(audit_log)
    try:
        key = bytes.fromhex(public_key) if public_key else None
        notes = tuple(p.read_text(encoding="utf-8") for p in trusted)
        result = verify_log(path, public_key=key, trusted_notes=notes)
    except ValueError:
        _err("usage: --public-key is the hex of a 32-byte Ed25519 key")
        raise typer.Exit(EXIT_USAGE) from None
    except (ModelsealError, OSError) as exc:
        _err(f"FAILED: {exc}")
        raise typer.Exit(EXIT_BLOCK) from None
    if as_json:
        typer.echo(describe(result))
    elif result.ok:
        typer.echo(f"OK {path}: {result.size} entries, root {result.root.hex()}")
    else:
        typer.echo(f"FAILED {path}")
        for p in result.problems:
            typer.echo(f"  {p.kind}: {p.message}")
    raise typer.Exit(EXIT_OK if result.ok else EXIT_BLOCK)


@audit_app.command("show")
def audit_show(
    audit_log: AuditLogOpt = None,
    last: Annotated[int, typer.Option("--last", help="Only the last N entries (0: all).")] = 0,
) -> None:
    """Print the entries as JSON lines, exactly as stored (``audit verify`` says whether to trust them)."""
    rows = _read(audit_log).rows
    for _, record in rows[-last:] if last else rows:
        typer.echo(record)


@audit_app.command("checkpoint")
def audit_checkpoint(audit_log: AuditLogOpt = None) -> None:
    """Print the latest signed checkpoint: keep a copy elsewhere to detect a rewritten log later."""
    contents = _read(audit_log)
    note = contents.latest_note()
    if note is None:
        _err("the audit log is empty")
        raise typer.Exit(EXIT_ERROR)
    _err(f"# public key {contents.meta.get('public_key', '?')}")
    typer.echo(note, nl=False)


@audit_app.command("prove")
def audit_prove(
    index: Annotated[int, typer.Argument(help="Entry index.")],
    audit_log: AuditLogOpt = None,
    old_size: Annotated[
        int | None, typer.Option("--from-size", help="Also prove consistency from this size.")
    ] = None,
) -> None:
    """Inclusion proof for one entry (and optionally a consistency proof), as JSON."""
    from modelseal.audit import merkle

    contents = _read(audit_log)
    leaves = contents.leaf_hashes()
    if not 0 <= index < len(leaves) or (old_size is not None and not 0 <= old_size <= len(leaves)):
        _err(f"usage: the log has {len(leaves)} entries")
        raise typer.Exit(EXIT_USAGE)
    doc: dict[str, object] = {
        "index": index,
        "size": len(leaves),
        "record": contents.rows[index][1],
        "leaf_hash": leaves[index].hex(),
        "root": merkle.subtree_root(leaves).hex(),
        "checkpoint": contents.latest_note(),
        "inclusion": [h.hex() for h in merkle.inclusion_proof(index, leaves)],
    }
    if old_size is not None:
        doc["consistency"] = {
            "from_size": old_size,
            "old_root": merkle.subtree_root(leaves[:old_size]).hex(),
            "proof": [h.hex() for h in merkle.consistency_proof(old_size, leaves)],
        }
    typer.echo(json.dumps(doc, indent=2))


def _read(audit_log: Path | None) -> LogContents:
    from modelseal.audit.log import AuditLogError, read_log

    try:
        return read_log(_log_path(audit_log))
    except AuditLogError as exc:
        _err(f"error: {exc}")
        raise typer.Exit(EXIT_ERROR) from None


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    app.command("gate")(gate_command)
    app.command("inventory")(inventory_command)
    app.command("reverify")(reverify_command)
    app.add_typer(audit_app, name="audit")


__all__ = ["register"]
