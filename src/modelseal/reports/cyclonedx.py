"""CycloneDX 1.6 ML-BOM through cyclonedx-python-lib, with the ``modelCard`` the library does not model.

The library builds and serialises everything it knows (components, hashes, licences, purls,
dependencies); the model card is then added to its JSON output under the model component, the only
part written here by hand, so the rest stays the library's well-tested serialisation.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TextIO

from modelseal.core.extras import require
from modelseal.provenance.card import ModelCard
from modelseal.provenance.facts import ModelFacts, hub_purl
from modelseal.provenance.names import HubId
from modelseal.reports.interface import Writer

if TYPE_CHECKING:
    from cyclonedx.model import Property
    from cyclonedx.model.component import Component

MODEL_REF = "model"
MAX_METRICS = 500
"""A card listing more evaluation results than this is cut, not copied whole into the BOM."""


def _properties(pairs: Iterable[tuple[str, str]]) -> list[Property]:
    from cyclonedx.model import Property

    return [Property(name=name, value=value) for name, value in pairs if value]


def _licences(card: ModelCard | None) -> list[Any]:
    from cyclonedx.contrib.license.factories import LicenseFactory

    if card is None or card.license is None:
        return []
    text = card.license_name if card.license.casefold() == "other" and card.license_name else card.license
    return [LicenseFactory().make_from_string(text)]


def _model_component(facts: ModelFacts) -> Component:
    from cyclonedx.model import HashAlgorithm, HashType
    from cyclonedx.model.component import Component, ComponentType

    files = [
        Component(
            type=ComponentType.FILE,
            name=f.relpath,
            bom_ref=f"file:{f.relpath}",
            hashes=[HashType(alg=HashAlgorithm.SHA_256, content=(f.digest or "").split(":", 1)[1])],
            properties=_properties([("modelseal:size", str(f.size))]),
        )
        for f in facts.files
        if f.digest and f.digest.startswith("sha256:")
    ]
    tier = facts.tier
    return Component(
        type=ComponentType.MACHINE_LEARNING_MODEL,
        name=facts.name,
        group=facts.org,
        version=facts.revision,
        bom_ref=MODEL_REF,
        publisher=facts.org,
        purl=hub_purl(facts.model_id, facts.revision) if facts.model_id else None,
        licenses=_licences(facts.card),
        components=files,
        properties=_properties(
            [
                ("modelseal:manifest-digest", facts.manifest_digest),
                ("modelseal:publisher-tier", str(tier.tier) if tier else ""),
                ("modelseal:publisher-tier-label", tier.label if tier else ""),
                ("modelseal:publisher-tier-source", tier.source if tier else ""),
            ]
        ),
    )


def _lineage(facts: ModelFacts) -> tuple[list[Component], list[Component]]:
    """(base models, datasets) as components; refs are positional so hostile names cannot collide."""
    from cyclonedx.model import ExternalReference, ExternalReferenceType, XsUri
    from cyclonedx.model.component import Component, ComponentType

    card = facts.card
    bases = []
    for i, base in enumerate(card.base_models if card else ()):
        hub_id = HubId.parse(base)
        bases.append(
            Component(
                type=ComponentType.MACHINE_LEARNING_MODEL,
                name=hub_id.name if hub_id else base,
                group=(hub_id.org or None) if hub_id else None,
                bom_ref=f"base-model-{i}",
                purl=hub_purl(base) if hub_id else None,
            )
        )
    datasets = []
    for i, dataset in enumerate(card.datasets if card else ()):
        refs = []
        if HubId.parse(dataset):
            refs = [
                ExternalReference(
                    type=ExternalReferenceType.DISTRIBUTION,
                    url=XsUri(f"https://huggingface.co/datasets/{dataset}"),
                )
            ]
        datasets.append(
            Component(type=ComponentType.DATA, name=dataset, bom_ref=f"dataset-{i}", external_references=refs)
        )
    return bases, datasets


def model_card(facts: ModelFacts, dataset_refs: list[str]) -> dict[str, Any]:
    """The CycloneDX 1.6 ``modelCard`` object for what the card and the files say."""
    card = facts.card or ModelCard()
    observed = facts.observed
    parameters: dict[str, Any] = {}
    if card.pipeline_tag:
        parameters["task"] = card.pipeline_tag
    if observed.model_type:
        parameters["architectureFamily"] = observed.model_type
    if observed.architectures:
        parameters["modelArchitecture"] = observed.architectures[0]
    if dataset_refs:
        parameters["datasets"] = [{"ref": ref} for ref in dataset_refs]
    result: dict[str, Any] = {"bom-ref": "model-card"}
    if parameters:
        result["modelParameters"] = parameters
    metrics = list(_metrics(card.metadata.get("model-index")))
    if metrics:
        result["quantitativeAnalysis"] = {"performanceMetrics": metrics[:MAX_METRICS]}
    props = [
        ("modelseal:parameter-count", str(observed.parameter_count or "")),
        ("modelseal:library", card.library_name or ""),
        ("modelseal:languages", ", ".join(card.languages)),
        ("modelseal:card", "present" if facts.card else "missing"),
    ]
    result["properties"] = [{"name": n, "value": v} for n, v in props if v]
    return result


def _metrics(index: object) -> Iterable[dict[str, str]]:
    """``model-index`` results of the card as performance metrics (type, value, dataset as slice)."""
    if not isinstance(index, list):
        return
    for entry in index:
        results = entry.get("results") if isinstance(entry, Mapping) else None
        for res in results if isinstance(results, list) else ():
            if not isinstance(res, Mapping):
                continue
            dataset = res.get("dataset")
            slice_name = dataset.get("name") if isinstance(dataset, Mapping) else None
            for metric in res.get("metrics") or ():
                if isinstance(metric, Mapping) and "type" in metric and "value" in metric:
                    item = {"type": str(metric["type"]), "value": str(metric["value"])}
                    if isinstance(slice_name, str):
                        item["slice"] = slice_name
                    yield item


def _vulnerabilities(facts: ModelFacts) -> list[Any]:
    """One CycloneDX vulnerability per advisory listing the model's digests, affecting the files (or the
    model, for a manifest digest) it lists, with the VEX analysis the user recorded when it was triaged."""
    from cyclonedx.model.impact_analysis import ImpactAnalysisJustification, ImpactAnalysisState
    from cyclonedx.model.vulnerability import (
        BomTarget,
        Vulnerability,
        VulnerabilityAnalysis,
        VulnerabilityRating,
        VulnerabilitySeverity,
        VulnerabilitySource,
    )

    triage = {ident: (state, why, detail) for ident, state, why, detail in facts.triage}
    grouped: dict[str, list[Any]] = {}
    for finding in facts.advisories:
        grouped.setdefault(finding.evidence.split(" ", 1)[0], []).append(finding)
    out = []
    for ident, findings in sorted(grouped.items()):
        analysis = None
        if ident in triage:
            state, why, detail = triage[ident]
            analysis = VulnerabilityAnalysis(
                state=ImpactAnalysisState(state),
                justification=ImpactAnalysisJustification(why) if why else None,
                detail=detail or None,
            )
        refs = sorted({f"file:{f.file}" if f.file else MODEL_REF for f in findings})
        worst = max(f.severity for f in findings)
        out.append(
            Vulnerability(
                bom_ref=f"advisory:{ident}",
                id=ident,
                source=VulnerabilitySource(name="modelseal advisory cache (OSV)"),
                description=findings[0].message,
                ratings=[VulnerabilityRating(severity=VulnerabilitySeverity(worst.label))],
                recommendation=findings[0].remediation,
                affects=[BomTarget(ref=ref) for ref in refs],
                analysis=analysis,
            )
        )
    return out


def cyclonedx_json(facts: ModelFacts, tool_version: str) -> str:
    """The BOM as CycloneDX 1.6 JSON; the serial number is derived from the manifest and tool version."""
    require("bom", "cyclonedx", "packageurl", feature="CycloneDX BOMs")
    from cyclonedx.model.bom import Bom, BomMetaData
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output.json import JsonV1Dot6

    model = _model_component(facts)
    bases, datasets = _lineage(facts)
    metadata = BomMetaData(component=model)
    metadata.tools.components.add(
        Component(type=ComponentType.APPLICATION, name="modelseal", version=tool_version)
    )
    serial = uuid.uuid5(uuid.NAMESPACE_URL, f"modelseal:{tool_version}:{facts.manifest_digest}")
    bom = Bom(metadata=metadata, components=[*bases, *datasets], serial_number=serial)
    bom.vulnerabilities.update(_vulnerabilities(facts))
    bom.register_dependency(model, [*bases, *datasets])
    for dependency in (*bases, *datasets):
        bom.register_dependency(dependency, [])
    document = json.loads(JsonV1Dot6(bom).output_as_string())
    refs = [str(d.bom_ref) for d in datasets]
    document["metadata"]["component"]["modelCard"] = model_card(facts, refs)
    return json.dumps(document, indent=2, sort_keys=False) + "\n"


class CycloneDxWriter(Writer[ModelFacts]):
    """The CycloneDX 1.6 ML-BOM of one model, stamped with this modelseal's version."""

    name = "cyclonedx"
    suffix = ".json"

    def write(self, result: ModelFacts, out: TextIO) -> None:
        from modelseal import __version__

        out.write(cyclonedx_json(result, __version__))
