"""Card parsing and consistency: claims contradicting the files are findings; hostile cards never crash."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from modelseal.api.provenance import facts_of as collect
from modelseal.core.config import Config
from modelseal.core.limits import Limits
from modelseal.provenance.card import read_card, size_in_name
from modelseal.sources.local import resolve_local
from tests.provenance.conftest import (
    LLAMA_TENSORS,
    REALISTIC_CARD,
    realistic_files,
    safetensors_bytes,
    write_model,
)


def _rules(folder: Path, model_id: str | None = None) -> list[str]:
    return [f.rule_id for f in collect(str(folder), model_id=model_id).findings]


def test_realistic_card_is_parsed_and_consistent(realistic_model: Path) -> None:
    reading = read_card(resolve_local(str(realistic_model)))
    assert reading.findings == ()
    card = reading.card
    assert card is not None
    assert card.license == "apache-2.0"
    assert card.base_models == ("acme-labs/tiny-base",)
    assert card.datasets == ("acme-labs/tiny-corpus", "wikitext")
    assert card.pipeline_tag == "text-generation"
    assert card.model_name == "tiny-llama-2m"
    assert _rules(realistic_model) == []


def test_missing_card(tmp_path: Path) -> None:
    folder = write_model(tmp_path / "m", {"model.safetensors": safetensors_bytes({"w": [2, 2]})})
    assert _rules(folder) == ["MS-CARD-MISSING"]


@pytest.mark.parametrize(
    ("readme", "rule_id"),
    [
        ("", "MS-CARD-EMPTY"),
        ("# A model\n\nJust prose.\n", "MS-CARD-EMPTY"),
        ("---\n---\n# Empty front matter\n", "MS-CARD-EMPTY"),
        ("---\nlicense: [unclosed\n---\n", "MS-CARD-MALFORMED"),
        ("---\nlicense: mit\n", "MS-CARD-MALFORMED"),
        ("---\n- a\n- list\n---\n", "MS-CARD-MALFORMED"),
        ("---\n!!python/object/apply:os.system ['touch pwned']\n---\n", "MS-CARD-MALFORMED"),
    ],
)
def test_empty_or_broken_cards(tmp_path: Path, readme: str, rule_id: str) -> None:
    folder = write_model(tmp_path / "m", {"README.md": readme})
    assert [f.rule_id for f in read_card(resolve_local(str(folder))).findings] == [rule_id]
    assert not (tmp_path / "m" / "pwned").exists() and not Path("pwned").exists()


def test_alias_bomb_is_bounded(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    folder = write_model(tmp_path / "m", {"README.md": "---\n" + "\n".join(lines) + "\n---\n"})
    findings = read_card(resolve_local(str(folder))).findings
    assert [f.rule_id for f in findings] == ["MS-CARD-MALFORMED"]
    assert "expands" in findings[0].message


def test_card_linking_out_of_the_model_is_not_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.md"
    secret.write_text("---\nlicense: mit\n---\n")
    folder = write_model(tmp_path / "m", {"model.safetensors": safetensors_bytes({"w": [1]})})
    (folder / "README.md").symlink_to(secret)
    assert [f.rule_id for f in collect(str(folder)).findings] == ["MS-FILE-LINK-ESCAPE", "MS-CARD-MISSING"]


def test_oversized_front_matter(tmp_path: Path) -> None:
    folder = write_model(tmp_path / "m", {"README.md": "---\n" + "x: y\n" * 300_000})
    assert "larger than 1 MiB" in read_card(resolve_local(str(folder))).findings[0].message


def _variant(tmp_path: Path, **changes: bytes | str) -> Path:
    files = realistic_files()
    files.update(changes)
    return write_model(tmp_path / "tiny-llama-2m", files)


def test_licence_disagreement(tmp_path: Path) -> None:
    folder = _variant(
        tmp_path, README=REALISTIC_CARD, **{"README.md": REALISTIC_CARD.replace("apache-2.0", "mit")}
    )
    assert "MS-CARD-LICENSE-MISMATCH" in _rules(folder)
    agreeing = _variant(
        tmp_path / "b",
        **{
            "LICENSE": "MIT License\n\nPermission is hereby granted, free of charge,",
            "README.md": REALISTIC_CARD.replace("apache-2.0", "mit"),
        },
    )
    assert "MS-CARD-LICENSE-MISMATCH" not in _rules(agreeing)


def test_no_licence_declared(tmp_path: Path) -> None:
    assert "MS-CARD-NO-LICENSE" in _rules(
        _variant(tmp_path, **{"README.md": REALISTIC_CARD.replace("license: apache-2.0\n", "")})
    )
    assert "MS-CARD-NO-LICENSE" in _rules(
        _variant(
            tmp_path / "b",
            **{"README.md": REALISTIC_CARD.replace("license: apache-2.0\n", "license: other\n")},
        )
    )


def test_architecture_claims(tmp_path: Path) -> None:
    card = REALISTIC_CARD.replace("license: apache-2.0\n", "license: apache-2.0\nmodel_type: bert\n")
    assert "MS-CARD-ARCHITECTURE-MISMATCH" in _rules(_variant(tmp_path, **{"README.md": card}))
    config = json.dumps({"model_type": "bert", "architectures": ["BertModel"]})
    weights = safetensors_bytes({"roberta.embeddings.word_embeddings.weight": [10, 10]})
    swapped = _variant(tmp_path / "b", **{"config.json": config, "model.safetensors": weights})
    findings = [f for f in collect(str(swapped)).findings if f.rule_id == "MS-CARD-ARCHITECTURE-MISMATCH"]
    assert findings and "'roberta' tensors" in findings[0].message


def test_parameter_count_against_name_and_card(tmp_path: Path) -> None:
    folder = _variant(tmp_path)
    assert "MS-CARD-PARAMETERS-MISMATCH" not in _rules(folder, "acme-labs/tiny-llama-2m")
    mismatch = [
        f
        for f in collect(str(folder), model_id="acme-labs/llama-7b").findings
        if f.rule_id == "MS-CARD-PARAMETERS-MISMATCH"
    ]
    assert mismatch and "7B" in mismatch[0].message and "2M" in mismatch[0].message
    claimed = REALISTIC_CARD.replace("license: apache-2.0\n", "license: apache-2.0\nparameters: 70B\n")
    assert "MS-CARD-PARAMETERS-MISMATCH" in _rules(_variant(tmp_path / "b", **{"README.md": claimed}))


def test_size_in_name() -> None:
    assert size_in_name("Llama-2-7b-hf") == 7 * 10**9
    assert size_in_name("opt-1.3b") == 1_300_000_000
    assert size_in_name("Mixtral-8x7B-v0.1") == 56 * 10**9
    assert size_in_name("pythia-70m") == 70 * 10**6
    assert size_in_name("bert-base-uncased") is None
    assert size_in_name("t5-v1_1-base") is None


def test_base_model_lineage(tmp_path: Path) -> None:
    adapter = json.dumps({"base_model_name_or_path": "other-org/other-base", "peft_type": "LORA"})
    assert "MS-CARD-BASE-MODEL-MISMATCH" in _rules(_variant(tmp_path, **{"adapter_config.json": adapter}))
    undeclared = REALISTIC_CARD.replace("base_model: acme-labs/tiny-base\n", "")
    folder = _variant(tmp_path / "b", **{"README.md": undeclared, "adapter_config.json": adapter})
    finding = [f for f in collect(str(folder)).findings if f.rule_id == "MS-CARD-BASE-MODEL-MISMATCH"]
    assert finding and "declares none" in finding[0].message
    config = json.dumps({"model_type": "llama", "_name_or_path": "someone-else/base"})
    assert "MS-CARD-BASE-MODEL-MISMATCH" in _rules(_variant(tmp_path / "c", **{"config.json": config}))


@pytest.mark.parametrize(
    "weights",
    [
        b"",
        b"\x01",
        struct.pack("<Q", 1 << 60) + b"{}",
        struct.pack("<Q", 4) + b"[1] ",
        struct.pack("<Q", 6) + b"{bad}x",
    ],
)
def test_hostile_weight_headers_are_unverifiable_not_fatal(tmp_path: Path, weights: bytes) -> None:
    folder = _variant(tmp_path, **{"model.safetensors": weights})
    facts = collect(str(folder))
    assert "MS-CARD-UNVERIFIABLE" in [f.rule_id for f in facts.findings]
    assert facts.observed.parameter_count is None


def test_header_limit_is_respected(tmp_path: Path) -> None:
    folder = _variant(tmp_path, **{"config.json": json.dumps({"model_type": "llama", "pad": "x" * 5000})})
    facts = collect(str(folder), config=Config(limits=Limits(max_header_bytes=1024)))
    assert {f.rule_id for f in facts.findings} == {"MS-CARD-UNVERIFIABLE"}
    assert facts.observed.parameter_count is None or facts.observed.parameter_count == sum(
        a * b for a, b in LLAMA_TENSORS.values()
    )
