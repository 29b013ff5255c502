"""Advisory hits as catalogued findings: the advisory id is the evidence, its severity the finding's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from modelseal.advisories.cache import CacheStatus, Hit
from modelseal.advisories.loaders import PackageHit
from modelseal.core.findings import Finding
from modelseal.core.rules import make_finding


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


def package_findings(hits: Sequence[PackageHit], loads: Sequence[tuple[str, str]] = ()) -> list[Finding]:
    """A finding per vulnerable package pin, and a critical linked finding per ``torch.load(...,
    weights_only=True)`` call (``loads``: its location and what it loads) when the torch in use has a
    ``weights_only`` bypass advisory."""
    out = []
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
                    f"{location} loads {model} with torch.load(weights_only=True), "
                    f"which {adv.advisory} bypasses in torch {pkg.version} ({pkg.where}){fix}",
                    file=location,
                    evidence=f"{adv.advisory} torch=={pkg.version}",
                )
                for location, model in loads
            ]
    return out
