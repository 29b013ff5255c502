"""``modelseal sandbox run|load|check``: thin shells over :mod:`modelseal.api.sandboxing`.

``run`` passes the command's own stdout and stderr through and reports on stderr in one line (``--report``
writes the JSON result to a file); ``load`` and ``check`` print JSON.

Exit codes: 0 the command succeeded (``load``: no finding at the threshold), 1 it failed or was stopped
(``load``: findings; ``check``: below ``--min-level``), 2 the sandbox could not be set up or refused to
start (isolation below ``--min-level``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from modelseal.cli import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK

if TYPE_CHECKING:
    from modelseal.api.sandboxing import SandboxConfig

EXIT_FAILED = EXIT_FINDINGS
MiB = 1 << 20

MemoryMb = Annotated[int, typer.Option("--memory-mb", help="Address space per process, MiB.", min=16)]
CpuSeconds = Annotated[int, typer.Option("--cpu-seconds", help="CPU time per process.", min=1)]
Processes = Annotated[int, typer.Option("--max-processes", help="Processes in the sandbox.", min=1)]
FileMb = Annotated[int, typer.Option("--max-file-mb", help="Largest file the run may write, MiB.", min=1)]
Timeout = Annotated[float, typer.Option("--timeout", help="Wall-clock seconds before everything is killed.")]
Output = Annotated[
    Path | None, typer.Option("--output", help="The one writable folder (default: a new one).")
]
MinLevel = Annotated[
    str, typer.Option("--min-level", help="Refuse below this isolation: weak, medium, strong.")
]


def _config(
    memory_mb: int,
    cpu_seconds: int,
    max_processes: int,
    max_file_mb: int,
    timeout: float,
    output: Path | None,
    min_level: str,
    env: list[str],
) -> SandboxConfig:
    from modelseal.api.sandboxing import IsolationLevel, SandboxConfig, SandboxLimits

    try:
        level = IsolationLevel.parse(min_level)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--min-level") from None
    pairs = [e.partition("=") for e in env]
    if any(not sep or not key for key, sep, _ in pairs):
        raise typer.BadParameter("use KEY=VALUE", param_hint="--env")
    limits = SandboxLimits(
        memory_bytes=memory_mb * MiB,
        cpu_seconds=cpu_seconds,
        max_processes=max_processes,
        max_file_bytes=max_file_mb * MiB,
        wall_seconds=timeout,
    )
    return SandboxConfig(limits=limits, output_dir=output, min_level=level, env={k: v for k, _, v in pairs})


def register(app: typer.Typer) -> None:
    """Add ``modelseal sandbox`` and its commands to the root app."""
    group = typer.Typer(
        help="Run untrusted commands or model loads in a confined process (JSON results).",
        no_args_is_help=True,
    )
    app.add_typer(group, name="sandbox")

    @group.command("run")
    def run_cmd(
        command: Annotated[list[str], typer.Argument(metavar="COMMAND...", help="The command, after `--`.")],
        memory_mb: MemoryMb = 4096,
        cpu_seconds: CpuSeconds = 600,
        max_processes: Processes = 64,
        max_file_mb: FileMb = 4096,
        timeout: Timeout = 600.0,
        output: Output = None,
        min_level: MinLevel = "weak",
        env: Annotated[
            list[str] | None, typer.Option("--env", help="KEY=VALUE passed to the command.")
        ] = None,
        report: Annotated[
            Path | None, typer.Option("--report", help="Write the JSON result (isolation, limits) here.")
        ] = None,
    ) -> None:
        """Run COMMAND in this folder with a minimal environment, no network and a read-only file system
        except --output ($MODELSEAL_OUTPUT); its output passes through, the report goes to stderr."""
        from dataclasses import replace

        from modelseal.api.sandboxing import run

        config = _config(
            memory_mb, cpu_seconds, max_processes, max_file_mb, timeout, output, min_level, env or []
        )
        result = run(command, replace(config, echo_output=True))
        if report is not None:
            report.write_text(result.dumps() + "\n", encoding="utf-8")
        layers = ", ".join(layer.name for layer in result.layers if layer.active) or "none"
        typer.echo(
            f"modelseal sandbox: {result.stopped_by} after {result.seconds:.2f} s, "
            f"{result.level.label} isolation ({layers})",
            err=True,
        )
        raise typer.Exit(EXIT_OK if result.ok else EXIT_ERROR if result.refused else EXIT_FAILED)

    @group.command("load")
    def load_cmd(
        model: Annotated[
            Path, typer.Argument(metavar="MODEL", help="Model file or folder to load inside the sandbox.")
        ],
        loader: Annotated[
            str, typer.Option(help="auto, pickle, torch, joblib, numpy, keras, transformers.")
        ] = "auto",
        memory_mb: MemoryMb = 8192,
        cpu_seconds: CpuSeconds = 600,
        max_processes: Processes = 64,
        max_file_mb: FileMb = 1024,
        timeout: Timeout = 600.0,
        output: Output = None,
        min_level: MinLevel = "medium",
        fail_on: Annotated[str, typer.Option(help="Lowest severity that makes the exit code 1.")] = "high",
    ) -> None:
        """Load MODEL for real inside the sandbox; report what it attempted as findings (dynamic evidence)."""
        from modelseal.api.sandboxing import SandboxRequest, sandbox
        from modelseal.core.findings import Severity

        config = _config(memory_mb, cpu_seconds, max_processes, max_file_mb, timeout, output, min_level, [])
        loaded = sandbox(SandboxRequest(model, loader, config))
        result, findings = loaded.result, loaded.findings
        threshold = Severity.parse(fail_on)
        doc = {
            "findings": [
                {
                    "rule_id": f.rule_id,
                    "severity": f.severity.label,
                    "message": f.message,
                    "file": f.file,
                    "evidence": f.evidence,
                    "remediation": f.remediation,
                }
                for f in findings
            ],
            "sandbox": result.to_json(),
        }
        typer.echo(json.dumps(doc, indent=2))
        if result.refused:
            raise typer.Exit(EXIT_ERROR)
        raise typer.Exit(EXIT_FAILED if any(f.severity >= threshold for f in findings) else EXIT_OK)

    @group.command("check")
    def check_cmd(min_level: MinLevel = "weak") -> None:
        """Report which isolation layers this host grants, by starting an empty sandbox."""
        from modelseal.api.sandboxing import IsolationLevel, check_isolation

        result = check_isolation()
        typer.echo(
            json.dumps(
                {"level": result.level.label, "layers": [layer.to_json() for layer in result.layers]},
                indent=2,
            )
        )
        raise typer.Exit(EXIT_OK if result.level >= IsolationLevel.parse(min_level) else EXIT_FAILED)
