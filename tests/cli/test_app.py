"""The lazy command table matches what each group registers."""

from __future__ import annotations

from importlib import import_module

import typer

from modelseal.cli.app import AREAS


def test_areas_table_matches_registered_commands() -> None:
    for area, commands in AREAS.items():
        app = typer.Typer()
        import_module(f"modelseal.cli.{area}").register(app)
        names = {c.name for c in app.registered_commands} | {g.name for g in app.registered_groups}
        assert names == set(commands), area


def test_version_flag_prints_and_exits_zero() -> None:
    import subprocess
    import sys

    from modelseal import __version__

    run = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.argv = ['modelseal', '--version']; from modelseal.cli.app import main; main()",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0
    assert run.stdout.strip() == f"modelseal {__version__}"
