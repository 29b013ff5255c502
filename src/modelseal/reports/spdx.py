"""SPDX 3.0.1 JSON-LD with the AI and Dataset profiles, written through spdx-python-model.

The bindings are generated from the SPDX SHACL model and refuse values the model forbids, so what is
built here is checked as it is written; tests validate the output against the official JSON schema
and SHACL shapes as well.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any, TextIO

from modelseal.core.extras import require
from modelseal.provenance.facts import ModelFacts, hub_purl
from modelseal.provenance.names import HubId
from modelseal.reports.interface import Writer

SPEC_VERSION = "3.0.1"


def spdx_json(facts: ModelFacts, tool_version: str, created: datetime | None = None) -> str:
    """The SPDX 3.0.1 document as JSON-LD text; element ids derive from the manifest digest."""
    require("bom", "spdx_python_model", "cyclonedx", "packageurl", feature="SPDX BOMs")
    from spdx_python_model import v3_0_1 as spdx

    prefix = f"urn:modelseal:{uuid.uuid5(uuid.NAMESPACE_URL, f'{tool_version}:{facts.manifest_digest}')}"
    counter = iter(range(1_000_000_000))

    def new_id(kind: str) -> str:
        return f"{prefix}#{kind}-{next(counter)}"

    moment = (created or datetime.now(timezone.utc)).replace(microsecond=0)
    info = spdx.CreationInfo(specVersion=SPEC_VERSION, created=moment)
    agent = spdx.SoftwareAgent(_id=new_id("agent"), name=f"modelseal {tool_version}", creationInfo=info)
    info.createdBy = [agent]
    tool = spdx.Tool(_id=new_id("tool"), name="modelseal", creationInfo=info)
    info.createdUsing = [tool]

    def element(cls: Any, kind: str, **props: Any) -> Any:
        return cls(_id=new_id(kind), creationInfo=info, **props)

    elements: list[Any] = [agent, tool]
    publisher = None
    if facts.org:
        publisher = element(spdx.Organization, "publisher", name=facts.org)
        elements.append(publisher)
    model = _ai_package(spdx, element, facts, publisher)
    elements.append(model)

    def relate(source: Any, rel_type: str, targets: list[Any]) -> None:
        if targets:
            elements.append(
                element(
                    spdx.Relationship,
                    "relationship",
                    from_=source,
                    relationshipType=getattr(spdx.RelationshipType, rel_type),
                    to=targets,
                )
            )

    relate(model, "hasDeclaredLicense", [_licence(spdx, element, elements, facts)])
    relate(model, "hasConcludedLicense", [spdx.expandedlicensing_IndividualLicensingInfo.NoAssertionLicense])
    files = [_file(spdx, element, f.relpath, f.digest or "") for f in facts.files if f.digest]
    elements.extend(files)
    relate(model, "contains", files)
    bases = [_base_model(spdx, element, b) for b in (facts.card.base_models if facts.card else ())]
    elements.extend(bases)
    for base in bases:
        relate(base, "ancestorOf", [model])
    datasets = [_dataset(spdx, element, d) for d in (facts.card.datasets if facts.card else ())]
    elements.extend(datasets)
    relate(model, "trainedOn", datasets)
    if facts.tier:
        elements.append(
            element(
                spdx.Annotation,
                "annotation",
                annotationType=spdx.AnnotationType.other,
                subject=model,
                statement=(
                    f"modelseal:publisher-tier={facts.tier.tier} ({facts.tier.label}; {facts.tier.source})"
                ),
            )
        )

    document = element(
        spdx.SpdxDocument,
        "document",
        name=f"MBOM for {facts.model_id or facts.name}",
        rootElement=[model],
        element=elements,
        profileConformance=[
            getattr(spdx.ProfileIdentifierType, p)
            for p in ("core", "software", "ai", "dataset", "simpleLicensing")
        ],
    )
    objects = spdx.SHACLObjectSet()
    for obj in (document, *elements):
        objects.add(obj)
    data = spdx.JSONLDSerializer().serialize_data(objects, force_at_graph=True)
    return json.dumps(data, indent=2) + "\n"


def _ai_package(spdx: Any, element: Any, facts: ModelFacts, publisher: Any) -> Any:
    card = facts.card
    observed = facts.observed
    props: dict[str, Any] = {
        "name": facts.name,
        "software_primaryPurpose": spdx.software_SoftwarePurpose.model,
        "comment": f"manifest digest {facts.manifest_digest}",
    }
    if facts.model_id and HubId.parse(facts.model_id):
        props["software_downloadLocation"] = f"https://huggingface.co/{facts.model_id}"
        purl = hub_purl(facts.model_id, facts.revision)
        if purl is not None:
            props["software_packageUrl"] = purl.to_string()
    if facts.revision:
        props["software_packageVersion"] = facts.revision
    if publisher is not None:
        props["suppliedBy"] = publisher
    kinds = [k for k in (observed.model_type, *observed.architectures) if k]
    if kinds:
        props["ai_typeOfModel"] = kinds
    if card and card.pipeline_tag:
        props["ai_domain"] = [card.pipeline_tag]
    if observed.parameter_count:
        props["ai_hyperparameter"] = [
            spdx.DictionaryEntry(key="parameterCount", value=str(observed.parameter_count))
        ]
    return element(spdx.ai_AIPackage, "model", **props)


def _licence(spdx: Any, element: Any, elements: list[Any], facts: ModelFacts) -> Any:
    card = facts.card
    if card is None or card.license is None:
        return spdx.expandedlicensing_IndividualLicensingInfo.NoAssertionLicense
    text = card.license_name if card.license.casefold() == "other" and card.license_name else card.license
    licence = element(
        spdx.simplelicensing_LicenseExpression, "license", simplelicensing_licenseExpression=_spdx_id(text)
    )
    elements.append(licence)
    return licence


def _spdx_id(text: str) -> str:
    """An SPDX id where the card's licence is one (hub ids are lower-case), else a LicenseRef."""
    from cyclonedx.spdx import fixup_id

    fixed = fixup_id(text)
    if fixed:
        return fixed
    ref = "".join(c if c.isalnum() or c in ".-" else "-" for c in text)[:200]
    return f"LicenseRef-{ref or 'unknown'}"


def _file(spdx: Any, element: Any, relpath: str, digest: str) -> Any:
    algorithm, _, value = digest.partition(":")
    hashes = []
    if algorithm == "sha256" and value:
        hashes = [spdx.Hash(algorithm=spdx.HashAlgorithm.sha256, hashValue=value)]
    return element(spdx.software_File, "file", name=relpath, verifiedUsing=hashes)


def _base_model(spdx: Any, element: Any, base: str) -> Any:
    props: dict[str, Any] = {"name": base, "software_primaryPurpose": spdx.software_SoftwarePurpose.model}
    purl = hub_purl(base) if HubId.parse(base) else None
    if purl is not None:
        props["software_packageUrl"] = purl.to_string()
        props["software_downloadLocation"] = f"https://huggingface.co/{base}"
    return element(spdx.ai_AIPackage, "base-model", **props)


def _dataset(spdx: Any, element: Any, dataset: str) -> Any:
    props: dict[str, Any] = {
        "name": dataset,
        "software_primaryPurpose": spdx.software_SoftwarePurpose.data,
        "dataset_datasetType": [spdx.dataset_DatasetType.noAssertion],
    }
    if HubId.parse(dataset):
        props["software_downloadLocation"] = f"https://huggingface.co/datasets/{dataset}"
    return element(spdx.dataset_DatasetPackage, "dataset", **props)


class SpdxWriter(Writer[ModelFacts]):
    """The SPDX 3.0.1 AI/Dataset BOM of one model, stamped with this modelseal's version."""

    name = "spdx"
    suffix = ".json"

    def write(self, result: ModelFacts, out: TextIO) -> None:
        from modelseal import __version__

        out.write(spdx_json(result, __version__))
