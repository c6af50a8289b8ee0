"""The staff console over HTTP: login, sessions, CSRF, queues, claim race, relay, audit."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import httpx
import sqlalchemy as sa

from bot.app.services import Services
from bot.handoff.staff import MAX_FAILURES, StaffDirectory
from bot.handoff.tickets import tickets as tickets_table
from bot.testing import TestBot, deliver_queued
from bot.channels.whatsapp.plugin import CAPABILITIES as WHATSAPP
from tests.channels.recording import RecordingChannel
from tests.web.conftest import PASSWORD, Login, csrf_of


async def resident_asks(services: Services, user: str, lang: str = "en", say: str = "") -> int:
    bot = TestBot(services.conversation, user)
    await bot.say(f"/lang {lang}")
    await bot.say("/human")
    if say:
        await bot.say(say)
    ticket = services.tickets.open_for(services.conversation.resident(bot_inbound(user)))
    assert ticket is not None
    return ticket.id


def bot_inbound(user: str):  # type: ignore[no-untyped-def]
    from bot.core.messages import InboundMessage

    return InboundMessage("test", user)


async def post(client: httpx.AsyncClient, url: str, page: str, **data: str) -> httpx.Response:
    """Submit a form the way the browser does: with the CSRF token of the page it is on."""
    form = (await client.get(page)).text
    return await client.post(url, data={"csrf": csrf_of(form), **data})


# ---- login and sessions ----

async def test_login_sets_a_safe_session_cookie_and_logout_ends_it(app, login: Login) -> None:  # type: ignore[no-untyped-def]
    client = await login()
    cookie = next(c for c in client.cookies.jar if c.name == "kyr_staff")
    assert cookie.path == "/staff" and not cookie.secure
    assert cookie.has_nonstandard_attr("HttpOnly")
    assert (await client.get("/staff")).status_code == 200
    response = await post(client, "/staff/logout", "/staff")
    assert response.status_code == 303
    assert (await client.get("/staff")).headers.get("location") == "/staff/login"


async def test_the_cookie_is_secure_under_https(login: Login) -> None:
    client = await login(base_url="https://console.test")
    cookie = next(c for c in client.cookies.jar if c.name == "kyr_staff")
    assert cookie.secure


async def test_wrong_passwords_are_rate_limited(app, staff_directory: StaffDirectory) -> None:  # type: ignore[no-untyped-def]
    staff_directory.add("marta", "staff", ("es",), PASSWORD)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("10.0.0.7", 1)),
                                 base_url="http://console.test") as client:
        for _ in range(MAX_FAILURES):
            page = await client.get("/staff/login")
            bad = await client.post("/staff/login", data={"csrf": csrf_of(page.text), "name": "marta",
                                                          "password": "not it"})
            assert bad.status_code == 401 and "wrong name or password" in bad.text
        page = await client.get("/staff/login")
        locked = await client.post("/staff/login", data={"csrf": csrf_of(page.text), "name": "marta",
                                                         "password": PASSWORD})
        assert locked.status_code == 429 and "wait 15 minutes" in locked.text


async def test_forms_without_the_csrf_token_are_refused(app, services: Services, login: Login) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console.test") as bare:
        assert (await bare.post("/staff/login", data={"name": "x", "password": "y"})).status_code == 403
    client = await login()
    ticket_id = await resident_asks(services, "csrf-user")
    refused = await client.post(f"/staff/tickets/{ticket_id}/claim", data={"csrf": "forged"})
    assert refused.status_code == 403
    assert services.tickets.get(ticket_id).status == "open"


async def test_pages_need_a_session(app) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console.test") as c:
        assert (await c.get("/staff")).headers["location"] == "/staff/login"
        assert (await c.get("/staff/fragments/queue")).status_code == 401
        assert (await c.post("/staff/tickets/1/claim", data={})).status_code in (303, 403)
        assert (await c.post("/staff/tickets/1/claim", data={})).headers["location"] == \
            "/staff/login?next=%2Fstaff%2Ftickets%2F1&expired=1"  # back to the ticket after login
        fetched = await c.post("/staff/tickets/1/claim", data={}, headers={"X-Console": "fetch"})
        assert fetched.status_code == 401 and fetched.json()["signed_out"]


# ---- queues ----

async def test_queue_is_urgent_first_then_my_languages_then_oldest(app, services: Services, login: Login) -> None:  # type: ignore[no-untyped-def]
    english = await resident_asks(services, "q-en", "en")
    polish = await resident_asks(services, "q-pl", "pl")
    bot = TestBot(services.conversation, "q-urgent")
    await bot.say("/lang en")
    await bot.press_payload("main_menu:menu>@ice_at_door")
    await bot.press_payload("ice_at_door:ask_now>at_door")
    urgent = services.tickets.open_for(services.conversation.resident(bot_inbound("q-urgent")))
    assert urgent is not None
    polish_speaker = await login(languages=("pl",))
    html = (await polish_speaker.get("/staff/fragments/queue")).text
    order = [int(x) for x in __import__("re").findall(r'data-ticket="(\d+)"', html)]
    assert order == [urgent.id, polish, english]
    assert f'data-urgent="{urgent.id}"' in html
    only_polish = (await polish_speaker.get("/staff/fragments/queue?language=pl")).text
    assert f'data-ticket="{polish}"' in only_polish and f'data-ticket="{english}"' not in only_polish
    urgent_only = (await polish_speaker.get("/staff/fragments/queue?priority=urgent")).text
    assert f'data-ticket="{urgent.id}"' in urgent_only and f'data-ticket="{polish}"' not in urgent_only
    # "All open" is for supervisors; staff asking for it get the waiting queue.
    assert "All open" not in (await polish_speaker.get("/staff")).text
    supervisor = await login(role="supervisor")
    assert "All open" in (await supervisor.get("/staff")).text


async def test_two_staff_claim_at_once_exactly_one_wins(app, services: Services, login: Login) -> None:  # type: ignore[no-untyped-def]
    ticket_id = await resident_asks(services, "race-user")
    ana, luis = await login(name="ana-race"), await login(name="luis-race")
    page = f"/staff/tickets/{ticket_id}"
    tokens = [csrf_of((await c.get(page)).text) for c in (ana, luis)]
    responses = await asyncio.gather(*(c.post(f"{page}/claim", data={"csrf": t})
                                       for c, t in zip((ana, luis), tokens)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [303, 409], codes
    loser = next(r for r in responses if r.status_code == 409)
    winner = services.tickets.get(ticket_id).assignee
    assert winner in ("ana-race", "luis-race") and f"claimed by {winner}" in loser.text


# ---- a ticket: transcript, reply, notes, close, audit ----

async def test_reply_reaches_the_channel_and_close_hands_back_to_the_bot(
        app, services: Services, login: Login, channel: RecordingChannel) -> None:  # type: ignore[no-untyped-def]
    ticket_id = await resident_asks(services, "relay-user", "es", say="hay agentes en la esquina de mi casa")
    client = await login(languages=("es",))
    page = f"/staff/tickets/{ticket_id}"
    html = (await client.get(page)).text
    assert "hay agentes en la esquina de mi casa" in html
    assert "Talk to a person" in html  # the path that led here, in English for staff
    assert (await post(client, f"{page}/claim", page)).status_code == 303
    html = (await client.get(page)).text
    assert services.renderer.text("es", "canned.safe", isolated=False) in html  # canned, in Spanish
    assert services.renderer.content.text("canned.safe") in html  # ...with the English beside it
    sent = await post(client, f"{page}/reply", page, text="¿Está usted en un lugar seguro?")
    assert sent.status_code == 303
    assert channel.sent == []  # queued in the outbox: the channel's sender sends it
    assert services.tickets.messages(ticket_id)[-1].delivery == "sending"
    await deliver_queued(services.outbox, services.channels)
    assert channel.sent == [("relay-user", "¿Está usted en un lugar seguro?")]
    assert services.tickets.messages(ticket_id)[-1].delivery == "sent"  # marked by the sender
    await post(client, f"{page}/note", page, text="called back at 10:40")
    html = (await client.get(page)).text
    assert "called back at 10:40" in html and "internal note" in html and "sent" in html
    assert channel.sent[-1][1] == "¿Está usted en un lugar seguro?"  # a note is never sent
    closed = await post(client, f"{page}/close", page, disposition="resolved")
    assert closed.status_code == 303 and closed.headers["location"] == "/staff?notice=closed"
    assert "back with the bot" in (await client.get(closed.headers["location"])).text
    await deliver_queued(services.outbox, services.channels)  # the end of the ticket, queued
    told = [m for m in channel.messages[1:]]
    assert told[0].text.startswith(services.renderer.text("es", "handoff.closed"))
    assert told[-1].flow == "main_menu" and told[-1].lang == "es"
    bot = TestBot(services.conversation, "relay-user")
    assert (await bot.say("la migra está en mi puerta"))[-1].flow != "system"  # the bot answers


async def test_whatsapp_reply_outside_24_hours_is_shown_as_not_delivered(
        app, services: Services, login: Login) -> None:  # type: ignore[no-untyped-def]
    whatsapp = RecordingChannel("whatsapp", capabilities=WHATSAPP)
    app.state.live.services.channels["whatsapp"] = whatsapp
    ticket = services.tickets.open(f"wa-{os.getpid()}-{dt.datetime.now().timestamp()}", "whatsapp",
                                 "legal_help", "en")
    long_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=25)
    with services.db.begin() as connection:
        connection.execute(sa.update(tickets_table).where(tickets_table.c.id == ticket.id).values(
            last_inbound_at=long_ago))
    services.residents.remember(ticket.resident, "15551234567")
    client = await login()
    page = f"/staff/tickets/{ticket.id}"
    await post(client, f"{page}/claim", page)
    response = await post(client, f"{page}/reply", page, text="Are you safe?")
    assert response.headers["location"].endswith("?notice=undelivered")
    assert whatsapp.sent == []  # never sent: WhatsApp would refuse it
    html = (await client.get(page)).text
    assert "not delivered: outside WhatsApp&#39;s 24-hour window" in html
    message = services.tickets.messages(ticket.id)[-1]
    assert (message.delivery, message.text) == ("failed", "Are you safe?")


async def test_a_refused_send_is_shown_with_the_platform_reason(app, services: Services, login: Login) -> None:  # type: ignore[no-untyped-def]
    app.state.live.services.channels["test"] = RecordingChannel("test", refuse="rejected by WhatsApp (HTTP 400)")
    ticket_id = await resident_asks(services, "refused-user")
    client = await login()
    page = f"/staff/tickets/{ticket_id}"
    await post(client, f"{page}/claim", page)
    await post(client, f"{page}/reply", page, text="hello")
    await deliver_queued(services.outbox, services.channels)
    assert "not delivered: rejected by WhatsApp (HTTP 400)" in (await client.get(page)).text


async def test_every_transcript_opening_is_audited_once_per_visit_and_only_supervisors_read_the_log(
        app, services: Services, login: Login) -> None:  # type: ignore[no-untyped-def]
    ticket_id = await resident_asks(services, "audit-user")
    other_id = await resident_asks(services, "audit-user-2")
    staff = await login(name="nadia-audit")
    await staff.get(f"/staff/tickets/{ticket_id}")
    await staff.get(f"/staff/tickets/{ticket_id}")  # a refresh: the same visit
    await staff.get(f"/staff/tickets/{other_id}")
    await staff.get(f"/staff/tickets/{ticket_id}")  # back after another ticket: a new visit
    assert (await staff.get("/staff/audit")).status_code == 403
    supervisor = await login(role="supervisor")
    log = (await supervisor.get(f"/staff/audit?ticket={ticket_id}")).text
    assert log.count("nadia-audit") == 2 and "opened transcript" in log


async def test_transfer_moves_the_ticket_to_a_colleague(app, services: Services, login: Login) -> None:  # type: ignore[no-untyped-def]
    ticket_id = await resident_asks(services, "transfer-user")
    ana = await login(name="ana-transfer")
    await login(name="luis-transfer")
    page = f"/staff/tickets/{ticket_id}"
    await post(ana, f"{page}/claim", page)
    assert (await post(ana, f"{page}/transfer", page, to="luis-transfer")).status_code == 303
    assert services.tickets.get(ticket_id).assignee == "luis-transfer"
    refused = await post(ana, f"{page}/close", page, disposition="resolved")
    assert refused.status_code == 409  # no longer hers


# ---- accounts from the command line ----

def test_kyr_staff_add_reads_the_password_from_stdin(tmp_path: Path) -> None:
    env = dict(os.environ, KYR_DATA_DIR=str(tmp_path), KYR_SECRET_KEY="x")
    kyr = [sys.executable, "-m", "bot"]
    added = subprocess.run(kyr + ["staff", "add", "rosa", "--role", "supervisor", "--languages", "es,pl",
                                  "--password-stdin"], input=PASSWORD + "\n", env=env,
                           capture_output=True, text=True, timeout=120)
    assert added.returncode == 0, added.stderr
    listed = subprocess.run(kyr + ["staff", "list"], env=env, capture_output=True, text=True, timeout=120)
    assert "rosa\tsupervisor\tes,pl" in listed.stdout
    short = subprocess.run(kyr + ["staff", "add", "x", "--password-stdin"], input="short\n", env=env,
                           capture_output=True, text=True, timeout=120)
    assert short.returncode == 1 and "at least 12 characters" in short.stderr
    stored = sa.create_engine(f"sqlite:///{tmp_path / 'kyr.sqlite3'}")
    with stored.connect() as connection:
        hashed = connection.execute(sa.text("select password_hash from kyr_staff")).scalar()
    assert hashed.startswith("$argon2id$") and PASSWORD not in hashed


async def test_live_transcript_needs_the_audited_page_first(app, services: Services, login: Login) -> None:  # type: ignore[no-untyped-def]
    ticket_id = await resident_asks(services, "peek-user", say="private words")
    client = await login()
    peek = await client.get(f"/staff/fragments/tickets/{ticket_id}")
    assert peek.status_code == 403 and "private words" not in peek.text
    await client.get(f"/staff/tickets/{ticket_id}")  # opening the page is audited
    assert "private words" in (await client.get(f"/staff/fragments/tickets/{ticket_id}")).text


async def test_a_supervisor_can_close_a_ticket_left_claimed(app, services: Services, login: Login,
                                                            channel: RecordingChannel) -> None:  # type: ignore[no-untyped-def]
    ticket_id = await resident_asks(services, "left-claimed")
    services.tickets.claim(ticket_id, "gone-home")
    supervisor = await login(role="supervisor")
    page = f"/staff/tickets/{ticket_id}"
    closed = await post(supervisor, f"{page}/close", page, disposition="other")
    assert closed.status_code == 303 and services.tickets.get(ticket_id).status == "closed"
    await deliver_queued(services.outbox, services.channels)
    assert channel.messages[-1].flow == "main_menu"  # the resident was handed back


async def test_a_link_cannot_put_its_own_words_on_a_console_page(app, login: Login) -> None:  # type: ignore[no-untyped-def]
    client = await login()
    page = (await client.get("/staff?notice=Call+555-0100+now")).text
    assert "Call 555-0100 now" not in page and 'class="notice"' not in page


async def test_metrics_count_the_tickets_waiting(app, services: Services) -> None:  # type: ignore[no-untyped-def]
    await resident_asks(services, "metrics-user")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console.test") as c:
        metrics = (await c.get("/metrics")).text
    assert "kyr_tickets_waiting 1\n" in metrics and "kyr_tickets_waiting_urgent 0\n" in metrics


async def test_the_audit_page_takes_only_plain_ticket_numbers(app, login: Login) -> None:  # type: ignore[no-untyped-def]
    supervisor = await login(role="supervisor")
    assert (await supervisor.get("/staff/audit?ticket=%C2%B2")).status_code == 200  # "²"


async def test_background_tabs_ask_for_urgent_tickets_without_a_stream(app, services: Services, login: Login) -> None:  # type: ignore[no-untyped-def]
    client = await login()
    bot = TestBot(services.conversation, "once-user")
    await bot.say("/lang en")
    await bot.press_payload("main_menu:menu>@report_activity")
    await bot.press_payload("report_activity:ask_safe>call")  # safe now, reporting: urgent
    ticket = services.tickets.open_for(services.conversation.resident(bot_inbound("once-user")))
    assert ticket is not None and ticket.priority == "urgent"
    data = (await client.get("/staff/events?once=1")).json()
    assert ticket.id in data["urgent"] and data["version"] >= 1
