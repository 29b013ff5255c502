"""The dashboard in a real browser (Debian's chromium through Playwright; no browser download): the whole
review flow, and hostile strings shown as text. Screenshots of every main page go to
tests/artifacts/screenshots/ (named in the README)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.server.conftest import HOSTILE, scan_report

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
sync_api = pytest.importorskip("playwright.sync_api")
if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)


@pytest.fixture
def page(database_url: str) -> Iterator[object]:
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        page = context.new_page()
        page.dialogs = []  # type: ignore[attr-defined]
        page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))  # type: ignore[attr-defined]
        yield page
        browser.close()


def _shot(page: object, name: str, database_url: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    kind = "postgresql" if database_url.startswith("postgres") else "sqlite"
    page.screenshot(path=str(SHOTS / f"{kind}-{name}.png"), full_page=True)  # type: ignore[attr-defined]


def _login(page: object, base: str, user: str, password: str) -> None:
    page.goto(f"{base}/login")  # type: ignore[attr-defined]
    page.fill("input[name=username]", user)  # type: ignore[attr-defined]
    page.fill("input[name=password]", password)  # type: ignore[attr-defined]
    page.click("button.primary")  # type: ignore[attr-defined]
    page.wait_for_url(f"{base}/")  # type: ignore[attr-defined]


def test_review_flow_in_the_browser(
    live_server: tuple[str, str], page: object, database_url: str, tmp_path: Path
) -> None:
    from modelseal.api.remote import gate, upload

    base, admin_password = live_server
    p = page
    p.goto(f"{base}/login")  # type: ignore[attr-defined]
    _shot(p, "login", database_url)
    _login(p, base, "admin", admin_password)
    # the admin creates a reviewer and a project with a CI token (shown once)
    p.goto(f"{base}/admin")  # type: ignore[attr-defined]
    users = p.locator("form[action='/admin/users']")  # type: ignore[attr-defined]
    users.locator("input[name=username]").fill("rita")
    users.locator("input[name=password]").fill("correct horse battery")
    users.locator("select[name=role]").select_option("reviewer")
    users.locator("button").click()
    projects = p.locator("form[action='/admin/projects']")  # type: ignore[attr-defined]
    projects.locator("input[name=name]").fill("fraud-detection")
    projects.locator("select[name=environment]").select_option("staging")
    projects.locator("input[name=owner]").fill("ml-platform")
    projects.locator("button").click()
    token = p.locator("#new-token").inner_text().strip()  # type: ignore[attr-defined]
    assert token.startswith("mst_")
    _shot(p, "admin", database_url)
    p.click("button.link")  # type: ignore[attr-defined]  # log out

    # CI uploads a scan with a high (critical) finding, and hostile strings, using the token
    report = scan_report(tmp_path / "credit-scorer", hostile=True)
    answer = upload(base, "fraud-detection", __import__("json").dumps(report).encode(), token)
    digest = answer["models"][0]["digest"]
    assert answer["models"][0]["verdict"] == "block"
    # and the BOM, whose base models come from the hostile model card
    from modelseal.api import BomRequest, bom
    from modelseal.reports import writer_for

    document = writer_for("bom", "cyclonedx").render(bom(BomRequest(str(tmp_path / "credit-scorer"))).facts)
    upload(base, "fraud-detection", document.encode(), token, kind="boms")

    # the reviewer sees it blocked in the portfolio
    _login(p, base, "rita", "correct horse battery")
    row = p.locator("#rows tr", has_text="credit-scorer")  # type: ignore[attr-defined]
    assert row.locator(".badge").inner_text().strip().lower() == "block"
    _shot(p, "portfolio", database_url)
    p.goto(f"{base}/reviews")  # type: ignore[attr-defined]
    assert "credit-scorer" in p.inner_text("main")  # type: ignore[attr-defined]
    _shot(p, "review-queue", database_url)
    p.goto(f"{base}/")  # type: ignore[attr-defined]
    p.click("a:text('credit-scorer')")  # type: ignore[attr-defined]

    # hostile strings are text: visible verbatim, never markup, nothing ran
    text = p.inner_text("main")  # type: ignore[attr-defined]
    assert HOSTILE[0] in text and HOSTILE[1].strip() in text
    lineage = p.inner_text("dl.facts")  # type: ignore[attr-defined]  # the card's base models, as text
    assert HOSTILE[0] in lineage and HOSTILE[1] in lineage
    assert p.evaluate("window.__pwned === undefined")  # type: ignore[attr-defined]
    assert p.locator("main script").count() == 0  # type: ignore[attr-defined]
    p.hover("text=" + HOSTILE[1].split('"')[1])  # type: ignore[attr-defined]  # an injected onmouseover would fire
    assert p.evaluate("window.__pwned === undefined") and not p.dialogs  # type: ignore[attr-defined]
    _shot(p, "model-before", database_url)

    # false positive with a justification, and a waiver with an expiry, for the os.system finding
    finding = (
        p.locator("details.file", has=p.locator("summary code", has_text="model.pkl"))
        .locator(  # type: ignore[attr-defined]
            "article.finding"
        )
        .first
    )
    rule = finding.locator("code.rule").inner_text().strip()
    finding.locator("select[name=state]").select_option("false_positive")
    finding.locator("form.analysis input[name=justification]").fill(
        "fixture runs `true`; reviewed by security"
    )
    finding.locator("form.analysis button").click()
    finding = (
        p.locator("details.file", has=p.locator("summary code", has_text="model.pkl"))
        .locator("article.finding")
        .first
    )  # type: ignore[attr-defined]
    assert "false positive" in finding.inner_text()
    expiry = (date.today() + timedelta(days=30)).isoformat()
    finding.locator("form.waiver input[name=justification]").fill("accepted until the retrain lands")
    finding.locator("form.waiver input[name=expires]").fill(expiry)
    finding.locator("form.waiver button").click()
    # the other findings of the model (hostile pickle) are waived the same way, each by its rule
    while True:
        staging = p.locator("span.badge[data-env=staging]").inner_text().strip().lower()  # type: ignore[attr-defined]
        if staging != "block":
            break
        blocking = p.locator("tr.current ul.reasons li", has_text="block")  # type: ignore[attr-defined]
        assert blocking.count(), "blocked with no reason shown"
        open_finding = p.locator("article.finding").filter(has_not=p.locator(".state.false_positive")).first  # type: ignore[attr-defined]
        open_finding.locator("form.waiver input[name=justification]").fill("accepted: test fixture")
        open_finding.locator("form.waiver button").click()
    _shot(p, "model-after", database_url)
    assert rule

    # GET /gate now allows
    assert gate(base, digest, "staging", token)["verdict"] == "allow"
    p.goto(f"{base}/waivers")  # type: ignore[attr-defined]
    assert expiry in p.inner_text("main")  # type: ignore[attr-defined]
    _shot(p, "waivers", database_url)

    # the audit-log page shows the chain verified
    p.goto(f"{base}/audit")  # type: ignore[attr-defined]
    assert "Chain verified" in p.inner_text("#chain")  # type: ignore[attr-defined]
    _shot(p, "audit", database_url)
    p.goto(f"{base}/")  # type: ignore[attr-defined]
    _shot(p, "portfolio-after", database_url)
    assert not p.dialogs  # type: ignore[attr-defined]
