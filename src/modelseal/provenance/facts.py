"""Everything a bill of materials says about one model, gathered once for both BOM formats.

Identity (hub id and commit, as resolution found them or as given), the files with their manifest digests,
the card, what the files show (config, adapter, weight headers, licence text), the publisher tier, and the
findings of the card and name checks. Resolution, hashing and the tier come from the caller
(:func:`modelseal.api.provenance.bom`): this module reads files it is handed, it finds none itself.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelseal.core.artifact import Artifact, FileEntry
from modelseal.core.findings import Finding
from modelseal.core.limits import Limits
from modelseal.core.rules import make_finding
from modelseal.provenance.card import ModelCard, Observed, consistency_findings, licence_family, read_card
from modelseal.provenance.config import ProvenanceConfig
from modelseal.provenance.names import HubId, check_model_id
from modelseal.provenance.reputation import PublisherTier

if TYPE_CHECKING:
    from packageurl import PackageURL

LICENSE_NAMES = (
    "LICENSE",
    "LICENSE.md",
    "LICENSE.txt",
    "LICENCE",
    "LICENCE.md",
    "LICENCE.txt",
    "license.txt",
)
MAX_LICENSE_BYTES = 256 << 10


@dataclass(frozen=True)
class ModelFacts:
    root: Path
    name: str
    """The model's name: the hub name when known, else the folder's."""
    model_id: str | None
    revision: str | None
    files: tuple[FileEntry, ...]
    """Every file, with its ``sha256:`` digest from the manifest."""
    manifest_digest: str
    card: ModelCard | None
    observed: Observed
    tier: PublisherTier | None
    findings: tuple[Finding, ...]
    advisories: tuple[Finding, ...] = ()
    """Advisories listing the model's digests (``MS-ADVISORY-*``): the CycloneDX ``vulnerabilities``."""
    triage: tuple[tuple[str, str, str, str], ...] = ()
    """(advisory id, VEX state, justification, detail) recorded in ``[tool.modelseal.advisories.triage]``."""

    @property
    def org(self) -> str | None:
        return self.model_id.split("/", 1)[0] if self.model_id and "/" in self.model_id else None


def hub_purl(model_id: str, revision: str | None = None) -> PackageURL | None:
    """``pkg:huggingface/org/name@commit`` for a hub id; None for anything that is not one."""
    from packageurl import PackageURL

    hub_id = HubId.parse(model_id)
    if hub_id is None:
        return None
    return PackageURL(type="huggingface", namespace=hub_id.org or None, name=hub_id.name, version=revision)


def collect(
    artifact: Artifact,
    manifest_digest: str,
    *,
    model_id: str | None = None,
    revision: str | None = None,
    tier: PublisherTier | None = None,
    config: ProvenanceConfig | None = None,
    scan_findings: Sequence[Finding] = (),
    limits: Limits | None = None,
) -> ModelFacts:
    """Read one resolved model, whose files carry their digests, into the facts both BOM writers render."""
    config = config or ProvenanceConfig()
    limits = limits or Limits()
    reading = read_card(artifact)
    observed = observe(artifact, limits)
    # entries the resolver refused are left out of the BOM, and said so
    findings = [
        make_finding("MS-FILE-LINK-ESCAPE", f"left out of the BOM: {reason}", file=rel)
        for rel, reason in artifact.rejected
    ]
    findings += [*reading.findings, *consistency_findings(reading.card, observed, model_id)]
    if model_id:
        findings.extend(check_model_id(model_id, config.internal, config.catalogue()))
    findings.extend(scan_findings)
    root = artifact.root
    name = model_id.rsplit("/", 1)[-1] if model_id else (root.name if root.is_dir() else root.stem)
    return ModelFacts(
        root,
        name,
        model_id,
        revision,
        artifact.files,
        manifest_digest,
        reading.card,
        observed,
        tier,
        tuple(findings),
    )


def observe(artifact: Artifact, limits: Limits) -> Observed:
    """Read config.json, adapter_config.json, the licence text and the safetensors headers (no payload)."""
    by_name = {f.relpath: f for f in artifact.files}
    problems: list[Finding] = []
    config = _json_file(by_name.get("config.json"), limits, problems)
    adapter = _json_file(by_name.get("adapter_config.json"), limits, problems)
    count: int | None = None
    roots: set[str] = set()
    for entry in artifact.files:
        if entry.relpath.endswith(".safetensors"):
            header = _safetensors_header(entry, limits, problems)
            if header is not None:
                count = (count or 0) + _count_parameters(header, roots)
    family, licence_file = _licence_text(by_name)
    listed = config.get("architectures")
    architectures = listed if isinstance(listed, list) else []
    return Observed(
        model_type=_str(config.get("model_type")),
        architectures=tuple(a for a in architectures if isinstance(a, str)),
        name_or_path=_str(config.get("_name_or_path")),
        adapter_base=_str(adapter.get("base_model_name_or_path")),
        parameter_count=count,
        tensor_roots=frozenset(roots),
        license_family=family,
        license_file=licence_file,
        findings=tuple(problems),
    )


def _licence_text(by_name: dict[str, FileEntry]) -> tuple[str | None, str | None]:
    """(licence family, file) of the first LICENSE file whose text is recognised."""
    for name in LICENSE_NAMES:
        found = by_name.get(name)
        if found is None:
            continue
        try:
            with found.path.open("rb") as f:
                text = f.read(MAX_LICENSE_BYTES).decode("utf-8", errors="replace")
        except OSError:
            continue
        match = licence_family(text)
        if match:
            return match[0], name
    return None, None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _json_file(entry: FileEntry | None, limits: Limits, problems: list[Finding]) -> dict[str, Any]:
    if entry is None:
        return {}
    if entry.size > limits.max_header_bytes:
        problems.append(
            make_finding(
                "MS-CARD-UNVERIFIABLE",
                f"{entry.relpath} is larger than {limits.max_header_bytes} bytes and was not read",
                file=entry.relpath,
            )
        )
        return {}
    try:
        data = json.loads(entry.path.read_bytes())
    except (OSError, ValueError, RecursionError) as exc:
        problems.append(
            make_finding(
                "MS-CARD-UNVERIFIABLE", f"{entry.relpath} does not parse as JSON: {exc}", file=entry.relpath
            )
        )
        return {}
    if not isinstance(data, dict):
        problems.append(
            make_finding("MS-CARD-UNVERIFIABLE", f"{entry.relpath} is not a JSON object", file=entry.relpath)
        )
        return {}
    return data


def _safetensors_header(entry: FileEntry, limits: Limits, problems: list[Finding]) -> dict[str, Any] | None:
    """The JSON header only: an 8-byte little-endian length, then that many bytes of JSON."""
    try:
        with entry.path.open("rb") as f:
            prefix = f.read(8)
            length = int.from_bytes(prefix, "little") if len(prefix) == 8 else -1
            if length < 2 or length > min(limits.max_header_bytes, entry.size - 8):
                raise ValueError(f"header length {length} does not fit the file or the limit")
            data = json.loads(f.read(length))
    except (OSError, ValueError, RecursionError) as exc:
        problems.append(
            make_finding(
                "MS-CARD-UNVERIFIABLE", f"cannot read the safetensors header: {exc}", file=entry.relpath
            )
        )
        return None
    if not isinstance(data, dict):
        problems.append(
            make_finding(
                "MS-CARD-UNVERIFIABLE", "the safetensors header is not a JSON object", file=entry.relpath
            )
        )
        return None
    return data


def _count_parameters(header: dict[str, Any], roots: set[str]) -> int:
    total = 0
    for name, info in header.items():
        if name == "__metadata__" or not isinstance(info, dict):
            continue
        shape = info.get("shape")
        if isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape):
            total += math.prod(shape)
        roots.add(name.split(".", 1)[0])
    return total
