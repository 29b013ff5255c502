"""Loader libraries: versions from environments, requirements and lock files, checked against an OSV PyPI dump
offline and through the OSV API online; the weights_only link; agreement with pip-audit on the same data."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from modelseal.advisories.loaders import Installed, repository_packages, requirement_packages
from modelseal.advisories.osv import PackageRange, parse
from modelseal.advisories.ranges import affects
from modelseal.api.advisories import CheckRequest, SyncRequest, check, sync

from .conftest import fake_site_packages, osv_api_handler, package_advisory, write_dump

TORCH_BYPASS = "GHSA-53q9-r3pm-6pq6"
OLD_TORCH = ("2.4.0", "2.4.1", "2.5.0", "2.5.1")


def _dump_records() -> list[dict[str, Any]]:
    """A small PyPI dump: each record carries both its ranges and the versions they cover, as OSV's do."""
    return [
        package_advisory(
            TORCH_BYPASS,
            "torch",
            fixed="2.6.0",
            versions=OLD_TORCH,
            severity="CRITICAL",
            summary="torch.load with weights_only=True leads to remote code execution",
        ),
        package_advisory(
            "GHSA-aaaa-0000-0001", "transformers", fixed="4.36.0", versions=("4.30.0", "4.35.2")
        ),
        package_advisory(
            "PYSEC-2026-10", "numpy", introduced="1.0", last_affected="1.21.9", versions=("1.21.0",)
        ),
        package_advisory(
            "GHSA-aaaa-0000-0002", "requests", fixed="2.32.0", versions=("2.31.0",)
        ),  # not a loader
    ]


@pytest.fixture
def dump(tmp_path: Path) -> Path:
    path = write_dump(tmp_path / "osv" / "PyPI" / "all.zip", _dump_records())
    sync(SyncRequest((str(path),)))
    return path


@pytest.fixture
def code(tmp_path: Path) -> Path:
    src = tmp_path / "service"
    src.mkdir()
    (src / "serve.py").write_text(
        "import torch\n\ndef load(path):\n    return torch.load(path, weights_only=True)\n", encoding="utf-8"
    )
    return src


def _rules(findings: Any) -> list[tuple[str, str]]:
    return sorted((f.rule_id, f.severity.label) for f in findings)


@pytest.mark.parametrize(
    ("version", "affected"),
    [("0.9", False), ("1.0", True), ("1.5.2", True), ("2.0.0rc1", True), ("2.0.0", False), ("3.1", True)],
)
def test_ranges(version: str, affected: bool) -> None:
    doc = package_advisory("PYSEC-2026-20", "torch", introduced="1.0", fixed="2.0.0")
    doc["affected"][0]["ranges"].append(
        {"type": "ECOSYSTEM", "events": [{"introduced": "3.0"}, {"last_affected": "3.1"}]}
    )
    (package,) = parse(doc, "test").packages
    assert affects(package, version) is affected


def test_versions_list_and_non_pep440() -> None:
    package = PackageRange("x", (), ("1.0", "weird-build"))
    assert affects(package, "1.0.0") and affects(package, "weird-build") and not affects(package, "other")


def test_old_torch_and_weights_only_code_give_the_linked_finding(
    tmp_path: Path, dump: Path, code: Path
) -> None:
    env = fake_site_packages(tmp_path / "site", torch="2.5.1", numpy="1.26.4")
    result = check(CheckRequest(site_packages=(env,), code=(code,)))
    found = {f.rule_id: f for f in result.findings}
    assert _rules(result.findings) == [
        ("MS-ADVISORY-CACHE-AGE", "info"),
        ("MS-ADVISORY-LOADER-LINKED", "critical"),
        ("MS-ADVISORY-LOADER-VULNERABLE", "critical"),
    ]
    linked = found["MS-ADVISORY-LOADER-LINKED"]
    assert (
        linked.file == f"{code / 'serve.py'}:4"
        and TORCH_BYPASS in linked.message
        and "2.6.0" in linked.message
    )
    assert [(p.name, p.version) for p in result.packages] == [("numpy", "1.26.4"), ("torch", "2.5.1")]


def test_old_torch_without_weights_only_code_gives_only_the_version_finding(
    tmp_path: Path, dump: Path
) -> None:
    env = fake_site_packages(tmp_path / "site", torch="2.5.1")
    result = check(CheckRequest(site_packages=(env,)))
    assert "MS-ADVISORY-LOADER-LINKED" not in {f.rule_id for f in result.findings}
    assert "MS-ADVISORY-LOADER-VULNERABLE" in {f.rule_id for f in result.findings}


def test_pinned_safe_versions_give_nothing(tmp_path: Path, dump: Path, code: Path) -> None:
    env = fake_site_packages(tmp_path / "site", torch="2.6.0", transformers="4.36.0", numpy="1.22.0")
    result = check(CheckRequest(site_packages=(env,), code=(code,)))
    assert _rules(result.findings) == [("MS-ADVISORY-CACHE-AGE", "info")]


def test_requirements_and_lock_files(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text(
        "torch==2.5.1 --hash=sha256:00\nnumpy>=1.0  # a range has no one version\nrequests==2.31.0\n-e .\n"
    )
    (tmp_path / "poetry.lock").write_text('[[package]]\nname = "Transformers"\nversion = "4.30.0"\n')
    (tmp_path / "Pipfile.lock").write_text(json.dumps({"default": {"onnx": {"version": "==1.16.0"}}}))
    found = sorted((p.name, p.version) for p in repository_packages(tmp_path))
    assert found == [("onnx", "1.16.0"), ("torch", "2.5.1"), ("transformers", "4.30.0")]
    assert requirement_packages(tmp_path / "absent.txt") == []


def test_inventory_links_repository_pins_to_the_loads_it_found(
    tmp_path: Path, dump: Path, code: Path
) -> None:
    from modelseal.api.inventories import InventoryRequest, inventory

    (code / "requirements.txt").write_text("torch==2.5.1\n")
    result = inventory(InventoryRequest((str(code),)))
    linked = [f for f in result.advisories if f.rule_id == "MS-ADVISORY-LOADER-LINKED"]
    assert [f.file for f in linked] == [f"{code / 'serve.py'}:4"]


def _requirements(tmp_path: Path) -> Path:
    path = tmp_path / "requirements.txt"
    path.write_text("torch==2.5.1\ntransformers==4.35.2\nnumpy==1.21.0\nonnx==1.17.0\n")
    return path


def _pairs(findings: Any) -> set[tuple[str, str]]:
    return {
        (f.evidence.split(" ")[1].split("==")[0], f.evidence.split(" ")[0])
        for f in findings
        if f.rule_id == "MS-ADVISORY-LOADER-VULNERABLE"
    }


EXPECTED = {("torch", TORCH_BYPASS), ("transformers", "GHSA-aaaa-0000-0001"), ("numpy", "PYSEC-2026-10")}


def test_online_osv_api_agrees_with_the_offline_dump(tmp_path: Path, dump: Path, serve: Any) -> None:
    from modelseal.advisories.osvapi import query

    server = serve(osv_api_handler(_dump_records()))
    offline = check(CheckRequest(requirements=(_requirements(tmp_path),)))
    assert _pairs(offline.findings) == EXPECTED
    packages = [Installed("torch", "2.5.1", "x"), Installed("onnx", "1.17.0", "x")]
    online = query(packages, server.url)
    assert [(h.package.name, h.advisory.advisory, h.fixed) for h in online] == [
        ("torch", TORCH_BYPASS, ("2.6.0",))
    ]
    assert online[0].advisory.bypasses_weights_only


def test_online_only_without_a_cache(tmp_path: Path, serve: Any, cache_path: Path) -> None:
    server = serve(osv_api_handler(_dump_records()))
    result = check(CheckRequest(requirements=(_requirements(tmp_path),), osv_api=server.url))
    assert _pairs(result.findings) == EXPECTED and result.status is None and not cache_path.exists()


def test_unreachable_osv_api_is_an_error(tmp_path: Path, dump: Path) -> None:
    from modelseal.advisories.osv import FeedError

    with pytest.raises(FeedError, match="OSV API unreachable"):
        check(CheckRequest(requirements=(_requirements(tmp_path),), osv_api="http://127.0.0.1:9"))


@pytest.mark.skipif(shutil.which("pip-audit") is None, reason="pip-audit is not installed")
def test_same_answer_as_pip_audit_on_the_same_requirements_and_data(
    tmp_path: Path, dump: Path, serve: Any
) -> None:
    """pip-audit reads the OSV API only; here it reads a local server answering from the same records
    that the offline dump holds, so both tools judge the same requirements against the same data."""
    server = serve(osv_api_handler(_dump_records()))
    requirements = _requirements(tmp_path)
    done = subprocess.run(
        [
            sys.executable, "-m", "pip_audit", "-r", str(requirements), "--no-deps", "--disable-pip",
            "-s", "osv", "--osv-url", f"{server.url}/v1/query", "-f", "json",
            "--cache-dir", str(tmp_path / "pa-cache"), "--progress-spinner", "off",
        ],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    audit = json.loads(done.stdout)
    theirs = {(d["name"], v["id"]) for d in audit["dependencies"] for v in d.get("vulns", [])}
    ours = _pairs(check(CheckRequest(requirements=(requirements,))).findings)
    assert theirs == ours == EXPECTED
