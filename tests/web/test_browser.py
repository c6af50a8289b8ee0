"""End to end in a real browser (Debian's chromium, driven by Playwright), at a laptop's
size (1366x768) and a phone's (390x844): a staff member logs in, hears a new urgent ticket,
reads the resident's path in words, claims, replies, notes and passes the ticket on without
the page ever reloading (a marker set on the page survives, and the beep still sounds on the
next urgent ticket); the colleague is alerted; a draft survives a dropped connection; a
ticket closed while someone types says so, naming who closed it; axe-core finds no critical
or serious violation on any page; every action is in the audit log."""

from __future__ import annotations

import asyncio
import shutil
import socket
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
import uvicorn

from bot.app.services import Services
from bot.handoff.staff import StaffDirectory
from bot.settings import PROJECT_ROOT, Settings
from bot.testing import TestBot
from bot.web.app import create_app
from tests.channels.recording import RecordingChannel
from tests.web.conftest import PASSWORD

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = PROJECT_ROOT / "build" / "browser"
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
SIZES = {"laptop": (1366, 768), "phone": (390, 844)}

# Counts the alert's tones: headless chromium has no speakers, but the oscillator starts.
BEEP_COUNTER = """
window.__beeps = 0;
const realStart = OscillatorNode.prototype.start;
OscillatorNode.prototype.start = function (...args) {
  window.__beeps += 1;
  return realStart.apply(this, args);
};
"""

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (`make test` installs it with apt)")


@pytest.fixture
async def server(settings: Settings, services: Services,
                 channel: RecordingChannel) -> AsyncIterator[str]:
    """`kyr serve`'s app on a free local port, in this event loop, with a recording channel."""
    for ticket in services.tickets.queue() + [t for t in services.tickets.tickets(
            list(range(1, 400))) if t.status == "claimed"]:
        services.tickets.close(ticket.id, "resident", "cleanup")
    app = create_app(settings, env={}, services=services, channels={"test": channel})
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", ws="wsproto",
                            timeout_graceful_shutdown=1)
    running = uvicorn.Server(config)
    task = asyncio.create_task(running.serve(sockets=[sock]))
    while not running.started:
        if task.done():  # it could not start: say why
            task.result()
            raise RuntimeError("the server stopped before it started")
        await asyncio.sleep(0.05)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    running.should_exit = True
    await asyncio.wait_for(task, 10)


def inbound(user: str):  # type: ignore[no-untyped-def]
    from bot.core.messages import InboundMessage

    return InboundMessage("test", user)


async def axe_check(page: Any, where: str) -> None:
    """axe-core in the page: no critical or serious violation (minor ones are reported)."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.evaluate(AXE.read_text(encoding="utf-8"))
    result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    assert result["passes"], "axe did not run"  # it checked something
    bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
           for v in result["violations"] if v["impact"] in ("critical", "serious")]
    assert bad == [], f"axe on {where}: {bad}"


async def log_in(page: Any, server: str, name: str) -> None:
    await page.goto(f"{server}/staff/login")
    await page.fill("#name", name.capitalize())  # phones capitalise the first letter
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{server}/staff")


async def marked(page: Any) -> bool:
    """The marker set on the page is still there: it did not reload or navigate."""
    return bool(await page.evaluate("window.__marker === 42"))


async def urgent_resident(services: Services, user: str, lang: str = "es") -> tuple[TestBot, int]:
    resident = TestBot(services.conversation, user)
    await resident.say(f"/lang {lang}")
    await resident.press_payload("main_menu:menu>@ice_at_door")
    await resident.press_payload("ice_at_door:ask_now>at_door")
    ticket = services.tickets.open_for(services.conversation.resident(inbound(user)))
    assert ticket is not None and ticket.priority == "urgent"
    return resident, ticket.id


@pytest.mark.parametrize("size", list(SIZES))
async def test_a_night_at_the_hotline_without_a_reload(
        size: str, server: str, services: Services, channel: RecordingChannel,
        staff_directory: StaffDirectory) -> None:
    from playwright.async_api import async_playwright, expect

    SHOTS.mkdir(parents=True, exist_ok=True)
    vera, luis = f"vera{size}", f"luis{size}"
    staff_directory.add(vera, "staff", ("es",), PASSWORD)
    staff_directory.add(luis, "staff", ("es", "ar"), PASSWORD)
    width, height = SIZES[size]
    es = services.renderer
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = await browser.new_context(viewport={"width": width, "height": height})
        page = await context.new_page()
        await page.add_init_script(BEEP_COUNTER)
        await log_in(page, server, vera)
        await axe_check(page, "the login page's next page (inbox)")
        await page.locator("p.count").click()  # any first click turns the alert sound on
        await expect(page.locator("#sound-hint")).to_be_hidden()
        await page.click("#shift")  # on shift: the bot may now say a person is connected
        await expect(page.locator("#shift")).to_have_attribute("aria-pressed", "true")
        assert "es" in staff_directory.on_shift_languages()

        # A resident at the door, now: the row appears without a reload, with an alert.
        resident, ticket_id = await urgent_resident(services, f"browser-{size}")
        row = page.locator(f'a.row[data-ticket="{ticket_id}"]')
        await expect(row).to_be_visible(timeout=10_000)
        await expect(page.locator("#alert")).to_be_visible()
        assert await page.evaluate("window.__beeps") >= 1
        await expect(page).to_have_title("(!) (1) Inbox", timeout=10_000)
        box = await row.bounding_box()
        assert box is not None and box["height"] >= 44 and box["width"] <= width  # a whole-row link
        await page.screenshot(path=str(SHOTS / f"queue-{size}.png"))

        # The whole row is the link. The path reads in words, in Spanish, with the button.
        await row.click()
        await page.wait_for_url(f"{server}/staff/tickets/{ticket_id}")
        before = page.locator("details.before")
        await expect(before).to_contain_text(es.text("es", "ice_at_door.at_door").split("\n")[0][:40])
        await expect(before.locator("summary")).to_contain_text("Agents at my door")
        await expect(before).not_to_contain_text("at_door")  # no step ids
        await expect(before.locator(".tap").last).to_contain_text(es.label("es", "ui.yes"))
        await page.check("#show-english")  # the English beside, on demand
        await expect(before.locator(".english").first).to_be_visible()
        # A button tapped while waiting shows as its words, and the bot's answer after it.
        await resident.press_payload("ice_at_door:ask_signed>administrative")
        live = page.locator("ol.live")
        await expect(live.locator(".tap")).to_contain_text(es.label("es", "ui.no"), timeout=10_000)
        await expect(live.locator(".bot").last).to_contain_text(
            es.text("es", "ice_at_door.administrative").split("\n")[0][:30])

        await page.evaluate("window.__marker = 42")
        await page.click("#claim")
        await expect(page.locator("#status")).to_have_text("claimed")
        await expect(page.locator("#reply-text")).to_be_focused()  # ready to write
        await page.click(".canned-box summary")
        await page.locator("button.use").first.click()  # a canned reply, in Spanish
        assert await page.locator("#reply-text").input_value() == es.text("es", "canned.hello", isolated=False)
        await page.keyboard.press("Control+Enter")
        await expect(page.locator("li.staff").last).to_contain_text("sent")
        await page.fill("#reply-text", "¿Está usted en un lugar seguro?")
        await page.click("#send")
        await expect(page.locator("li.staff").last).to_contain_text("¿Está usted en un lugar seguro?")
        # Staff replies go through the outbox: the mark turns "sent" once the channel took it.
        await expect(page.locator("li.staff").last).to_contain_text("sent", timeout=10_000)
        assert channel.sent[-1] == (f"browser-{size}", "¿Está usted en un lugar seguro?")
        await expect(page.locator("#reply-text")).to_have_value("")
        await page.fill("#note-text", "hijos en casa")
        await page.click("#add-note")
        await expect(page.locator("li.note").last).to_contain_text("hijos en casa")
        assert await marked(page)  # claim, two replies and a note: no reload

        # The resident answers: live, announced, marked read here.
        # A person is talking now: the bot only says once that it steps back (issue 13).
        quiet = await resident.say("sí, estoy dentro con mis hijos")
        assert [m.step for m in quiet] in ([], ["handoff_quiet"])
        await expect(page.locator("li.resident").last).to_contain_text("estoy dentro", timeout=10_000)
        await expect(page.locator("#announce")).to_have_text("New message from the resident")

        # The beep still sounds after all those actions, on the next urgent ticket.
        beeps = await page.evaluate("window.__beeps")
        await urgent_resident(services, f"browser-{size}-2", "en")
        await expect(page.locator("#alert")).to_be_visible(timeout=10_000)
        await page.wait_for_function(f"window.__beeps > {beeps}", timeout=10_000)
        await axe_check(page, "a claimed ticket")
        await page.screenshot(path=str(SHOTS / f"ticket-{size}.png"), full_page=True)

        # A draft survives a dropped connection.
        await page.fill("#reply-text", "Le llamo en cinco minutos")
        await context.set_offline(True)
        await page.click("#send")
        await expect(page.locator("#ticket-warning")).to_contain_text("connection dropped")
        assert await page.locator("#reply-text").input_value() == "Le llamo en cinco minutos"
        await context.set_offline(False)
        await page.reload()  # even a reload (or a new login) brings it back: sessionStorage
        await expect(page.locator("#reply-text")).to_have_value("Le llamo en cinco minutos")
        await page.fill("#reply-text", "")
        await page.evaluate("window.__marker = 42")

        # Luis, on his own laptop, is told when vera passes the ticket to him with a note.
        other_context = await browser.new_context(viewport={"width": width, "height": height})
        other = await other_context.new_page()
        await other.add_init_script(BEEP_COUNTER)
        await log_in(other, server, luis)
        await other.locator("p.count").click()
        await page.select_option("#transfer-to", luis)
        await page.fill("#transfer-note", "habla de sus hijos")
        await page.click("#transfer")
        await expect(page.locator("#status")).to_have_text("claimed")
        await expect(page.locator("#state")).to_contain_text(luis)
        assert await marked(page)  # passed on without a reload
        await expect(other.locator("#handed")).to_contain_text(f"Ticket {ticket_id} was passed to you by {vera}",
                                                               timeout=10_000)
        assert await other.evaluate("window.__beeps") >= 1
        await other.click("#handed a")
        await expect(other.locator("#state")).to_contain_text(f"passed on by {vera}")
        await expect(other.locator("li.note").last).to_contain_text("habla de sus hijos")

        # Luis writes; the resident stops waiting: the page says so at once, and by whom.
        await other.fill("#reply-text", "Un momento, por favor")
        await resident.say("/stop")
        await expect(other.locator("#ticket-warning")).to_contain_text("closed by the resident",
                                                                       timeout=10_000)
        assert await other.locator("#reply-text").input_value() == "Un momento, por favor"
        await expect(other.locator("#send")).to_be_hidden()
        await expect(other.locator("#status")).to_have_text("closed")
        await axe_check(other, "a closed ticket")

        # Logging out: drafts go, and the session with them.
        await other.goto(f"{server}/staff/logout")
        await axe_check(other, "the logout page")
        await other.click("#logout")
        await other.wait_for_url(f"{server}/staff/login")
        await axe_check(other, "the login page")
        assert await other.evaluate("Object.keys(sessionStorage).filter(k => k.startsWith('kyr-draft:')).length") == 0
        await browser.close()

    actions = [(e.staff, e.action) for e in reversed(staff_directory.audit_entries(ticket_id=ticket_id))]
    for expected in [(vera, "opened transcript"), (vera, "claimed"), (vera, "replied"), (vera, "note"),
                     (vera, "transferred"), (luis, "opened transcript")]:
        assert expected in actions, (expected, actions)
    assert actions.count((vera, "opened transcript")) == 1  # refreshes and live updates: one visit
    assert actions.count((vera, "replied")) == 2


async def test_every_page_passes_axe_and_bad_ids_are_404(server: str, services: Services,
                                                        staff_directory: StaffDirectory) -> None:
    from playwright.async_api import async_playwright

    staff_directory.add("rosa-axe", "supervisor", ("es",), PASSWORD)
    _, ticket_id = await urgent_resident(services, "axe-resident", "ar")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        for size, (width, height) in SIZES.items():
            page = await browser.new_page(viewport={"width": width, "height": height})
            await page.goto(f"{server}/staff/login")
            await axe_check(page, f"login ({size})")
            await log_in(page, server, "rosa-axe")
            for path in ["/staff", "/staff?queue=mine", "/staff?queue=all", f"/staff/tickets/{ticket_id}",
                         "/staff/audit", "/staff/handover", "/staff/tickets/" + "1" + "0" * 30]:
                response = await page.goto(server + path)
                assert response is not None
                assert response.status == (404 if "0" * 30 in path else 200), path
                await axe_check(page, f"{path} ({size})")
            await page.close()
        await browser.close()


async def test_expiry_warns_then_login_returns_to_the_ticket_with_the_draft(
        server: str, services: Services, staff_directory: StaffDirectory) -> None:
    import datetime as dt

    import sqlalchemy as sa
    from playwright.async_api import async_playwright, expect

    from bot.handoff.staff import IDLE_MINUTES, staff_sessions

    staff_directory.add("ines-expiry", "staff", ("es",), PASSWORD)
    resident, ticket_id = await urgent_resident(services, "expiry-resident")

    def idle_for(minutes: float) -> None:
        with services.db.begin() as connection:
            connection.execute(sa.update(staff_sessions).where(staff_sessions.c.staff == "ines-expiry").values(
                seen_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=minutes)))

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = await browser.new_page(viewport={"width": 390, "height": 844})
        await log_in(page, server, "ines-expiry")
        await page.goto(f"{server}/staff/tickets/{ticket_id}")
        # The claim is activity too: its answer first, or under load it can land after the
        # idle time below is set and start the session's clock again.
        async with page.expect_response(f"**/staff/tickets/{ticket_id}/claim"):
            await page.click("#claim")
        async with page.expect_response("**/staff/keepalive"):  # typing is activity: it lands first
            await page.fill("#reply-text", "Ya casi termino de escribir")
        idle_for(IDLE_MINUTES - 3)  # three minutes left: the page warns
        await resident.say("sigo aquí")  # any change: the page hears how long is left
        await expect(page.locator("#expiry")).to_be_visible(timeout=15_000)
        await expect(page.locator("#expiry-text")).to_contain_text("3 min")
        await page.click("#stay")
        await expect(page.locator("#expiry")).to_be_hidden(timeout=5_000)
        idle_for(IDLE_MINUTES + 1)  # gone: the next look at the session sends them to log in
        await resident.say("¿hola?")
        await page.wait_for_url("**/staff/login?expired=1**", timeout=15_000)
        await expect(page.locator("p.warning")).to_contain_text("draft is kept")
        await page.fill("#name", "ines-expiry")
        await page.fill("#password", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url(f"{server}/staff/tickets/{ticket_id}")  # back where they were
        await expect(page.locator("#reply-text")).to_have_value("Ya casi termino de escribir")
        await browser.close()
