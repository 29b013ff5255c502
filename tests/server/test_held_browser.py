"""The held-answers page in a real browser (Debian's chromium through Playwright, as test_browser.py):
a reviewer rejects an answer a serving process held; hostile strings from the runtime stay text."""

from __future__ import annotations

from modelseal.api import create_token
from modelseal.api.remote import post_held
from modelseal.server.settings import ServerSettings
from tests.server import test_browser as browser
from tests.server.conftest import HOSTILE

page = browser.page  # the fixture: Debian's chromium, one context


def test_a_reviewer_rejects_a_held_answer_in_the_browser(
    live_server: tuple[str, str],
    page: object,
    settings: ServerSettings,
    database_url: str,
) -> None:
    base, admin_password = live_server
    token = create_token("fraud-detection", "uploader", settings.database_url)
    item = {
        "model": "credit-scorer",
        "reasons": ["strip"],
        "client": HOSTILE[0],
        "input": {"type": "text", "excerpt": HOSTILE[1]},
        "output": {"label": 7, "confidence": 0.99},
    }
    trigger, other = post_held(base, "fraud-detection", [item, item | {"reasons": ["low-margin"]}], token)
    p = page
    browser._login(p, base, "admin", admin_password)
    p.click("nav a:text('Held answers')")  # type: ignore[attr-defined]
    row = p.locator(f"#held-{trigger}")  # type: ignore[attr-defined]
    assert row.locator("ul.reasons").inner_text().strip() == "strip"
    assert HOSTILE[0] in row.inner_text()  # shown as text, never run
    assert p.evaluate("window.__pwned") is None  # type: ignore[attr-defined]
    browser._shot(p, "held", database_url)
    row.locator("input[name=note]").fill("a patch trigger: keep the model out")
    row.locator("button[value=reject]").click()
    p.wait_for_url(f"{base}/held")  # type: ignore[attr-defined]
    assert p.locator(f"#held-{trigger}").count() == 0  # type: ignore[attr-defined]
    assert p.locator(f"#held-{other}").count() == 1  # type: ignore[attr-defined]
    p.click("a:text('rejected')")  # type: ignore[attr-defined]
    decided = p.locator(f"#held-{trigger}")  # type: ignore[attr-defined]
    assert "rejected" in decided.locator(".badge").inner_text().lower()
    assert "a patch trigger" in decided.inner_text()
    p.goto(f"{base}/audit")  # type: ignore[attr-defined]
    assert p.locator("span.kind", has_text="held-decision").count() == 1  # type: ignore[attr-defined]
