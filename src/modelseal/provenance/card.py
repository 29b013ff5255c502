"""The model card's claims (YAML front matter of README.md) and their consistency with the files.

A card is what the publisher says; config.json, adapter_config.json, the LICENSE text and the weight
headers are what the files show. Each disagreement is a finding, because a swapped or re-badged
model usually keeps the card of the model it pretends to be.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import yaml

from modelseal.core.artifact import Artifact
from modelseal.core.findings import Finding
from modelseal.core.rules import make_finding

CARD_FILE = "README.md"
MAX_CARD_BYTES = 1 << 20
"""Front matter larger than this is not a card but an attack on the parser."""
MAX_YAML_NODES = 100_000
"""Bound on the parsed metadata walked, so alias expansion ("billion laughs") cannot exhaust memory."""

_SIZE_TOKEN = re.compile(r"(?:^|[-_./ ])(?:(\d+)x)?(\d+(?:\.\d+)?)([mb])(?=$|[-_./ ])", re.IGNORECASE)
_SCALE = {"m": 10**6, "b": 10**9}


@dataclass(frozen=True)
class ModelCard:
    """The parsed card. ``metadata`` is the front matter; absent keys mean the card does not say."""

    metadata: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    title: str = ""
    body_chars: int = 0

    def _strings(self, key: str) -> tuple[str, ...]:
        value = self.metadata.get(key)
        if isinstance(value, str):
            return (value,) if value.strip() else ()
        if isinstance(value, list):
            return tuple(str(v) for v in value if isinstance(v, (str, int, float)) and str(v).strip())
        return ()

    def _first(self, *keys: str) -> str | None:
        return next((found[0] for key in keys if (found := self._strings(key))), None)

    @property
    def license(self) -> str | None:
        return self._first("license")

    @property
    def license_name(self) -> str | None:
        return self._first("license_name", "license_link")

    @property
    def base_models(self) -> tuple[str, ...]:
        return self._strings("base_model")

    @property
    def datasets(self) -> tuple[str, ...]:
        return self._strings("datasets")

    @property
    def pipeline_tag(self) -> str | None:
        return self._first("pipeline_tag")

    @property
    def library_name(self) -> str | None:
        return self._first("library_name")

    @property
    def languages(self) -> tuple[str, ...]:
        return self._strings("language")

    @property
    def tags(self) -> tuple[str, ...]:
        return self._strings("tags")

    @property
    def architecture_claims(self) -> tuple[str, ...]:
        """Explicit architecture keys; tags are too loose to count as a claim."""
        return self._strings("model_type") + self._strings("architecture") + self._strings("architectures")

    @property
    def model_name(self) -> str | None:
        index = self.metadata.get("model-index")
        if isinstance(index, list) and index and isinstance(index[0], Mapping):
            name = index[0].get("name")
            if isinstance(name, str) and name.strip():
                return name
        return self.title or None

    def parameter_claim(self) -> tuple[int, str] | None:
        """(count, where the claim came from): an explicit key, else a size in the model's name."""
        for key in ("parameters", "num_parameters", "params", "model_size"):
            value = self.metadata.get(key)
            count = value if isinstance(value, int) and not isinstance(value, bool) else None
            if isinstance(value, str):
                count = size_in_name(f"-{value.replace(' ', '')}-")
            if count:
                return count, f"card field {key!r}"
        return None


def size_in_name(name: str) -> int | None:
    """``Llama-2-7b-hf`` -> 7e9, ``Mixtral-8x7B`` -> 56e9: the size a name claims, if any."""
    m = _SIZE_TOKEN.search(name)
    if m is None:
        return None
    experts = int(m[1]) if m[1] else 1
    return int(float(m[2]) * _SCALE[m[3].lower()] * experts)


@dataclass(frozen=True)
class CardReading:
    card: ModelCard | None
    findings: tuple[Finding, ...] = ()


def read_card(artifact: Artifact) -> CardReading:
    """Read the artifact's ``README.md`` (only a file the resolver accepted, never a link out of the model);
    a missing, empty or broken card is a finding, never an error."""
    entry = (
        next((f for f in artifact.files if f.relpath == CARD_FILE), None) if artifact.root.is_dir() else None
    )
    if entry is None:
        return CardReading(None, (make_finding("MS-CARD-MISSING", "the model has no README.md card"),))
    try:
        with entry.path.open("rb") as f:
            raw = f.read(MAX_CARD_BYTES + 1)
    except OSError as exc:
        return CardReading(
            None, (make_finding("MS-FILE-UNREADABLE", f"cannot read the card: {exc}", file=CARD_FILE),)
        )
    text = raw.decode("utf-8", errors="replace").lstrip("\ufeff")
    metadata, body, problem = _split_front_matter(text, truncated=len(raw) > MAX_CARD_BYTES)
    if problem:
        card = ModelCard(title=_title(body), body_chars=len(body.strip()))
        return CardReading(card, (make_finding("MS-CARD-MALFORMED", problem, file=CARD_FILE),))
    card = ModelCard(MappingProxyType(metadata), _title(body), len(body.strip()))
    if not metadata:
        what = "no text either" if not card.body_chars else f"{card.body_chars} characters of prose only"
        return CardReading(
            card, (make_finding("MS-CARD-EMPTY", f"the card has no metadata ({what})", file=CARD_FILE),)
        )
    return CardReading(card)


def _split_front_matter(text: str, *, truncated: bool) -> tuple[dict[str, Any], str, str]:
    """(metadata, body, problem); ``problem`` is empty when the front matter parsed."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        return {}, text, ""
    i = next((n for n, line in enumerate(lines[1:], start=1) if line.strip() == "---"), 0)
    if not i:
        reason = "is larger than 1 MiB" if truncated else "is not closed by a '---' line"
        return {}, "", f"the card's front matter {reason}"
    try:
        data = yaml.safe_load("".join(lines[1:i]))
    except yaml.YAMLError as exc:
        return {}, "", f"the card's YAML front matter does not parse: {str(exc).splitlines()[0]}"
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return {}, "", f"the card's front matter is a {type(data).__name__}, not a mapping"
    if _node_count(data, MAX_YAML_NODES) > MAX_YAML_NODES:
        return {}, "", f"the card's front matter expands to more than {MAX_YAML_NODES} values (alias bomb?)"
    return data, "".join(lines[i + 1 :]), ""


def _node_count(value: Any, budget: int) -> int:
    """Values reachable, counting shared (aliased) ones each time they are reached; stops past ``budget``."""
    seen = 0
    stack = [value]
    while stack and seen <= budget:
        item = stack.pop()
        seen += 1
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return seen


def _title(body: str) -> str:
    for line in body.splitlines()[:200]:
        if line.startswith("# "):
            return line[2:].strip()
    return ""


@dataclass(frozen=True)
class Observed:
    """What the files show, independent of what the card says."""

    model_type: str | None = None
    architectures: tuple[str, ...] = ()
    name_or_path: str | None = None
    adapter_base: str | None = None
    parameter_count: int | None = None
    tensor_roots: frozenset[str] = frozenset()
    license_family: str | None = None
    license_file: str | None = None
    findings: tuple[Finding, ...] = ()


# Licence texts are recognised by phrases that only their own text carries; the value lists the card
# licence ids (prefixes) that agree with it.
LICENSE_SIGNATURES: Sequence[tuple[str, tuple[str, ...], tuple[str, ...]]] = (
    ("llama4", ("llama 4 community license",), ("llama4",)),
    ("llama3.3", ("llama 3.3 community license",), ("llama3.3",)),
    ("llama3.2", ("llama 3.2 community license",), ("llama3.2",)),
    ("llama3.1", ("llama 3.1 community license",), ("llama3.1",)),
    ("llama3", ("meta llama 3 community license",), ("llama3",)),
    ("llama2", ("llama 2 community license",), ("llama2",)),
    ("gemma", ("gemma terms of use",), ("gemma",)),
    ("apache-2.0", ("apache license", "version 2.0"), ("apache-2.0",)),
    ("mit", ("permission is hereby granted, free of charge",), ("mit",)),
    ("gpl-3.0", ("gnu general public license", "version 3"), ("gpl-3.0", "agpl-3.0")),
    ("gpl-2.0", ("gnu general public license", "version 2"), ("gpl-2.0",)),
    ("lgpl", ("gnu lesser general public license",), ("lgpl",)),
    ("bsd", ("redistribution and use in source and binary forms",), ("bsd",)),
    ("cc-by-nc-sa", ("attribution-noncommercial-sharealike",), ("cc-by-nc-sa",)),
    ("cc-by-nc-nd", ("attribution-noncommercial-noderivatives",), ("cc-by-nc-nd",)),
    ("cc-by-nc", ("attribution-noncommercial",), ("cc-by-nc",)),
    ("cc-by-sa", ("attribution-sharealike",), ("cc-by-sa",)),
    (
        "openrail",
        ("openrail",),
        ("openrail", "creativeml-openrail", "bigscience-openrail", "bigcode-openrail"),
    ),
    ("cc-by", ("creative commons attribution",), ("cc-by-",)),
)


def licence_family(text: str) -> tuple[str, tuple[str, ...]] | None:
    lowered = " ".join(text.casefold().split())
    for family, phrases, accepted in LICENSE_SIGNATURES:
        if all(p in lowered for p in phrases):
            return family, accepted
    return None


def consistency_findings(card: ModelCard | None, observed: Observed, model_id: str | None) -> list[Finding]:
    """Claims of the card (and of the name) against what the files show."""
    found: list[Finding] = list(observed.findings)
    if card is not None and card.metadata:
        found.extend(_licence_findings(card, observed))
        found.extend(_architecture_claim_findings(card, observed))
        found.extend(_base_model_findings(card, observed, model_id))
    found.extend(_weights_architecture_findings(observed))
    found.extend(_parameter_findings(card, observed, model_id))
    return found


def _licence_findings(card: ModelCard, observed: Observed) -> list[Finding]:
    licence = card.license
    if licence is None or (licence.casefold() == "other" and card.license_name is None):
        what = "says 'other' without license_name or license_link" if licence else "names no licence"
        return [make_finding("MS-CARD-NO-LICENSE", f"the card {what}", file=CARD_FILE)]
    if observed.license_family is None or licence.casefold() in {"other", "unknown"}:
        return []
    accepted = next(a for f, _, a in LICENSE_SIGNATURES if f == observed.license_family)
    if licence.casefold().startswith(accepted):
        return []
    return [
        make_finding(
            "MS-CARD-LICENSE-MISMATCH",
            f"the card declares {licence!r} but {observed.license_file} is the "
            f"{observed.license_family} text",
            file=CARD_FILE,
            evidence=f"card: {licence}; file: {observed.license_family}",
        )
    ]


def _norm_arch(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.casefold())


def _architecture_claim_findings(card: ModelCard, observed: Observed) -> list[Finding]:
    observed_names = {_norm_arch(a) for a in observed.architectures}
    if observed.model_type:
        observed_names.add(_norm_arch(observed.model_type))
    if not observed_names:
        return []
    wrong = [
        c
        for c in card.architecture_claims
        if not any(_norm_arch(c) in o or o in _norm_arch(c) for o in observed_names)
    ]
    if not wrong:
        return []
    shown = observed.model_type or ", ".join(observed.architectures)
    return [
        make_finding(
            "MS-CARD-ARCHITECTURE-MISMATCH",
            f"the card declares architecture {wrong[0]!r} but config.json says {shown!r}",
            file=CARD_FILE,
            evidence=f"card: {wrong[0]}; config.json: {shown}",
        )
    ]


# Tensor-name roots that name a model family (transformers' base_model_prefix); a checkpoint whose
# tensors sit under another family's root is not the model config.json describes.
FAMILY_ROOTS = frozenset(
    {
        "bert",
        "roberta",
        "deberta",
        "distilbert",
        "albert",
        "electra",
        "gpt_neox",
        "xlnet",
        "longformer",
        "camembert",
        "mpnet",
        "funnel",
        "wav2vec2",
        "hubert",
        "vit",
        "swin",
        "beit",
        "convnext",
        "clip",
        "whisper",
        "bart",
        "pegasus",
        "mbart",
        "mpt",
        "falcon",
    }
)
_FAMILY_ALIASES = {
    "xlm-roberta": "roberta",
    "deberta-v2": "deberta",
    "gpt-neox": "gpt_neox",
    "clip_vision_model": "clip",
    "clip_text_model": "clip",
}


def _weights_architecture_findings(observed: Observed) -> list[Finding]:
    if not observed.model_type:
        return []
    declared = _FAMILY_ALIASES.get(observed.model_type.casefold(), observed.model_type.casefold())
    foreign = sorted(r for r in observed.tensor_roots if r in FAMILY_ROOTS and r != declared)
    if not foreign:
        return []
    return [
        make_finding(
            "MS-CARD-ARCHITECTURE-MISMATCH",
            f"config.json says model_type {observed.model_type!r} but the weights hold "
            f"{foreign[0]!r} tensors",
            file="config.json",
            evidence=f"tensor roots: {', '.join(sorted(observed.tensor_roots))}",
        )
    ]


def _parameter_findings(card: ModelCard | None, observed: Observed, model_id: str | None) -> list[Finding]:
    if not observed.parameter_count:
        return []
    claim = card.parameter_claim() if card else None
    if claim is None:
        for label, name in (("the model id", model_id), ("the card's model name", card and card.model_name)):
            size = size_in_name(name.rsplit("/", 1)[-1]) if name else None
            if size:
                claim = (size, f"{label} {name!r}")
                break
    if claim is None:
        return []
    claimed, source = claim
    ratio = observed.parameter_count / claimed
    if 0.5 <= ratio <= 2.0:
        return []
    return [
        make_finding(
            "MS-CARD-PARAMETERS-MISMATCH",
            f"{source} claims about {_human(claimed)} parameters but the weights hold "
            f"{_human(observed.parameter_count)}",
            evidence=f"claimed {claimed}; observed {observed.parameter_count}",
        )
    ]


def _human(n: int) -> str:
    for scale, unit in ((10**9, "B"), (10**6, "M"), (10**3, "K")):
        if n >= scale:
            return f"{n / scale:.3g}{unit}"
    return str(n)


def looks_like_hub_id(text: str | None) -> bool:
    return bool(text) and re.fullmatch(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*", text or "") is not None


def _base_model_findings(card: ModelCard, observed: Observed, model_id: str | None) -> list[Finding]:
    declared = {b.casefold() for b in card.base_models}
    named: list[tuple[str, str]] = []
    if looks_like_hub_id(observed.adapter_base):
        named.append(("adapter_config.json", observed.adapter_base or ""))
    # _name_or_path also holds a model's own id, so it only counts against a declared base model
    own = (model_id or "").casefold()
    if (
        declared
        and looks_like_hub_id(observed.name_or_path)
        and (observed.name_or_path or "").casefold() != own
    ):
        named.append(("config.json _name_or_path", observed.name_or_path or ""))
    for where, base in named:
        if base.casefold() in declared:
            continue
        if declared:
            message = f"the card declares base model {card.base_models[0]!r} but {where} names {base!r}"
        else:
            message = f"{where} names base model {base!r} but the card declares none"
        return [
            make_finding(
                "MS-CARD-BASE-MODEL-MISMATCH",
                message,
                file=CARD_FILE,
                evidence=f"card: {', '.join(card.base_models) or '-'}; {where}: {base}",
            )
        ]
    return []
