"""Advisory hits as catalogued findings: the advisory id is the evidence, its severity the finding's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from modelseal.advisories.cache import CacheStatus, Hit
from modelseal.advisories.loaders import PackageHit
from modelseal.core.findings import Finding
from modelseal.core.rules import make_finding
from modelseal.inventory.model import UNSAFE, Reference

DEFAULT_MAX_AGE_DAYS = 7.0


def _model_finding(hit: Hit, what: str, file: str) -> Finding:
    rule = "MS-ADVISORY-MALICIOUS-MODEL" if hit.malicious else "MS-ADVISORY-MODEL"
    models = f" ({', '.join(hit.models[:3])})" if hit.models else ""
    return make_finding(
        rule,
        f"{hit.advisory}: {hit.summary}{models} lists {what}",
        severity=None if hit.malicious else hit.severity,
        file=file,
        evidence=f"{hit.advisory} {hit.kind} {hit.digest}",
    )


def digest_findings(
    hits: Mapping[str, Sequence[Hit]], files: Mapping[str, str | None], manifest: str | None
) -> list[Finding]:
    """One finding per (file, advisory) and per (manifest, advisory) found in ``hits``."""
    out = []
    for relpath, digest in sorted(files.items()):
        for hit in hits.get(digest or "", ()):
            if hit.kind == "file":
                out.append(_model_finding(hit, "this file's digest", relpath))
    for hit in hits.get(manifest or "", ()):
        if hit.kind == "manifest":
            out.append(_model_finding(hit, "this model's manifest digest", ""))
    return out


def age_finding(status: CacheStatus, max_age_days: float, now: datetime | None = None) -> Finding:
    """How old the cache is: ``MS-ADVISORY-CACHE-STALE`` past ``max_age_days`` (or never synced), else the
    informational ``MS-ADVISORY-CACHE-AGE``."""
    age = status.age_days(now)
    counts = f"{status.active} active advisories, generation {status.generation}"
    if age is None:
        return make_finding("MS-ADVISORY-CACHE-STALE", f"advisory cache {status.path} was never synced")
    when = status.synced_at.isoformat() if status.synced_at else "?"
    text = f"advisory cache synced {when} ({age:.1f} days ago; {counts})"
    if age > max_age_days:
        return make_finding("MS-ADVISORY-CACHE-STALE", f"{text}, older than {max_age_days:g} days")
    return make_finding("MS-ADVISORY-CACHE-AGE", text)


def weights_only_loads(refs: Sequence[Reference]) -> list[Reference]:
    """Code that calls ``torch.load`` with ``weights_only=True`` (the inventory's references)."""
    return [r for r in refs if r.kind == "code" and r.loader == "torch.load" and UNSAFE not in r.flags]


def package_findings(hits: Sequence[PackageHit], code: Sequence[Reference] = ()) -> list[Finding]:
    """A finding per vulnerable package pin, and a critical linked finding per ``torch.load(...,
    weights_only=True)`` call when the torch in use has a ``weights_only`` bypass advisory."""
    out = []
    loads = weights_only_loads(code)
    for h in hits:
        pkg, adv = h.package, h.advisory
        fix = f"; fixed in {', '.join(h.fixed)}" if h.fixed else ""
        out.append(
            make_finding(
                "MS-ADVISORY-LOADER-VULNERABLE",
                f"{pkg.name} {pkg.version} ({pkg.where}): {adv.advisory}: {adv.summary}{fix}",
                severity=adv.severity,
                file=pkg.where if pkg.where != "environment" else "",
                evidence=f"{adv.advisory} {pkg.name}=={pkg.version}",
            )
        )
        if pkg.name == "torch" and adv.bypasses_weights_only:
            out += [
                make_finding(
                    "MS-ADVISORY-LOADER-LINKED",
                    f"{ref.location} loads {ref.model} with torch.load(weights_only=True), "
                    f"which {adv.advisory} bypasses in torch {pkg.version} ({pkg.where}){fix}",
                    file=ref.location,
                    evidence=f"{adv.advisory} torch=={pkg.version}",
                )
                for ref in loads
            ]
    return out
