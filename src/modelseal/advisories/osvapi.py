"""The OSV API, online and optional: ``POST /v1/querybatch`` for which advisories affect each package
version, then ``GET /v1/vulns/{id}`` for each record (querybatch answers ids only). The answers are read
through the same checks as a feed; the API's matching is trusted, the records give severity and fixes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from modelseal.advisories.cache import Hit
from modelseal.advisories.loaders import Installed, PackageHit
from modelseal.advisories.osv import Advisory, FeedError, parse
from modelseal.advisories.ranges import fixed_versions

OSV_API = "https://api.osv.dev"
MAX_RESPONSE_BYTES = 64 << 20
MAX_PAGES = 20
TIMEOUT_S = 30.0


def _call(url: str, body: Any | None = None) -> Any:
    import urllib.error
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            raw = response.read(MAX_RESPONSE_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise FeedError(url, "(request)", f"OSV API unreachable ({exc})") from None
    if len(raw) > MAX_RESPONSE_BYTES:
        raise FeedError(url, "(response)", f"larger than {MAX_RESPONSE_BYTES} bytes")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise FeedError(url, "(response)", f"not JSON ({exc})") from None


def query(packages: Sequence[Installed], base_url: str = OSV_API) -> list[PackageHit]:
    """Advisories affecting each package version, according to the OSV API at ``base_url``."""
    base = base_url.rstrip("/")
    pending = {
        i: {"package": {"name": p.name, "ecosystem": "PyPI"}, "version": p.version}
        for i, p in enumerate(packages)
    }
    ids: dict[int, list[str]] = {i: [] for i in pending}
    for _ in range(MAX_PAGES):
        if not pending:
            break
        order = list(pending)
        answer = _call(f"{base}/v1/querybatch", {"queries": [pending[i] for i in order]})
        results = answer.get("results") if isinstance(answer, dict) else None
        if not isinstance(results, list) or len(results) != len(order):
            raise FeedError(f"{base}/v1/querybatch", "results", "must list one result per query")
        next_round = {}
        for i, result in zip(order, results, strict=True):
            result = result or {}
            for vuln in result.get("vulns") or []:
                if isinstance(vuln, dict) and isinstance(vuln.get("id"), str):
                    ids[i].append(vuln["id"])
            token = result.get("next_page_token")
            if isinstance(token, str) and token:
                next_round[i] = pending[i] | {"page_token": token}
        pending = next_round
    records: dict[str, Advisory] = {}
    hits = []
    for i, pkg in enumerate(packages):
        for ident in dict.fromkeys(ids[i]):
            if ident not in records:
                url = f"{base}/v1/vulns/{ident}"
                records[ident] = parse(_call(url), url)
            adv = records[ident]
            if not adv.active:
                continue
            fixed = next((fixed_versions(p) for p in adv.packages if p.name == pkg.name), ())
            hit = Hit(adv.id, adv.title, adv.severity, adv.malicious, adv.bypasses_weights_only, adv.models)
            hits.append(PackageHit(pkg, hit, fixed))
    return hits
