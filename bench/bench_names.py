"""Look-alike name detection: recall on generated look-alikes, false alarms on genuine ids.

The issue names no peer tool, so modelseal's check runs side by side with the two naive checks it
replaces, measured in the same run on the same ids:
  * ``edit<=2``: plain Levenshtein distance of at most 2 to any well-known id (what the issue warns
    drowns short names in false alarms);
  * ``ratio>=90``: rapidfuzz's normalised similarity of at least 90 to any well-known id.

Sets:
  * look-alikes: at least 6 per class (0/O, 1/l/I, rn/m, doubled, dropped and swapped characters,
    keyboard slips, separator and order changes, added and dropped suffixes, organisation imitation,
    internal-name collisions), generated with a fixed seed from the shipped list. Edits touch letters,
    not digits: ``7b`` -> ``8b`` names another size, which modelseal treats as a sibling on purpose.
  * genuine: every id of the shipped list (the goal: none flagged).
  * genuine, held out: 300 shipped ids, each checked against the list *without itself*, as a new
    genuine release would be; a harder, informative figure, not the goal.

Usage: ``python bench/bench_names.py [--per-class 6] [--seed 7]``
"""

from __future__ import annotations

import argparse
import random
import re
import time
from collections.abc import Callable
from types import MappingProxyType

from rapidfuzz import fuzz
from rapidfuzz.distance import Levenshtein

from modelseal.provenance.names import Catalogue, InternalNames, assess

KEYS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
INTERNAL = (
    "acme-ml/fraud-detector",
    "acme-ml/churn-predictor",
    "acme-ml/ledger-embedder",
    "acme-ml/claims-triage-llm",
    "acme-ml/support-router",
)
ORG_SUFFIXES = ("-official", "-ai", "-hf", "-team", "-research", "_org", "-labs", "official-")
NAME_SUFFIXES = ("-hf", "-fixed", "-new", "-v2", "-official", "-safetensors", "-updated", "-latest")

Mutation = Callable[[random.Random, str], str | None]


def _letter_positions(text: str) -> list[int]:
    return [i for i, c in enumerate(text) if c.isalpha()]


def zero_o(rng: random.Random, s: str) -> str | None:
    spots = [i for i, c in enumerate(s) if c in "oO"]
    return None if not spots else (lambda i: s[:i] + "0" + s[i + 1 :])(rng.choice(spots))


def one_l(rng: random.Random, s: str) -> str | None:
    spots = [i for i, c in enumerate(s) if c in "lLiI"]
    if not spots:
        return None
    i = rng.choice(spots)
    return s[:i] + rng.choice({"l": "1I", "L": "1I", "i": "l1", "I": "l1"}[s[i]]) + s[i + 1 :]


def rn_m(rng: random.Random, s: str) -> str | None:
    if "rn" in s:
        return s.replace("rn", "m", 1)
    spots = [i for i, c in enumerate(s) if c == "m"]
    return None if not spots else (lambda i: s[:i] + "rn" + s[i + 1 :])(rng.choice(spots))


def doubled(rng: random.Random, s: str) -> str | None:
    i = rng.choice(_letter_positions(s))
    return s[: i + 1] + s[i] + s[i + 1 :]


def dropped(rng: random.Random, s: str) -> str | None:
    spots = [i for i in _letter_positions(s) if len(s) >= 6]
    return None if not spots else (lambda i: s[:i] + s[i + 1 :])(rng.choice(spots))


def swapped(rng: random.Random, s: str) -> str | None:
    spots = [i for i in range(len(s) - 1) if s[i].isalpha() and s[i + 1].isalpha() and s[i] != s[i + 1]]
    return None if not spots else (lambda i: s[:i] + s[i + 1] + s[i] + s[i + 2 :])(rng.choice(spots))


def keyboard(rng: random.Random, s: str) -> str | None:
    spots = [i for i in _letter_positions(s) if s[i].islower()]
    if not spots:
        return None
    i = rng.choice(spots)
    row = next(r for r in KEYS if s[i] in r)
    j = row.index(s[i])
    near = [row[k] for k in (j - 1, j + 1) if 0 <= k < len(row)]
    return s[:i] + rng.choice(near) + s[i + 1 :]


def separator(rng: random.Random, s: str) -> str | None:
    seps = [i for i, c in enumerate(s) if c in "-_."]
    if seps:
        i = rng.choice(seps)
        return s[:i] + rng.choice([c for c in ("", "-", "_") if c != s[i]]) + s[i + 1 :]
    return None if len(s) < 6 else s[: len(s) // 2] + "-" + s[len(s) // 2 :]


def order(rng: random.Random, s: str) -> str | None:
    parts = re.split(r"([-_.])", s)
    words = parts[::2]
    if len(words) < 2:
        return None
    i = rng.randrange(len(words) - 1)
    words[i], words[i + 1] = words[i + 1], words[i]
    parts[::2] = words
    return "".join(parts)


def org_affix(rng: random.Random, s: str) -> str | None:
    affix = rng.choice(ORG_SUFFIXES)
    return affix + s if affix.endswith("-") else s + affix


def name_suffix(rng: random.Random, s: str) -> str | None:
    return s + rng.choice(NAME_SUFFIXES)


def drop_suffix(rng: random.Random, s: str) -> str | None:
    parts = s.split("-")
    return "-".join(parts[:-1]) if len(parts) >= 3 else None


CHARACTER_CLASSES: dict[str, Mutation] = {
    "0/O": zero_o,
    "1/l/I": one_l,
    "rn/m": rn_m,
    "doubled": doubled,
    "dropped": dropped,
    "swapped": swapped,
    "keyboard slip": keyboard,
    "separator": separator,
    "order": order,
}


def generate(catalogue: Catalogue, per_class: int, rng: random.Random) -> list[tuple[str, str]]:
    """(class, id) look-alikes; none is a listed id, and organisation edits never land on a listed org."""
    genuine = sorted(catalogue.ids())
    known_ids = {i.casefold() for i in genuine}
    orgs = catalogue.organisations
    out: list[tuple[str, str]] = []

    def take(kind: str, make: Callable[[str, str], str | None]) -> None:
        seen: set[str] = set()
        for _ in range(5000):
            if len(seen) == per_class:
                return
            org, name = rng.choice(genuine).split("/", 1)
            made = make(org, name)
            if made and made.casefold() not in known_ids and made not in seen:
                new_org = made.split("/", 1)[0].casefold()
                if new_org != org.casefold() and new_org in orgs:
                    continue
                seen.add(made)
                out.append((kind, made))
        raise RuntimeError(f"could not generate {per_class} look-alikes of class {kind}")

    for kind, mutate in CHARACTER_CLASSES.items():
        # half on the organisation (impersonation), half on the model name (typo of a listed model)
        def make(org: str, name: str, mutate: Mutation = mutate) -> str | None:
            if rng.random() < 0.5:
                new_org = mutate(rng, org)
                return f"{new_org}/{name}" if new_org else None
            new_name = mutate(rng, name)
            return f"{org}/{new_name}" if new_name else None

        take(kind, make)
    take("org imitation", lambda o, n: f"{org_affix(rng, o)}/{n}")
    take("added suffix", lambda o, n: f"{rng.choice([o, 'hf-mirror'])}/{name_suffix(rng, n)}")
    take(
        "dropped suffix",
        lambda o, n: (lambda d: f"{rng.choice([o, 'modelhub-user'])}/{d}" if d else None)(
            drop_suffix(rng, n)
        ),
    )
    internal_names = [i.split("/", 1)[1] for i in INTERNAL]

    def collide(_o: str, _n: str) -> str | None:
        name = rng.choice(internal_names)
        variant = rng.choice(
            [name, f"acme-{name}", doubled(rng, name), swapped(rng, name), name.replace("-", "_")]
        )
        return f"{rng.choice(['public-user', 'ml-hub', 'acme-m1'])}/{variant}"

    take("internal collision", collide)
    return out


def held_out(catalogue: Catalogue, model_id: str) -> Catalogue:
    org, name = model_id.split("/", 1)
    grouped = dict(catalogue.names_by_org)
    grouped[org.casefold()] = tuple(n for n in grouped[org.casefold()] if n != name)
    return Catalogue(MappingProxyType(grouped), catalogue.extra_orgs, catalogue.date, catalogue.spelled)


def naive(
    threshold: Callable[[str, str], bool], known: list[str], internal: list[str]
) -> Callable[[str], bool]:
    folded = [k.casefold() for k in known + internal]

    def flagged(model_id: str) -> bool:
        m = model_id.casefold()
        return m not in folded and any(threshold(m, k) for k in folded)

    return flagged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=6)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--held-out", type=int, default=300)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    catalogue = Catalogue.shipped()
    internal = InternalNames.parse(INTERNAL)
    lookalikes = generate(catalogue, args.per_class, rng)
    genuine = sorted(catalogue.ids())
    sample = rng.sample(genuine, min(args.held_out, len(genuine)))
    known = list(catalogue.ids())
    naive_rules: dict[str, Callable[[str, str], bool]] = {
        "edit<=2": lambda a, b: Levenshtein.distance(a, b, score_cutoff=2) <= 2,
        "ratio>=90": lambda a, b: fuzz.ratio(a, b, score_cutoff=90) >= 90,
    }
    checks: dict[str, Callable[[str], bool]] = {
        "modelseal": lambda m: assess(m, internal, catalogue).suspicious
    }
    checks.update({name: naive(rule, known, list(INTERNAL)) for name, rule in naive_rules.items()})
    print(
        f"well-known list: {len(genuine)} ids, dated {catalogue.date}; look-alikes: {len(lookalikes)} "
        f"in {len({k for k, _ in lookalikes})} classes; held-out genuine: {len(sample)}\n"
    )
    classes = sorted({k for k, _ in lookalikes}, key=[k for k, _ in lookalikes].index)
    header = f"{'':26}" + "".join(f"{name:>12}" for name in checks)
    print(header)
    rows: dict[str, dict[str, float]] = {name: {} for name in checks}
    for kind in classes:
        ids = [m for k, m in lookalikes if k == kind]
        line = f"{'recall ' + kind:26}"
        for check in checks.values():
            line += f"{sum(check(m) for m in ids)}/{len(ids):<3}".rjust(12)
        print(line)
    for name, check in checks.items():
        start = time.perf_counter()
        tp = sum(check(m) for _, m in lookalikes)
        fp = sum(check(g) for g in genuine)
        rows[name]["recall"] = tp / len(lookalikes)
        rows[name]["precision"] = tp / (tp + fp) if tp + fp else 1.0
        rows[name]["flagged genuine"] = fp
        rows[name]["ms per id"] = 1000 * (time.perf_counter() - start) / (len(lookalikes) + len(genuine))
    held = {"modelseal": sum(assess(m, internal, held_out(catalogue, m)).suspicious for m in sample)}
    for name, rule in naive_rules.items():
        held[name] = sum(naive(rule, [k for k in known if k != m], list(INTERNAL))(m) for m in sample)
    print("-" * len(header))
    for metric in ("recall", "precision"):
        print(f"{metric:26}" + "".join(f"{rows[n][metric]:>12.3f}" for n in checks))
    print(f"{'flagged genuine':26}" + "".join(f"{int(rows[n]['flagged genuine']):>12}" for n in checks))
    print(f"{'held-out flagged':26}" + "".join(f"{held[n]:>8}/{len(sample):<3}" for n in checks))
    print(f"{'ms per id':26}" + "".join(f"{rows[n]['ms per id']:>12.2f}" for n in checks))
    ours = rows["modelseal"]
    goal = ours["recall"] >= 0.95 and ours["flagged genuine"] == 0
    print(f"\ngoal (recall >= 0.95, no genuine id flagged): {'met' if goal else 'NOT met'}")
    missed = [f"{k}: {m}" for k, m in lookalikes if not checks["modelseal"](m)]
    if missed:
        print("missed by modelseal:\n  " + "\n  ".join(missed))


if __name__ == "__main__":
    main()
