"""The import directions of docs/architecture.md, checked by import-linter's contracts in pyproject.toml."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _lint(config: str) -> subprocess.CompletedProcess[str]:
    """lint-imports over these sources (whatever modelseal is installed), in a process of its own."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    code = (
        "from importlinter.cli import lint_imports; "
        f"raise SystemExit(lint_imports(config_filename={config!r}, no_cache=True))"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_import_contracts_hold() -> None:
    pytest.importorskip("importlinter")
    done = _lint("pyproject.toml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_a_contract_can_fail(tmp_path: Path) -> None:
    """The check is live: a contract the code breaks is reported as broken."""
    pytest.importorskip("importlinter")
    config = tmp_path / "contracts.toml"
    config.write_text(
        '[tool.importlinter]\nroot_package = "modelseal"\n\n[[tool.importlinter.contracts]]\n'
        'name = "api must not import scanners (it does)"\ntype = "forbidden"\n'
        'source_modules = ["modelseal.api"]\nforbidden_modules = ["modelseal.scanners"]\n'
    )
    done = _lint(str(config))
    assert done.returncode != 0 and "BROKEN" in done.stdout
