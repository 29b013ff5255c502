"""Look-alike detection: every class the issue lists is caught, genuine and merely similar ids are not."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelseal.core.findings import Severity
from modelseal.provenance.config import ProvenanceConfig
from modelseal.provenance.names import Catalogue, InternalNames, assess, check_model_id, resemblance


@pytest.mark.parametrize(
    ("model_id", "rule_id", "kind"),
    [
        ("meta-llama/Llama-2-7b-hf", None, None),
        ("mistralai/Mistral-7B-Instruct-v0.2", None, None),
        ("META-LLAMA/llama-2-7b-HF", None, None),  # the hub matches ids case-insensitively
        ("meta-llarna/Llama-2-7b-hf", "MS-NAME-ORG-IMPERSONATION", "look-alike characters"),  # rn / m
        ("micr0soft/phi-2", "MS-NAME-ORG-IMPERSONATION", "look-alike characters"),  # 0 / O
        ("TheBIoke/Llama-2-7B-GPTQ", "MS-NAME-ORG-IMPERSONATION", "look-alike characters"),  # I / l
        ("goog1e/gemma-2b", "MS-NAME-ORG-IMPERSONATION", "look-alike characters"),  # 1 / l
        ("faceboook/opt-1.3b", "MS-NAME-ORG-IMPERSONATION", "doubled character"),
        ("nvidla/mit-b0", "MS-NAME-ORG-IMPERSONATION", "look-alike characters"),
        ("microsft/phi-2", "MS-NAME-ORG-IMPERSONATION", "dropped character"),
        ("micorsoft/phi-2", "MS-NAME-ORG-IMPERSONATION", "swapped characters"),
        ("mistralao/Mistral-7B-v0.1", "MS-NAME-ORG-IMPERSONATION", "keyboard slip"),
        ("metallama/Llama-2-7b-hf", "MS-NAME-ORG-IMPERSONATION", "separator change"),
        ("llama-meta/Llama-2-7b-hf", "MS-NAME-ORG-IMPERSONATION", "order change"),
        ("meta-llama-official/Llama-2-7b-hf", "MS-NAME-ORG-IMPERSONATION", "added suffix 'official'"),
        ("official-openai/whisper-tiny", "MS-NAME-ORG-IMPERSONATION", "added prefix 'official'"),
        ("mistralai/Mistral-7B-lnstruct-v0.2", "MS-NAME-LOOKALIKE", "look-alike characters"),
        ("Qwen/Qwen2.5-7B-Instruct-hf", "MS-NAME-LOOKALIKE", "added suffix 'hf'"),
        ("meta-llama/Llama-2-7b-chat", "MS-NAME-LOOKALIKE", "dropped suffix 'hf'"),
        ("randomuser/bert-base-uncased", "MS-NAME-REUSED", None),
        ("randomuser/bert-base-uncased-fixed", "MS-NAME-LOOKALIKE", "added suffix 'fixed'"),
        ("gtp2", "MS-NAME-LOOKALIKE", "swapped characters"),
    ],
)
def test_each_lookalike_class_is_named(model_id: str, rule_id: str | None, kind: str | None) -> None:
    verdict = assess(model_id)
    if rule_id is None:
        assert verdict.verdict == "known" and not verdict.findings
        return
    assert verdict.suspicious
    matching = [f for f in verdict.findings if f.rule_id == rule_id]
    assert matching, [f.message for f in verdict.findings]
    if kind:
        assert f"({kind})" in matching[0].message


@pytest.mark.parametrize(
    "model_id",
    [
        "owen/chat-model",  # one edit from "qwen", but short names only match by look-alike classes
        "meta-llama/Llama-2-8b-hf",  # numbers alone make siblings, not typos
        "someone/my-own-model",
        "acme-labs/fraud-detector",
        "meta-llama/Llama-5-8B",  # unlisted model of a genuine organisation: not a near miss of a listed one
    ],
)
def test_similar_but_distinct_ids_are_not_flagged(model_id: str) -> None:
    verdict = assess(model_id)
    assert not verdict.suspicious, [f.message for f in verdict.findings]


def test_distance_is_relative_to_length() -> None:
    assert resemblance("qwem", "qwen", frozenset()) == "keyboard slip"
    assert resemblance("qxen", "qwen", frozenset()) is None  # substitution far from the key, short name
    assert resemblance("multilingual-e5-lagre-instruct", "multilingual-e5-large-instruct", frozenset())
    assert resemblance("multilingual-e5-lrage-instrcut", "multilingual-e5-large-instruct", frozenset())
    assert resemblance("bert-base-uncased", "bert-base-cased", frozenset()) == "2 character edits"
    assert resemblance("opt-13b", "opt-1.3b", frozenset()) == "separator change"


def test_non_ascii_ids_are_invalid_and_suspicious() -> None:
    verdict = assess("mіstralai/Mistral-7B-v0.1")  # Cyrillic і
    assert verdict.suspicious and verdict.findings[0].rule_id == "MS-NAME-INVALID"
    assert assess("../etc/passwd").findings[0].rule_id == "MS-NAME-INVALID"


def test_internal_names_collide_with_public_ids() -> None:
    internal = InternalNames.parse(["acme/fraud-detector", "churn-model", "# comment", "acme-ml/*"])
    assert internal.orgs == {"acme", "acme-ml"}
    assert assess("acme/fraud-detector", internal).verdict == "internal"
    assert assess("acme-ml/anything", internal).verdict == "internal"
    for public in (
        "evil/fraud-detector",
        "evil/fraud-detecter",
        "evil/acme-fraud-detector",
        "evil/churn_model",
    ):
        findings = check_model_id(public, internal)
        assert [f.rule_id for f in findings] == ["MS-NAME-INTERNAL-COLLISION"], public
        assert findings[0].severity is Severity.HIGH
    assert any("internal one 'acme'" in f.message for f in check_model_id("acrne/x", internal))
    assert check_model_id("evil/other-model", internal) == []


def test_check_model_id_accepts_plain_strings_for_internal_names() -> None:
    assert check_model_id("someone/churn-model", ["churn-model"])[0].rule_id == "MS-NAME-INTERNAL-COLLISION"
    assert check_model_id("meta-llama/Llama-2-7b-hf") == []


def test_shipped_list_is_dated_large_and_tiered() -> None:
    catalogue = Catalogue.shipped()
    assert catalogue.date == "2026-11-25"
    ids = list(catalogue.ids())
    assert len(ids) >= 300
    assert len({i.casefold() for i in ids}) == len(ids)
    tiers = ProvenanceConfig().reputation()
    assert all(tiers.tier_of(i).source.startswith("shipped") for i in ids), "every listed org has a tier"
    assert all(assess(i).verdict == "known" for i in ids)


def test_configured_publishers_and_models_are_known(tmp_path: Path) -> None:
    assert assess("meta-llama-research/x").suspicious
    config = ProvenanceConfig.from_mapping(
        {"publishers": {"meta-llama-research": 2}, "known_models": ["acme/llama-2-7b-hff"]}
    )
    assert not assess("meta-llama-research/x", catalogue=config.catalogue()).suspicious
    assert assess("acme/llama-2-7b-hff", catalogue=config.catalogue()).verdict == "known"


def _cli() -> CliRunner:
    return CliRunner()


def _app():  # type: ignore[no-untyped-def]
    import typer

    from modelseal.cli.provenance import register

    app = typer.Typer()
    register(app)
    app.callback()(lambda: None)
    return app


def test_names_command_exit_codes(tmp_path: Path) -> None:
    ok = _cli().invoke(_app(), ["names", "meta-llama/Llama-2-7b-hf", "openai/whisper-tiny"])
    assert ok.exit_code == 0, ok.output
    assert "known" in ok.output and "tier 1" in ok.output
    bad = _cli().invoke(_app(), ["names", "meta-llama/Llama-2-7b-hf", "metallama/Llama-2-7b-hf"])
    assert bad.exit_code == 1
    assert "suspicious" in bad.output and "MS-NAME-ORG-IMPERSONATION" in bad.output
    internal = tmp_path / "internal.txt"
    internal.write_text("acme/fraud-detector\n")
    hit = _cli().invoke(_app(), ["names", "evil/fraud-detector", "--internal", str(internal), "-f", "json"])
    assert hit.exit_code == 1 and '"MS-NAME-INTERNAL-COLLISION"' in hit.output
    missing = _cli().invoke(_app(), ["names", "x/y", "--internal", str(tmp_path / "nope.txt")])
    assert missing.exit_code == 2
