"""The rapid-response network in a real browser (Debian's chromium, Playwright), at a
laptop's size and a phone's, against `kyr serve`'s app with its broadcaster and senders: a
report arrives in a dispatcher's queue without a reload; she sends herself to verify it,
records it confirmed and drafts the alert, whose Approve button she cannot press (the
reason beside it); a second dispatcher sees the draft, reads the plan and approves it;
the alert reaches the subscribers through the channel double, each in their language,
and the delivery counts on the page move by themselves; axe finds no critical or serious
violation; screenshots go to build/screens/."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bot.app.services import Services
from bot.handoff.staff import StaffDirectory
from bot.settings import PROJECT_ROOT
from tests.web.conftest import PASSWORD
from tests.web.test_browser import CHROMIUM, SIZES, axe_check, log_in, marked, server  # noqa: F401
from tests.channels.recording import RecordingChannel
from tests.web.test_network import DISPATCHER, STAND_IN_TEMPLATES, wire

SCREENS = PROJECT_ROOT / "build" / "screens"

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (`make test` installs it with apt)")


AREAS = {"laptop": ("c55", "Hegewisch"), "phone": ("c54", "Riverdale")}  # one per run: its own subscribers


@pytest.fixture
def network(services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    """The network's services and alert templates (stand-ins until content/alerts.yml)."""
    wire(services)
    texts = services.renderer.content.texts
    if not any(k.startswith("alerts.template_") for k in texts):
        from bot.core.content import Text

        for key, text in STAND_IN_TEMPLATES.items():
            monkeypatch.setitem(texts, key, Text(key, text, False, (), "content/alerts.yml", 1, None))


def subscribers(services: Services, size: str, area: str) -> dict[str, str]:
    """Three residents subscribed to the area on the test channel: address -> language."""
    from bot.app.broadcast import ALERTS_PURPOSE

    found = {}
    for n, lang in enumerate(("es", "es", "en")):
        resident, address = f"sub-{size}-{n}", f"chat-{size}-{n}"
        services.subscriptions.subscribe(resident, "test", lang, (area,), "button", "v1")  # type: ignore[attr-defined]
        services.residents.remember(resident, address, ALERTS_PURPOSE)
        found[address] = lang
    return found


async def on(page: Any, base: str, path: str) -> None:
    await page.goto(f"{base}{path}")
    await page.evaluate("window.__marker = 42")


@pytest.mark.parametrize("size", list(SIZES))
async def test_a_report_is_verified_and_a_second_dispatcher_approves_the_alert(
        size: str, server: str, services: Services, network: None,  # noqa: F811
        channel: RecordingChannel, staff_directory: StaffDirectory) -> None:
    from playwright.async_api import async_playwright, expect

    SCREENS.mkdir(parents=True, exist_ok=True)
    dana, ben = f"dana{size}", f"ben{size}"
    staff_directory.add(dana, DISPATCHER, ("es", "en"), PASSWORD)
    staff_directory.add(ben, DISPATCHER, ("en",), PASSWORD)
    width, height = SIZES[size]
    area, area_name = AREAS[size]
    reached = subscribers(services, size, area)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        first = await (await browser.new_context(viewport={"width": width, "height": height})).new_page()
        await log_in(first, server, dana)
        await on(first, server, "/staff/reports")

        # A resident's report arrives: the row appears without a reload.
        report = services.reports.file(  # type: ignore[attr-defined]
            area=area, what=("agents", "vehicles"), when="now", ongoing=True, language="es",
            channel="telegram", cross_streets="18th & Blue Island")
        row = first.locator(f'a.row[data-report="{report.id}"]')
        await expect(row).to_be_visible(timeout=10_000)
        await expect(row).to_contain_text(area_name)
        await expect(first.locator('[data-badge="reports_waiting"]')).to_be_visible()
        assert await marked(first)
        await axe_check(first, "the reports queue")
        await first.screenshot(path=str(SCREENS / f"reports-queue-{size}.png"), full_page=True)

        # Dana goes herself, and records what she saw: in place, no reload.
        await row.click()
        await first.wait_for_url(f"{server}/staff/reports/{report.id}")
        await expect(first.locator("#cross-streets")).to_have_text("18th & Blue Island")
        await first.evaluate("window.__marker = 42")
        await first.select_option("#verifier-select", dana)
        await first.click("#assign")
        await expect(first.locator("#status")).to_have_text("verifying")
        await expect(first.locator("#verifier")).to_have_text(dana)
        await first.check("input[name=outcome][value=confirmed]")
        await first.fill("#outcome-note", "dos camionetas en la esquina")
        await first.click("#record")
        await expect(first.locator("#status")).to_have_text("confirmed")
        assert await marked(first)
        await axe_check(first, "a confirmed report")

        # The draft: the report's area is ticked, the preview shows every live language.
        await first.click("#draft-alert")
        await first.wait_for_url(f"{server}/staff/alerts/new?report={report.id}")
        assert await first.locator(f"input[name=area][value={area}]").is_checked()
        await expect(first.locator(".preview-list > li").first).to_contain_text("English (en)")
        shown = await first.locator(".preview-list > li").count()
        english_in = await first.locator("#english-in").count()
        assert shown == len({"en", *services.languages}) or english_in == 1  # every language told
        await first.fill("#more-areas", "Pilsen")  # a second area, by the name residents use
        await first.click("#show-preview")
        await expect(first.locator(".preview-list").first).to_contain_text("31 Lower West Side")
        await axe_check(first, "drafting an alert")
        await first.click("#save-draft")
        await first.wait_for_url(re.compile(r"/staff/alerts/[0-9]+$"))
        alert_id = int(first.url.rsplit("/", 1)[1])
        await expect(first.locator("#approve")).to_be_disabled()
        await expect(first.locator("#why-not")).to_contain_text("You drafted this alert")
        # The broadcaster's plan: our three, and whoever other tests left subscribed to
        # Pilsen's area (c31) in the shared database.
        planned = {s.resident: s.channel for s in services.subscriptions.for_areas((area, "c31"))}  # type: ignore[attr-defined]
        on_test = sum(1 for channel in planned.values() if channel == "test")
        await expect(first.locator("#plan")).to_contain_text(f"{len(planned)} subscribers")
        await expect(first.locator("#plan")).to_contain_text(f"test: {on_test}")

        # Ben, on his own device, sees the draft arrive and approves it.
        second = await (await browser.new_context(viewport={"width": width, "height": height})).new_page()
        await log_in(second, server, ben)
        await on(second, server, "/staff/alerts")
        draft_row = second.locator(f'a.row[data-alert="{alert_id}"]')
        await expect(draft_row).to_contain_text("draft")
        await draft_row.click()
        await second.wait_for_url(f"{server}/staff/alerts/{alert_id}")
        await second.evaluate("window.__marker = 42")
        await axe_check(second, "an alert waiting for approval")
        await second.screenshot(path=str(SCREENS / f"alert-draft-{size}.png"), full_page=True)
        await expect(second.locator("#approve")).to_be_enabled()
        await second.click("#approve")
        # The senders deliver through the channel double; the counts and the state follow.
        await expect(second.locator('#progress [data-count="sent"]')).to_have_text(
            str(len(planned)), timeout=15_000)
        await expect(second.locator('#progress [data-count="total"]')).to_have_text(str(len(planned)))
        await expect(second.locator("#status")).to_have_text("sent", timeout=15_000)
        assert await marked(second)
        got = {address: text for address, text in channel.sent if address in reached}
        assert set(got) == set(reached), channel.sent[-5:]
        for address, text in got.items():
            assert "55 Hegewisch" in text or "54 Riverdale" in text
            assert "31 Lower West Side" in text
            assert services.renderer.text(reached[address], alert_template(services, alert_id),
                                          area="@", time="@", expires="@").split("@")[0] in text
        # Dana's page follows too: the button is gone, the approver named.
        await expect(first.locator("#status")).to_have_text("sent", timeout=10_000)
        await expect(first.locator("#alert-live")).to_contain_text(f"Approved by {ben}")
        await axe_check(second, "an approved alert")
        await second.screenshot(path=str(SCREENS / f"alert-{size}.png"), full_page=True)
        await browser.close()

    assert services.alerts.get(alert_id).state == "sent"  # type: ignore[attr-defined]
    actions = [(e.staff, e.action) for e in staff_directory.audit_entries(limit=500)]
    for expected in [(dana, "opened report"), (dana, "assigned verifier"), (dana, "recorded outcome"),
                     (dana, "drafted alert"), (ben, "approved alert"), (ben, "sent alert")]:
        assert expected in actions, expected


def alert_template(services: Services, alert_id: int) -> str:
    return str(services.alerts.get(alert_id).template)  # type: ignore[attr-defined]


async def test_an_admin_previews_and_publishes_a_quarter(server: str, staff_directory: StaffDirectory,  # noqa: F811
                                                        services: Services) -> None:
    """The publishing pages pass axe too, and the button publishes what the page showed."""
    import datetime as dt

    from playwright.async_api import async_playwright, expect

    from bot.transparency.store import TransparencyStore
    from bot.web.publish import ended_quarters

    SCREENS.mkdir(parents=True, exist_ok=True)
    staff_directory.add("ava", "admin", ("en",), PASSWORD)
    quarter = ended_quarters(dt.date.today())[1]
    store = TransparencyStore(services.db)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = await (await browser.new_context(viewport={"width": 1366, "height": 768})).new_page()
        await log_in(page, server, "ava")
        await page.click("text=Transparency")
        await axe_check(page, "the transparency admin page")
        await page.click(f"#preview-{quarter}")
        await expect(page.locator("h1")).to_contain_text(quarter)
        await axe_check(page, "a quarter's preview")
        await page.screenshot(path=str(SCREENS / "transparency-preview-laptop.png"))
        if store.published(quarter) is None:
            await page.click("#publish")
            await page.wait_for_url(f"{server}/staff/transparency?published={quarter}")
            await expect(page.locator("table")).to_contain_text(quarter)
        await browser.close()
    published = store.published(quarter)
    assert published is not None and published.published_by == "ava"
