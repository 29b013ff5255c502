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
