"""BOMs validate offline against the official CycloneDX 1.6 and SPDX 3.0.1 schemas, with manifest digests.

CycloneDX: the JSON schema that cyclonedx-python-lib ships. SPDX 3.0.1: spdx-python-model, whose bindings
are generated from the official SPDX 3.0.1 SHACL model, reads the document back and re-encodes it, which
enforces every class, property type and cardinality of the model — without any network access.
"""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from modelseal.api.provenance import facts_of as collect
from modelseal.cli.provenance import register
from modelseal.core.hashing import hash_file
from modelseal.integrity.manifest import manifest_digest
from modelseal.reports.cyclonedx import cyclonedx_json
from modelseal.reports.spdx import spdx_json
from tests.provenance.conftest import COMMIT, safetensors_bytes, write_model


def cyclonedx_errors(text: str) -> object:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    return JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)


def spdx_errors(text: str) -> list[str]:
    """Violations of the SPDX 3.0.1 model found by a read-and-re-encode round trip."""
    from spdx_python_model import v3_0_1 as spdx

    document = json.loads(text)
    if document.get("@context") != "https://spdx.org/rdf/3.0.1/spdx-context.jsonld":
        return [f"unexpected @context {document.get('@context')!r}"]
    objects = spdx.SHACLObjectSet()
    try:
        spdx.JSONLDDeserializer().read(io.StringIO(text), objects)
        spdx.JSONLDSerializer().write(objects, io.BytesIO())
    except (ValueError, TypeError, KeyError) as exc:
        return [f"{type(exc).__name__}: {exc}"]
    return []


def _digests(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hash_file(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def test_cyclonedx_for_a_realistic_cached_model(cached_model: Path) -> None:
    facts = collect(str(cached_model))
    assert facts.findings == ()
    text = cyclonedx_json(facts, "0.1.0")
    assert cyclonedx_errors(text) is None
    bom = json.loads(text)
    assert bom["specVersion"] == "1.6"
    model = bom["metadata"]["component"]
    assert model["type"] == "machine-learning-model"
    assert model["purl"] == f"pkg:huggingface/acme-labs/tiny-llama-2m@{COMMIT}"
    assert model["licenses"] == [{"license": {"id": "Apache-2.0"}}]
    hashes = {c["name"]: "sha256:" + c["hashes"][0]["content"] for c in model["components"]}
    assert hashes == _digests(cached_model)
    props = {p["name"]: p["value"] for p in model["properties"]}
    assert props["modelseal:manifest-digest"] == manifest_digest(list(hashes.items()))
    assert props["modelseal:publisher-tier"] == "5"
    card = model["modelCard"]
    assert card["modelParameters"]["task"] == "text-generation"
    assert card["modelParameters"]["modelArchitecture"] == "LlamaForCausalLM"
    assert card["quantitativeAnalysis"]["performanceMetrics"] == [
        {"type": "perplexity", "value": "42.1", "slice": "wikitext"}
    ]
    by_ref = {c["bom-ref"]: c for c in bom["components"]}
    assert by_ref["base-model-0"]["purl"] == "pkg:huggingface/acme-labs/tiny-base"
    assert by_ref["dataset-0"]["type"] == "data"
    assert {"ref": "dataset-1"} in card["modelParameters"]["datasets"]
    root = next(d for d in bom["dependencies"] if d["ref"] == "model")
    assert set(root["dependsOn"]) == {"base-model-0", "dataset-0", "dataset-1"}


def test_cyclonedx_validator_is_live(cached_model: Path) -> None:
    bom = json.loads(cyclonedx_json(collect(str(cached_model)), "0.1.0"))
    bom["metadata"]["component"]["modelCard"]["modelParameters"]["approach"] = {"type": "guesswork"}
    assert cyclonedx_errors(json.dumps(bom)) is not None


def test_spdx_for_a_realistic_cached_model(cached_model: Path) -> None:
    created = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    text = spdx_json(collect(str(cached_model)), "0.1.0", created)
    assert spdx_errors(text) == []
    graph = json.loads(text)["@graph"]
    by_type: dict[str, list[dict[str, Any]]] = {}
    for obj in graph:
        by_type.setdefault(obj["type"], []).append(obj)
    model = next(p for p in by_type["ai_AIPackage"] if p["name"] == "tiny-llama-2m")
    assert model["software_packageUrl"] == f"pkg:huggingface/acme-labs/tiny-llama-2m@{COMMIT}"
    assert model["software_packageVersion"] == COMMIT
    assert model["ai_typeOfModel"] == ["llama", "LlamaForCausalLM"]
    assert {d["name"] for d in by_type["dataset_DatasetPackage"]} == {"acme-labs/tiny-corpus", "wikitext"}
    files = {f["name"]: "sha256:" + f["verifiedUsing"][0]["hashValue"] for f in by_type["software_File"]}
    assert files == _digests(cached_model)
    kinds = {r["relationshipType"] for r in by_type["Relationship"]}
    assert {"hasDeclaredLicense", "hasConcludedLicense", "contains", "ancestorOf", "trainedOn"} <= kinds
    assert (
        by_type["simplelicensing_LicenseExpression"][0]["simplelicensing_licenseExpression"] == "Apache-2.0"
    )
    assert "modelseal:publisher-tier=5" in by_type["Annotation"][0]["statement"]
    assert by_type["CreationInfo"][0]["created"] == "2026-01-02T03:04:05Z"
    assert spdx_json(collect(str(cached_model)), "0.1.0", created) == text  # reproducible


def test_spdx_validators_are_live(cached_model: Path) -> None:
    document = json.loads(spdx_json(collect(str(cached_model)), "0.1.0"))
    dataset = next(o for o in document["@graph"] if o["type"] == "dataset_DatasetPackage")
    del dataset["dataset_datasetType"]  # minCount 1 in the Dataset profile
    assert spdx_errors(json.dumps(document))


@pytest.mark.parametrize("fmt", ["cyclonedx", "spdx"])
def test_cardless_folder_gives_valid_bom_and_finding(tmp_path: Path, fmt: str) -> None:
    folder = write_model(tmp_path / "bare", {"model.safetensors": safetensors_bytes({"w": [3, 3]})})
    facts = collect(str(folder))
    assert [f.rule_id for f in facts.findings] == ["MS-CARD-MISSING"]
    if fmt == "cyclonedx":
        text = cyclonedx_json(facts, "0.1.0")
        assert cyclonedx_errors(text) is None
        assert json.loads(text)["metadata"]["component"]["modelCard"]["properties"][-1] == {
            "name": "modelseal:card",
            "value": "missing",
        }
    else:
        text = spdx_json(facts, "0.1.0")
        assert spdx_errors(text) == []
    assert hash_file(folder / "model.safetensors").split(":")[1] in text


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    app.callback()(lambda: None)
    return app


def test_bom_command(cached_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "bom.cdx.json"
    result = CliRunner().invoke(_app(), ["bom", str(cached_model), "--format", "cyclonedx", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert cyclonedx_errors(out.read_text()) is None
    bare = write_model(tmp_path / "bare", {"weights.bin": b"\0" * 16})
    result = CliRunner().invoke(_app(), ["bom", str(bare), "-f", "spdx", "--id", "someone/bare"])
    assert result.exit_code == 1
    assert "MS-CARD-MISSING" in result.output
    assert '"spdxId"' in result.output and "pkg:huggingface/someone/bare" in result.output
    missing = CliRunner().invoke(_app(), ["bom", str(tmp_path / "nope")])
    assert missing.exit_code == 2
