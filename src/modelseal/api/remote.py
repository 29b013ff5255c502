"""The registry's client: upload a report and ask the gate, over HTTP, for the CLI and CI scripts.

Standard library only (``urllib``), so ``modelseal upload`` and ``scan --upload`` need no extra.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from modelseal.core.errors import ModelsealError

ENV_TOKEN = "MODELSEAL_TOKEN"


class RemoteError(ModelsealError):
    """The registry refused the request or could not be reached."""

    hint = "check --server, the token (--token or MODELSEAL_TOKEN) and its project and role"


def token_from(token: str | None) -> str:
    found = token or os.environ.get(ENV_TOKEN, "")
    if not found:
        raise RemoteError("no API token: pass --token or set MODELSEAL_TOKEN")
    return found


def _call(
    method: str, url: str, token: str, body: bytes | None = None, content_type: str = "application/json"
) -> Any:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = content_type
    request = urllib.request.Request(url, body, headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        try:
            doc = json.loads(exc.read())
            detail = f"{doc.get('detail')}" + (f" (at {doc['field']})" if doc.get("field") else "")
        except ValueError:
            detail = exc.reason
        raise RemoteError(f"{url}: HTTP {exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise RemoteError(f"{url}: cannot reach the registry ({exc})") from None


def upload(
    server: str, project: str, document: bytes, token: str | None = None, kind: str = "scans"
) -> dict[str, Any]:
    """POST a document (JSON bytes) to ``project``: a scan report (``scans``: the answer lists the models
    and their verdicts), a CycloneDX BOM (``boms``) or an inventory (``inventories``)."""
    url = f"{server.rstrip('/')}/api/v1/projects/{urllib.parse.quote(project, safe='')}/{kind}"
    answer: dict[str, Any] = _call("POST", url, token_from(token), document)
    return answer


def upload_picture(
    server: str, project: str, digest: str, name: str, png: bytes, token: str | None = None
) -> dict[str, Any]:
    """PUT a picture from ``modelseal inspect`` (PNG bytes) on the model version with ``digest``."""
    quote = urllib.parse.quote
    url = (
        f"{server.rstrip('/')}/api/v1/projects/{quote(project, safe='')}/models/{quote(digest, safe='')}"
        f"/pictures/{quote(name, safe='')}"
    )
    answer: dict[str, Any] = _call("PUT", url, token_from(token), png, "image/png")
    return answer


def gate(server: str, digest: str, env: str | None = None, token: str | None = None) -> dict[str, Any]:
    """``GET /api/v1/gate``: ``{"verdict": "allow|review|block", "reasons": [...]}``."""
    query = urllib.parse.urlencode({"digest": digest} | ({"env": env} if env else {}))
    answer: dict[str, Any] = _call("GET", f"{server.rstrip('/')}/api/v1/gate?{query}", token_from(token))
    return answer


def post_held(server: str, project: str, items: list[dict[str, Any]], token: str | None = None) -> list[int]:
    """POST answers the run-time defences held to the registry's review queue (at most 100 a call);
    the ids the registry gave them."""
    url = f"{server.rstrip('/')}/api/v1/projects/{urllib.parse.quote(project, safe='')}/held"
    body = json.dumps({"items": items}, ensure_ascii=False, allow_nan=False).encode()
    answer: dict[str, Any] = _call("POST", url, token_from(token), body)
    return [int(i) for i in answer.get("ids", [])]
