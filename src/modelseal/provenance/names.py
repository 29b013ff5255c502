"""Look-alike model ids: typosquats, impersonated organisations, and collisions with internal names.

An id is compared with a shipped, dated list of well-known organisations and models. Distance is
relative to length: short names only match by look-alike classes (homoglyphs, doubled, swapped or
keyboard-adjacent characters), longer ones also by a small number of edits, so ``qwen`` does not flag
every four-letter organisation. Numbers alone never make a look-alike (``7b`` vs ``13b`` is a sibling,
not a typo) unless the digits themselves are look-alikes (``0``/``O``, ``1``/``l``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType

from rapidfuzz.distance import OSA

from modelseal.core.errors import ConfigError
from modelseal.core.findings import Finding, Severity
from modelseal.core.rules import make_finding
from modelseal.provenance._data import load_toml
from modelseal.provenance.reputation import ReputationTable

_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"
_HUB_ID = re.compile(rf"^(?:(?P<org>{_PART})/)?(?P<name>{_PART})$")
_SEPARATORS = re.compile(r"[-_.]+")
_DOUBLED = re.compile(r"(.)\1+")
_NUMBER = re.compile(r"\d+")
_HOMOGLYPHS = str.maketrans({"0": "o", "1": "l", "i": "l", "|": "l"})
_KEYBOARD_ROWS = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm")

NAME_AFFIXES = frozenset(
    {
        "hf",
        "new",
        "fixed",
        "official",
        "updated",
        "latest",
        "final",
        "original",
        "safetensors",
        "pytorch",
        "full",
        "release",
        "v2",
        "v3",
        "uncensored",
        "patched",
        "secure",
        "safe",
        "verified",
    }
)
"""Suffixes that re-badge a model as a newer or safer copy rather than name a real variant."""
ORG_AFFIXES = frozenset(
    {
        "official",
        "ai",
        "hf",
        "team",
        "org",
        "inc",
        "labs",
        "lab",
        "research",
        "community",
        "hq",
        "models",
        "real",
        "the",
        "huggingface",
        "corp",
        "global",
        "dev",
        "io",
        "llc",
        "group",
        "opensource",
    }
)
"""Words an impersonator adds in front of or after a well-known organisation's name."""


def _keyboard_neighbours() -> Mapping[str, frozenset[str]]:
    near: dict[str, set[str]] = {}
    for r, row in enumerate(_KEYBOARD_ROWS):
        for c, key in enumerate(row):
            cells = {(r, c - 1), (r, c + 1), (r - 1, c), (r - 1, c + 1), (r + 1, c), (r + 1, c - 1)}
            near[key] = {
                _KEYBOARD_ROWS[rr][cc]
                for rr, cc in cells
                if 0 <= rr < len(_KEYBOARD_ROWS) and 0 <= cc < len(_KEYBOARD_ROWS[rr])
            }
    return MappingProxyType({k: frozenset(v) for k, v in near.items()})


_NEAR_KEYS = _keyboard_neighbours()


@dataclass(frozen=True)
class HubId:
    org: str
    name: str

    @classmethod
    def parse(cls, text: str) -> HubId | None:
        """``org/name`` or a legacy bare ``name``; None when it cannot be a hub id at all."""
        m = _HUB_ID.match(text.strip())
        if m is None or ".." in text or "--" in (m["org"] or ""):
            return None
        return cls(m["org"] or "", m["name"])

    def __str__(self) -> str:
        return f"{self.org}/{self.name}" if self.org else self.name


@lru_cache(maxsize=1 << 16)
def _skeleton(text: str) -> str:
    """What the eye reads: case, look-alike glyphs, separators and doubled letters folded away."""
    s = text.casefold().replace("rn", "m").replace("vv", "w").translate(_HOMOGLYPHS)
    return _collapse(_SEPARATORS.sub("", s))


def _collapse(text: str) -> str:
    return _DOUBLED.sub(r"\1", text)


def _tokens(text: str) -> list[str]:
    return [t for t in _SEPARATORS.split(text.casefold()) if t]


def _single_edit_class(cand: str, known: str) -> str:
    """Name the one edit that turns ``known`` into ``cand`` (callers know the distance is 1)."""
    if len(cand) == len(known):
        diff = [i for i, (a, b) in enumerate(zip(cand, known, strict=True)) if a != b]
        if len(diff) == 2:
            return "swapped characters"
        a, b = cand[diff[0]], known[diff[0]]
        return "keyboard slip" if a in _NEAR_KEYS.get(b, ()) else "substituted character"
    if len(cand) > len(known):
        i = next((i for i, (a, b) in enumerate(zip(cand, known, strict=False)) if a != b), len(known))
        doubled = (i > 0 and cand[i] == cand[i - 1]) or (i + 1 < len(cand) and cand[i] == cand[i + 1])
        return "doubled character" if doubled else "added character"
    return "dropped character"


def _edit_class(cand: str, known: str) -> str | None:
    """A near miss by edits, with the allowed distance growing with the known name's length."""
    n = len(known)
    if n < 4:
        return None
    limit = 1 if n < 12 else 2 if n < 24 else 3
    d = OSA.distance(cand, known, score_cutoff=limit)
    if d > limit or d == 0:
        return None
    if d > 1:
        return f"{d} character edits"
    kind = _single_edit_class(cand, known)
    if n < 6 and kind not in {"swapped characters", "doubled character", "keyboard slip"}:
        return None
    return kind


@dataclass(frozen=True)
class _Form:
    """The folded views of one name that :func:`resemblance` compares, computed once per name per
    process (a sweep compares every version's id with every listed model)."""

    folded: str
    skeleton: str
    joined: str
    """Separators removed."""
    collapsed: str
    """Separators removed and doubled letters folded (no glyph folding)."""
    tokens: tuple[str, ...]
    """Sorted."""
    numbered: str
    """Every run of digits as ``#``."""


@lru_cache(maxsize=1 << 16)
def _form(text: str) -> _Form:
    folded = text.casefold()
    joined = _SEPARATORS.sub("", folded)
    return _Form(
        folded,
        _skeleton(folded),
        joined,
        _collapse(joined),
        tuple(sorted(_tokens(folded))),
        _NUMBER.sub("#", folded),
    )


def _affix_class(cand: _Form, known: _Form, affixes: frozenset[str], prefixes: bool) -> str | None:
    sc, sk = cand.skeleton, known.skeleton
    by_skeleton = _affix_skeletons(affixes)

    def affix_of(rest: str, joint: str) -> str | None:
        # the skeleton folds a doubled letter at the joint ("bloom" + "models"), so try it back
        return by_skeleton.get(rest) or by_skeleton.get(joint + rest)

    if len(sc) > len(sk) and sc.startswith(sk) and (a := affix_of(sc[len(sk) :], sk[-1:])):
        return f"added suffix '{a}'"
    if len(sk) > len(sc) and sk.startswith(sc):
        parts = re.split(r"[-_]+", known.folded)
        # any last part of a name of three or more parts: "Mistral-7B-Instruct-v0.2" -> "Mistral-7B-Instruct"
        rest = sk[len(sc) :]
        last = parts[-1] if len(parts) >= 3 and _skeleton(parts[-1]) in (rest, sc[-1:] + rest) else None
        if a := affix_of(rest, sc[-1:]) or last:
            return f"dropped suffix '{a}'"
    if prefixes and len(sc) > len(sk) and sc.endswith(sk):
        rest = sc[: len(sc) - len(sk)]
        a = by_skeleton.get(rest) or by_skeleton.get(rest + sk[:1])
        if a:
            return f"added prefix '{a}'"
    return None


@lru_cache(maxsize=8)
def _affix_skeletons(affixes: frozenset[str]) -> Mapping[str, str]:
    return MappingProxyType({_skeleton(a): a for a in affixes})


def resemblance(candidate: str, known: str, affixes: frozenset[str], *, prefixes: bool = False) -> str | None:
    """The look-alike class by which ``candidate`` imitates ``known``, or None when it does not."""
    cand, kn = _form(candidate), _form(known)
    if cand.folded == kn.folded:
        return None
    if cand.skeleton == kn.skeleton:
        if cand.joined == kn.joined:
            return "separator change"
        if cand.collapsed == kn.collapsed:
            return "doubled character" if len(cand.folded) > len(kn.folded) else "dropped double character"
        return "look-alike characters"
    if len(kn.tokens) > 1 and cand.tokens == kn.tokens:
        return "order change"
    affix = _affix_class(cand, kn, affixes, prefixes)
    if affix:
        return affix
    if cand.numbered == kn.numbered:
        return None
    return _edit_class(cand.folded, kn.folded)


@dataclass(frozen=True)
class Catalogue:
    """Well-known ids (and organisations) a name is compared with; dated so reports can say how old."""

    names_by_org: Mapping[str, tuple[str, ...]]
    """Case-folded organisation -> model names as published."""
    extra_orgs: frozenset[str]
    """Case-folded organisations known without listed models (from the reputation table)."""
    date: str
    spelled: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Case-folded organisation -> its spelling on the hub, for messages."""

    def spelling(self, org: str) -> str:
        return self.spelled.get(org, org)

    @classmethod
    def shipped(cls) -> Catalogue:
        return _shipped_catalogue()

    def extended(self, model_ids: Iterable[str] = (), organisations: Iterable[str] = ()) -> Catalogue:
        """Add configured ids and publishers (``known_models``, ``publishers``) to the list."""
        grouped = {org: list(names) for org, names in self.names_by_org.items()}
        spelled = dict(self.spelled)
        for text in model_ids:
            hub_id = HubId.parse(text)
            if hub_id is None or not hub_id.org:
                raise ConfigError(f"known_models: {text!r} is not an org/name hub id")
            grouped.setdefault(hub_id.org.casefold(), []).append(hub_id.name)
            spelled.setdefault(hub_id.org.casefold(), hub_id.org)
        frozen = MappingProxyType({org: tuple(names) for org, names in grouped.items()})
        extra = self.extra_orgs | {o.casefold() for o in organisations}
        return Catalogue(frozen, extra, self.date, MappingProxyType(spelled))

    @property
    def organisations(self) -> frozenset[str]:
        return frozenset(self.names_by_org) | self.extra_orgs

    def ids(self) -> Iterable[str]:
        for org, name in self.all_names():
            yield f"{org}/{name}"

    def is_known(self, hub_id: HubId) -> bool:
        """Listed, or a legacy bare name (``gpt2``) that the hub redirects to a listed model."""
        if not hub_id.org:
            return any(n.casefold() == hub_id.name.casefold() for _, n in self.all_names())
        names = self.names_by_org.get(hub_id.org.casefold(), ())
        return hub_id.name.casefold() in {n.casefold() for n in names}

    def owner_of(self, name: str) -> str | None:
        """The organisation a legacy bare name (``bert-base-uncased``) is redirected to, if listed."""
        folded = name.casefold()
        return next((org for org, n in self.all_names() if n.casefold() == folded), None)

    def all_names(self) -> Iterable[tuple[str, str]]:
        """(organisation as spelled on the hub, name) pairs."""
        for org, names in self.names_by_org.items():
            for name in names:
                yield self.spelling(org), name


@lru_cache(maxsize=1)
def _shipped_catalogue() -> Catalogue:
    data = load_toml("known_models.toml")
    models: dict[str, list[str]] = data["models"]
    grouped = MappingProxyType(
        {org.casefold(): tuple(str(n) for n in names) for org, names in models.items()}
    )
    spelled = MappingProxyType({org.casefold(): org for org in models})
    return Catalogue(grouped, ReputationTable.shipped().organisations, str(data["date"]), spelled)


@dataclass(frozen=True)
class InternalNames:
    """Ids and names declared internal: a public id must never take one of them."""

    orgs: frozenset[str] = frozenset()
    names: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, entries: Iterable[str], origin: str = "internal names") -> InternalNames:
        orgs: set[str] = set()
        names: set[str] = set()
        for raw in entries:
            entry = raw.split("#", 1)[0].strip()
            if not entry:
                continue
            if entry.endswith("/*"):
                org_only = HubId.parse(entry[:-2])
                if org_only is None or org_only.org:
                    raise ConfigError(f"{origin}: {entry!r} is not an organisation wildcard (org/*)")
                orgs.add(org_only.name.casefold())
                continue
            hub_id = HubId.parse(entry)
            if hub_id is None:
                raise ConfigError(f"{origin}: {entry!r} is not a hub id or model name")
            if hub_id.org:
                orgs.add(hub_id.org.casefold())
            names.add(hub_id.name.casefold())
        return cls(frozenset(orgs), frozenset(names))

    @classmethod
    def load(cls, path: Path) -> InternalNames:
        """A text file: one ``org/name``, bare ``name`` or ``org/*`` per line; ``#`` starts a comment."""
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read internal names: {exc}") from exc
        return cls.parse(text.splitlines(), str(path))

    @property
    def org_words(self) -> frozenset[str]:
        """Internal organisations and their longer parts (``acme-ml`` -> ``acme``): what impostors prefix."""
        return self.orgs | {t for org in self.orgs for t in _tokens(org) if len(t) >= 3}

    def merged(self, other: InternalNames) -> InternalNames:
        return InternalNames(self.orgs | other.orgs, self.names | other.names)

    def owns(self, hub_id: HubId) -> bool:
        return bool(hub_id.org) and hub_id.org.casefold() in self.orgs


@dataclass(frozen=True)
class NameVerdict:
    """What one id turned out to be. ``verdict``: known, internal, unlisted, unknown or suspicious."""

    model_id: str
    verdict: str
    findings: tuple[Finding, ...] = field(default=())

    @property
    def suspicious(self) -> bool:
        return self.verdict == "suspicious"


def _best(
    candidate: str, knowns: Iterable[str], affixes: frozenset[str], prefixes: bool
) -> tuple[str, str] | None:
    """(known, class) of the closest look-alike; affix and glyph classes beat plain edits."""
    listed = tuple(knowns)
    if len(_LISTS) > 64:  # configurations come and go in a long-lived worker: start the lists afresh
        _LISTS.clear()
    return _nearest(candidate, _LISTS.setdefault(listed, listed), affixes, prefixes)


_LISTS: dict[tuple[str, ...], tuple[str, ...]] = {}
"""One copy of each list of known names (the catalogue's, the internal ones), shared by the memo's keys."""


@lru_cache(maxsize=1 << 16)
def _nearest(
    candidate: str, knowns: tuple[str, ...], affixes: frozenset[str], prefixes: bool
) -> tuple[str, str] | None:
    """:func:`_best`, memoised per name: a re-sweep or the daily re-verification asks about the same ids."""
    best: tuple[int, str, str] | None = None
    for known in knowns:
        kind = resemblance(candidate, known, affixes, prefixes=prefixes)
        if kind is None:
            continue
        rank = OSA.distance(_form(candidate).folded, _form(known).folded)
        if best is None or rank < best[0]:
            best = (rank, known, kind)
    return None if best is None else (best[1], best[2])


def _finding(rule_id: str, hub_id: HubId, message: str, severity: Severity | None = None) -> Finding:
    return make_finding(rule_id, f"{hub_id}: {message}", evidence=str(hub_id), severity=severity)


def _internal_findings(hub_id: HubId, internal: InternalNames) -> list[Finding]:
    if internal.owns(hub_id):
        return []
    found: list[Finding] = []
    name = hub_id.name.casefold()
    if name in internal.names:
        found.append(
            _finding(
                "MS-NAME-INTERNAL-COLLISION", hub_id, f"a public id takes the internal name {hub_id.name!r}"
            )
        )
    else:
        near = _best(name, internal.names, NAME_AFFIXES | internal.org_words, True)
        if near:
            found.append(
                _finding(
                    "MS-NAME-INTERNAL-COLLISION",
                    hub_id,
                    f"name is a near miss ({near[1]}) of the internal name {near[0]!r}",
                )
            )
    if hub_id.org:
        near_org = _best(hub_id.org, internal.orgs, ORG_AFFIXES, True)
        if near_org:
            found.append(
                _finding(
                    "MS-NAME-INTERNAL-COLLISION",
                    hub_id,
                    f"organisation imitates ({near_org[1]}) the internal one {near_org[0]!r}",
                )
            )
    return found


def assess(
    model_id: str, internal: InternalNames | None = None, catalogue: Catalogue | None = None
) -> NameVerdict:
    """Judge one id against the catalogue and the internal names."""
    catalogue = catalogue or Catalogue.shipped()
    internal = internal or InternalNames()
    hub_id = HubId.parse(model_id) if model_id.isascii() else None
    if hub_id is None:
        bad = make_finding("MS-NAME-INVALID", f"{model_id!r} is not a valid hub id", evidence=ascii(model_id))
        return NameVerdict(model_id, "suspicious", (bad,))
    if internal.owns(hub_id):
        return NameVerdict(model_id, "internal")
    findings = _internal_findings(hub_id, internal)
    if catalogue.is_known(hub_id) and not findings:
        return NameVerdict(model_id, "known")
    if not hub_id.org:
        findings.extend(_name_reuse(hub_id, catalogue))
        return NameVerdict(model_id, "suspicious" if findings else "unknown", tuple(findings))
    org = hub_id.org.casefold()
    if org and org in catalogue.organisations:
        near = _best(hub_id.name, catalogue.names_by_org.get(org, ()), NAME_AFFIXES, False)
        if near:
            findings.append(
                _finding(
                    "MS-NAME-LOOKALIKE",
                    hub_id,
                    f"not a listed model of {hub_id.org}; a near miss ({near[1]}) of "
                    f"{catalogue.spelling(org)}/{near[0]}",
                    Severity.LOW,
                )
            )
        return NameVerdict(model_id, "suspicious" if findings else "unlisted", tuple(findings))
    if org:
        near_org = _best(org, catalogue.organisations, ORG_AFFIXES, True)
        if near_org:
            findings.append(
                _finding(
                    "MS-NAME-ORG-IMPERSONATION",
                    hub_id,
                    f"organisation imitates ({near_org[1]}) the well-known "
                    f"{catalogue.spelling(near_org[0])!r}",
                )
            )
    findings.extend(_name_reuse(hub_id, catalogue))
    return NameVerdict(model_id, "suspicious" if findings else "unknown", tuple(findings))


def _name_reuse(hub_id: HubId, catalogue: Catalogue) -> list[Finding]:
    name = hub_id.name.casefold()
    owners = [f"{o}/{n}" for o, n in catalogue.all_names() if n.casefold() == name]
    if owners:
        return [_finding("MS-NAME-REUSED", hub_id, f"reuses the name of {owners[0]}")]
    near = _best_name(hub_id.name, catalogue)
    if near:
        return [_finding("MS-NAME-LOOKALIKE", hub_id, f"name is a near miss ({near[1]}) of {near[0]}")]
    return []


def _best_name(name: str, catalogue: Catalogue) -> tuple[str, str] | None:
    ids = {n: f"{o}/{n}" for o, n in catalogue.all_names()}
    near = _best(name, ids, NAME_AFFIXES, False)
    return None if near is None else (ids[near[0]], near[1])


def check_names(
    model_ids: Sequence[str], internal: InternalNames | None = None, catalogue: Catalogue | None = None
) -> list[NameVerdict]:
    return [assess(m, internal, catalogue) for m in model_ids]


def check_model_id(
    model_id: str,
    internal: InternalNames | Iterable[str] = (),
    catalogue: Catalogue | None = None,
) -> list[Finding]:
    """Findings for one hub id; what ``modelseal scan hf://org/name`` applies before anything else."""
    names = internal if isinstance(internal, InternalNames) else InternalNames.parse(internal)
    return list(assess(model_id, names, catalogue).findings)
