"""End to end in a real browser (Debian's chromium, driven by Playwright): a staff member
logs in, sees a new urgent ticket appear live, claims it, replies, sees the resident's
answer arrive, closes it, and the bot answers the resident again."""

from __future__ import annotations

import asyncio
import shutil
import socket
from typing import AsyncIterator

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
    for ticket in services.tickets.queue():
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


async def test_staff_take_an_urgent_chat_and_hand_it_back(
        server: str, services: Services, channel: RecordingChannel,
        staff_directory: StaffDirectory) -> None:
    from playwright.async_api import async_playwright, expect

    SHOTS.mkdir(parents=True, exist_ok=True)
    staff_directory.add("vera", "staff", ("es",), PASSWORD)
    resident = TestBot(services.conversation, "browser-resident")
    await resident.say("/lang es")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = await browser.new_page()
        await page.add_init_script(BEEP_COUNTER)
        await page.goto(f"{server}/staff/login")
        await page.fill("input[name=name]", "vera")
        await page.fill("input[name=password]", PASSWORD)
        await page.click("button[type=submit]")
        await expect(page.locator("p.count")).to_be_visible()
        await page.locator("p.count").click()  # any first click turns the alert sound on
        await expect(page.locator("#sound-hint")).to_be_hidden()

        # A resident at the door, now: an urgent ticket appears without a reload, with an alert.
        await resident.press_payload("main_menu:menu>@ice_at_door")
        await resident.press_payload("ice_at_door:ask_now>at_door")
        ticket = services.tickets.open_for(services.conversation.resident(inbound("browser-resident")))
        assert ticket is not None and ticket.priority == "urgent"
        row = page.locator(f'tr[data-ticket="{ticket.id}"]')
        await expect(row).to_be_visible(timeout=10_000)
        await expect(page.locator("#alert")).to_be_visible()
        assert await page.evaluate("window.__beeps") >= 1  # and it was heard
        await page.screenshot(path=str(SHOTS / "queue.png"))

        await row.locator("a").click()
        await page.click("#claim")
        await expect(page.locator("#status")).to_have_text("claimed")
        await page.locator("button.use").first.click()  # a canned reply, in Spanish
        canned = await page.locator("#reply-text").input_value()
        assert canned == services.renderer.text("es", "canned.hello", isolated=False)
        # Staff spend their time on ticket pages: a second urgent ticket alerts here too.
        other = TestBot(services.conversation, "browser-resident-2")
        await other.say("/lang en")
        await other.press_payload("main_menu:menu>@arrest_detention")
        await other.press_payload("arrest_detention:who>rel_hotline")  # someone just detained
        await expect(page.locator("#alert")).to_be_visible(timeout=10_000)
        assert await page.evaluate("window.__beeps") >= 1  # a new page: its own count
        await page.fill("#reply-text", "¿Está usted en un lugar seguro?")
        await page.click("#send")
        await expect(page.locator("li.reply").last).to_contain_text("sent")
        assert channel.sent[-1] == ("browser-resident", "¿Está usted en un lugar seguro?")

        # The resident answers; it appears live in the transcript, and the bot stays quiet.
        assert await resident.say("sí, estoy dentro con mis hijos") == []
        await expect(page.locator("li.resident").last).to_contain_text("estoy dentro con mis hijos",
                                                                       timeout=10_000)
        await page.screenshot(path=str(SHOTS / "ticket.png"), full_page=True)

        await page.select_option("#disposition", "rapid response sent")
        await page.click("#close")
        await expect(page.locator("p.notice")).to_contain_text("back with the bot")
        await browser.close()
    assert channel.messages[-1].flow == "main_menu" and channel.messages[-1].lang == "es"
    assert any(m.text.startswith(services.renderer.text("es", "handoff.closed")) for m in channel.messages)
    answer = await resident.say("me pararon en la calle")
    assert answer and answer[-1].flow != "system"  # the bot answers again


def inbound(user: str):  # type: ignore[no-untyped-def]
    from bot.core.messages import InboundMessage

    return InboundMessage("test", user)

