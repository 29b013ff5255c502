"""Publisher tiers: shipped and dated, extended or replaced by configuration, unknown means tier 5."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelseal.core.errors import ConfigError
from modelseal.provenance.config import ProvenanceConfig
from modelseal.provenance.reputation import ReputationTable, publisher_tier


def test_shipped_tiers() -> None:
    table = ReputationTable.shipped()
    assert table.date == "2026-11-25"
    assert publisher_tier("meta-llama/Llama-2-7b-hf").tier == 1
    assert publisher_tier("EleutherAI/pythia-70m").tier == 2
    assert publisher_tier("TheBloke/Llama-2-7B-GPTQ").tier == 3
    assert publisher_tier("huggyllama/llama-7b").tier == 4
    unknown = publisher_tier("nobody-knows/model")
    assert (unknown.tier, unknown.source, unknown.label) == (5, "not listed", "unknown publisher")
    assert publisher_tier("META-LLAMA/x").source == "shipped 2026-11-25"
    assert {t for t in table.tiers.values()} == {1, 2, 3, 4}


def test_configuration_extends_and_overrides(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text("[tool.modelseal.provenance]\npublishers = { acme = 1, TheBloke = 4 }\n")
    table = ProvenanceConfig.load(pyproject).reputation()
    assert table.tier_of("acme/model").tier == 1
    assert table.tier_of("acme/model").source == "configuration"
    assert table.tier_of("TheBloke/x").tier == 4
    assert table.tier_of("meta-llama/x").tier == 1
    replaced = ProvenanceConfig.from_mapping({"publishers": {"acme": 2}, "replace_publishers": True})
    assert replaced.reputation().tier_of("meta-llama/x").tier == 5


@pytest.mark.parametrize(
    "section",
    [
        {"publishers": {"acme": 0}},
        {"publishers": {"acme": "1"}},
        {"publishers": {"acme": True}},
        {"publisher": {}},
        {"internal": "acme/*"},
        {"known_models": ["not an id"]},
    ],
)
def test_bad_configuration_is_a_clear_error(section: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        ProvenanceConfig.from_mapping(section)


def test_unreadable_configuration_is_an_error(tmp_path: Path) -> None:
    broken = tmp_path / "modelseal.toml"
    broken.write_text("[provenance\n")
    with pytest.raises(ConfigError):
        ProvenanceConfig.load(broken)
    with pytest.raises(ConfigError):
        ProvenanceConfig.load(tmp_path / "missing.toml")
