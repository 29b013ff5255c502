"""``pip install modelseal`` pulls what the README says, and ``modelseal[all]`` covers every runtime extra
(issue 17, item 16)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
NOT_RUNTIME = {"bench", "bench-runtime", "dev", "all"}


def _project() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as fh:
        project = tomllib.load(fh)["project"]
    assert isinstance(project, dict)
    return project


def _extras() -> dict[str, list[str]]:
    extras = _project()["optional-dependencies"]
    assert isinstance(extras, dict)
    return extras


def test_all_extra_covers_every_runtime_extra() -> None:
    extras = _extras()
    assert "all" in extras
    named = {name for spec in extras["all"] for name in re.findall(r"modelseal\[([^\]]+)\]", spec)}
    covered = {part.strip() for group in named for part in group.split(",")}
    assert covered == set(extras) - NOT_RUNTIME


def test_readme_install_lines_match_the_package() -> None:
    readme = (ROOT / "README.md").read_text()
    plain = next(line for line in readme.splitlines() if line.startswith("pip install modelseal "))
    dependencies = _project()["dependencies"]
    assert isinstance(dependencies, list)
    for spec in dependencies:
        if ";" in spec:  # a backport for old Pythons only
            continue
        name = re.split(r"[<>=!~ \[]", spec, maxsplit=1)[0]
        assert name.lower() in plain.lower(), f"README's `pip install modelseal` line does not name {name}"
    assert "pip install 'modelseal[all]'" in readme
    mentioned = {part for group in re.findall(r"modelseal\[([^\]]+)\]", readme) for part in group.split(",")}
    assert mentioned <= set(_extras()), mentioned - set(_extras())
