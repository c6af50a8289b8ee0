"""The console as an inbox, over HTTP: replies set like the bot's, bad ids, bidi controls,
login by name and address, idle sessions, presence, unread and handed-over tickets,
unclaim and handover, closing while typing, and the audit log's filters and CSV."""

from __future__ import annotations

import datetime as dt

import httpx
import sqlalchemy as sa

from bot.app.services import Services
from bot.handoff.staff import MAX_FAILURES_PER_ADDRESS, StaffDirectory, staff_sessions
from bot.settings import Settings
from bot.testing import deliver_queued
from bot.web.app import create_app
from bot.web.console import client_address, networks
from tests.channels.recording import RecordingChannel
from tests.web.conftest import PASSWORD, Login, csrf_of
from tests.web.test_console import resident_asks

FETCH = {"X-Console": "fetch"}


async def act(client: httpx.AsyncClient, ticket_id: int, action: str, **data: str) -> httpx.Response:
    """An action as the page's script posts it: JSON back, no redirect."""
    page = f"/staff/tickets/{ticket_id}"
    token = csrf_of((await client.get(page)).text)
    return await client.post(f"{page}/{action}", data={"csrf": token, **data}, headers=FETCH)


async def test_arabic_canned_and_typed_replies_go_out_isolated_like_the_bots(
        app, services: Services, login: Login, channel: RecordingChannel) -> None:  # type: ignore[no-untyped-def]
    ticket_id = await resident_asks(services, "arabic-reply", "ar")
    client = await login(languages=("ar",))
    assert (await act(client, ticket_id, "claim")).json()["ok"]
    offered = services.renderer.text("ar", "canned.lawyer", isolated=False)  # what the box gets
    sent = await act(client, ticket_id, "reply", text=offered.replace("\n", "\r\n"))
    assert sent.status_code == 200 and sent.json()["ok"]
    await deliver_queued(services.outbox, services.channels)  # the sender, as in kyr serve
    assert channel.sent[-1][1] == services.renderer.text("ar", "canned.lawyer")  # the bot's own
    assert "\u2066" in channel.sent[-1][1]
    await act(client, ticket_id, "reply", text="لا تفتح الباب لـ ICE \u202eأبدا")
    await deliver_queued(services.outbox, services.channels)
    assert channel.sent[-1][1] == "لا تفتح الباب لـ \u2066ICE\u2069 أبدا"  # isolated; override dropped
    assert services.tickets.messages(ticket_id)[-1].text == "لا تفتح الباب لـ ICE \u202eأبدا"  # as typed
    shown = (await client.get(f"/staff/tickets/{ticket_id}")).text  # ...but never obeyed on screen
    assert "\u202e" not in shown and "[RLO]</abbr>" in shown


async def test_out_of_range_ticket_ids_are_404_everywhere(app, services: Services, login: Login) -> None:  # type: ignore[no-untyped-def]
    huge = str(10**30)
    client = await login(role="supervisor")
    token = csrf_of((await client.get("/staff")).text)
    for path in [f"/staff/tickets/{huge}", f"/staff/fragments/tickets/{huge}", "/staff/tickets/0",
                 f"/staff/tickets/{2**31}"]:
        assert (await client.get(path)).status_code == 404, path
    for action in ("claim", "reply", "close", "transfer", "unclaim", "note"):
        response = await client.post(f"/staff/tickets/{huge}/{action}", data={"csrf": token, "text": "x"})
        assert response.status_code == 404, action
    assert (await client.get(f"/staff/audit?ticket={huge}")).status_code == 200
    assert (await client.get(f"/staff?ticket={huge}")).status_code == 200  # "no ticket with that number"
    real = await resident_asks(services, "go-to-user")
    assert (await client.get(f"/staff?ticket=%23{real}")).headers["location"] == f"/staff/tickets/{real}"


async def test_bidi_controls_are_shown_and_each_resident_line_isolated(app, services: Services, login: Login) -> None:  # type: ignore[no-untyped-def]
    ticket_id = await resident_asks(services, "bidi-user", say="Call me at \u202e0555-123-217\nthanks")
    client = await login()
    html = (await client.get(f"/staff/tickets/{ticket_id}")).text
    assert "\u202e" not in html and '[RLO]</abbr>0555-123-217' in html
    assert html.count('<bdi dir="auto" lang="en">') >= 2  # one isolate per line


def test_forwarded_addresses_are_believed_only_from_configured_proxies() -> None:
    proxies = networks("10.0.0.1, 192.168.0.0/16, not-an-address")
    assert client_address("203.0.113.5", "1.2.3.4", proxies) == "203.0.113.5"  # not a proxy
    assert client_address("10.0.0.1", "1.2.3.4, 198.51.100.7", proxies) == "198.51.100.7"
    assert client_address("10.0.0.1", "198.51.100.7, 192.168.1.2", proxies) == "198.51.100.7"
    assert client_address("10.0.0.1", "garbage", proxies) == "10.0.0.1"
    assert client_address("10.0.0.1", None, proxies) == "10.0.0.1"


async def test_rotating_forwarded_for_does_not_escape_the_address_limit(
        settings: Settings, services: Services, channel: RecordingChannel,
        staff_directory: StaffDirectory) -> None:
    app = create_app(settings, env={"KYR_TRUSTED_PROXIES": "10.9.9.9"}, services=services,
                     channels={"test": channel})
    staff_directory.add("Lucia", "staff", ("es",), PASSWORD)
    transport = httpx.ASGITransport(app=app, client=("10.9.9.9", 1))  # the proxy
    async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as client:
        codes = []
        for n in range(MAX_FAILURES_PER_ADDRESS + 3):
            page = await client.get("/staff/login")
            # The attacker writes what it likes on the left; the proxy appends the real address.
            response = await client.post("/staff/login", headers={
                "X-Forwarded-For": f"172.16.{n}.1, 198.51.100.{77}"}, data={
                "csrf": csrf_of(page.text), "name": f"guess{n}", "password": "wrong"})
            codes.append(response.status_code)
        assert codes[-1] == 429 and codes.count(401) == MAX_FAILURES_PER_ADDRESS
        # Lucia logs in from another address, with the capital her phone puts there.
        page = await client.get("/staff/login")
        ok = await client.post("/staff/login", headers={"X-Forwarded-For": "198.51.100.80"}, data={
            "csrf": csrf_of(page.text), "name": "lucia", "password": PASSWORD})
        assert ok.status_code == 303


async def test_sessions_end_after_inactivity_and_at_the_absolute_limit(
        services: Services, staff_directory: StaffDirectory) -> None:
    directory = StaffDirectory(services.db, staff_directory.hasher, idle=dt.timedelta(minutes=30))
    staff = directory.add("idle-ines", "staff", (), PASSWORD)
    token, session = directory.start_session(staff)
    assert session.ends_at is not None

    def age(**values: dt.datetime) -> None:
        with services.db.begin() as connection:
            connection.execute(sa.update(staff_sessions).where(
                staff_sessions.c.staff == "idle-ines").values(**values))

    now = dt.datetime.now(dt.timezone.utc)
    age(seen_at=now - dt.timedelta(minutes=20))
    assert directory.session(token) is not None  # live updates do not touch...
    assert directory.session(token, touch=True) is not None  # ...what they do does
    age(seen_at=now - dt.timedelta(minutes=31))
    assert directory.session(token) is None  # 31 minutes without doing anything
    token, _ = directory.start_session(staff)
    age(expires_at=now - dt.timedelta(seconds=1))
    assert directory.session(token, touch=True) is None  # however active, the shift's limit


async def test_on_shift_languages_are_those_of_staff_connected_now(
        app, services: Services, login: Login, staff_directory: StaffDirectory) -> None:  # type: ignore[no-untyped-def]
    client = await login(name="shift-pawel", languages=("pl", "uk"))
    assert "pl" not in staff_directory.on_shift_languages()  # logged in, not on shift
    token = csrf_of((await client.get("/staff")).text)
    assert (await client.post("/staff/shift", data={"csrf": token, "on_shift": "1"}, headers=FETCH)).json()["on_shift"]
    assert {"pl", "uk"} <= staff_directory.on_shift_languages()
    await client.post("/staff/logout", data={"csrf": token})
    assert "pl" not in staff_directory.on_shift_languages()  # logged out: off shift


async def test_transfer_carries_a_note_and_the_sender_and_marks_unread(
        app, services: Services, login: Login) -> None:  # type: ignore[no-untyped-def]
    ticket_id = await resident_asks(services, "handed-user", "es")
    ana, luis = await login(name="ana-hand", languages=("es",)), await login(name="luis-hand", languages=("es",))
    await act(ana, ticket_id, "claim")
    moved = await act(ana, ticket_id, "transfer", to="LUIS-hand", note="she has two children")
    assert moved.json()["ok"]
    assert services.tickets.handed_to("luis-hand") == {ticket_id: "ana-hand"}
    from tests.web.test_console import bot_inbound
    from bot.testing import TestBot
    await TestBot(services.conversation, "handed-user").say("¿hay alguien?")
    state = services.tickets.inbox("luis-hand", [ticket_id])[ticket_id]
    assert state.unread >= 1 and state.needs_reply
    queue = (await luis.get("/staff/fragments/queue?queue=mine")).text
    assert "from ana-hand" in queue and "unread" in queue and "needs reply" in queue
    page = (await luis.get(f"/staff/tickets/{ticket_id}")).text
    assert "passed on by ana-hand" in page and "Passed to luis-hand. she has two children" in page
    assert services.tickets.inbox("luis-hand", [ticket_id])[ticket_id].unread == 0  # read now
    events = (await luis.get("/staff/events?once=1")).json()
    assert events["handed"] == {str(ticket_id): "ana-hand"} and ticket_id in events["needs_reply"]
    assert bot_inbound  # (imported for the resident key helper)


async def test_unclaim_and_logout_asks_where_held_tickets_go(app, services: Services, login: Login) -> None:  # type: ignore[no-untyped-def]
    first, second = await resident_asks(services, "held-1"), await resident_asks(services, "held-2")
    nadia = await login(name="nadia-held")
    for ticket_id in (first, second):
        await act(nadia, ticket_id, "claim")
    assert (await act(nadia, first, "unclaim")).json()["ok"]
    assert services.tickets.get(first).status == "open"
    await act(nadia, first, "claim")
    page = await nadia.get("/staff/logout")
    assert f"#{first}" in page.text and f"#{second}" in page.text
    token = csrf_of(page.text)
    asked = await nadia.post("/staff/logout", data={"csrf": token})  # no choice made: ask again
    assert asked.headers["location"] == "/staff/logout"
    nobody = await nadia.post("/staff/logout", data={"csrf": token, "tickets": "to:no-such-person"})
    assert nobody.headers["location"] == "/staff/logout"  # asked again, still signed in
    gone = await nadia.post("/staff/logout", data={"csrf": token, "tickets": "queue"})
    assert gone.headers["location"] == "/staff/login"
    assert {services.tickets.get(i).status for i in (first, second)} == {"open"}


async def test_a_reply_to_a_ticket_closed_meanwhile_names_who_closed_it(
        app, services: Services, login: Login) -> None:  # type: ignore[no-untyped-def]
    ticket_id = await resident_asks(services, "closed-meanwhile")
    omar = await login(name="omar-typing")
    await act(omar, ticket_id, "claim")
    page = f"/staff/tickets/{ticket_id}"
    token = csrf_of((await omar.get(page)).text)
    boss = await login(role="supervisor", name="sofia-boss")
    await act(boss, ticket_id, "close", disposition="other")
    refused = await omar.post(f"{page}/reply", data={"csrf": token, "text": "hola"}, headers=FETCH)
    assert refused.status_code == 409 and "closed by sofia-boss" in refused.json()["message"]
    live = (await omar.get(f"/staff/fragments/tickets/{ticket_id}")).text
    assert 'data-closed-by="sofia-boss"' in live and "closed by sofia-boss" in live


async def test_the_audit_log_has_every_action_filters_and_a_csv(app, services: Services, login: Login) -> None:  # type: ignore[no-untyped-def]
    ticket_id = await resident_asks(services, "audited-all")
    rafa = await login(name="rafa-audit")
    formula = await login(name="=cmd-audit")  # a name a spreadsheet would run as a formula
    await act(rafa, ticket_id, "claim")
    await act(rafa, ticket_id, "reply", text="hola")
    await act(rafa, ticket_id, "note", text="ok")
    await act(rafa, ticket_id, "transfer", to="=cmd-audit", note="")
    await act(formula, ticket_id, "note", text="seen")
    supervisor = await login(role="supervisor", name="sup-audit")
    await act(supervisor, ticket_id, "close", disposition="resolved")
    log = (await supervisor.get(f"/staff/audit?ticket={ticket_id}")).text
    for action in ("opened transcript", "claimed", "replied", "note", "transferred", "closed"):
        assert action in log, action
    only = (await supervisor.get(f"/staff/audit?ticket={ticket_id}&action=claimed&staff=RAFA-audit")).text
    assert "rafa-audit" in only and "replied" not in only.split("<tbody>")[1]
    today = dt.datetime.now(dt.timezone.utc).date()
    old = (await supervisor.get(f"/staff/audit?ticket={ticket_id}&to={today - dt.timedelta(days=3)}")).text
    assert "rafa-audit" not in old
    csv = await supervisor.get(f"/staff/audit.csv?ticket={ticket_id}")
    assert csv.headers["content-type"].startswith("text/csv") and "attachment" in csv.headers["content-disposition"]
    lines = csv.text.splitlines()
    assert lines[0] == "at_utc,at_chicago,staff,ticket,action,detail"
    assert any(line.endswith(f",rafa-audit,{ticket_id},transferred,to =cmd-audit") for line in lines)
    assert any(f",'=cmd-audit,{ticket_id},note," in line for line in lines)  # quoted, inert
    assert not any(",=cmd" in line for line in lines)
    assert (await rafa.get("/staff/audit.csv")).status_code == 403


async def test_the_console_speaks_the_staff_members_language(app, services: Services, login: Login,
                                                             staff_directory: StaffDirectory) -> None:  # type: ignore[no-untyped-def]
    client = await login(name="elena-es", languages=("es",))
    assert "Inbox" in (await client.get("/staff")).text
    token = csrf_of((await client.get("/staff")).text)
    changed = await client.post("/staff/language", data={"csrf": token, "lang": "es", "back": "/staff/audit"})
    assert changed.headers["location"] == "/staff/audit"
    assert staff_directory.get("elena-es").console_language == "es"  # type: ignore[union-attr]
    page = (await client.get("/staff")).text
    assert '<html lang="es">' in page and "Bandeja" in page and "En espera" in page
    ticket_id = await resident_asks(services, "es-console-user", "es")
    assert "Tomar" in (await client.get(f"/staff/tickets/{ticket_id}")).text
    claimed = await act(client, ticket_id, "claim")
    assert claimed.json()["message"] == "Asignado a usted. Ya puede responder."
    await client.post("/staff/language", data={"csrf": token, "lang": "xx"})  # not offered: unchanged
    assert staff_directory.get("elena-es").console_language == "es"  # type: ignore[union-attr]


def test_every_console_text_has_a_spanish_draft() -> None:
    from babel.messages.pofile import read_po

    from bot.web.i18n import LOCALES, po_path

    with (LOCALES / "console.pot").open("rb") as source:
        wanted = {m.id for m in read_po(source) if m.id}
    with po_path("es").open("rb") as source:
        spanish = {m.id: m.string for m in read_po(source) if m.id}
    assert wanted <= set(spanish) and all(spanish[i] for i in wanted)
    for msgid in wanted:  # the same placeholders, or the page shows a broken sentence
        assert sorted(__import__("re").findall(r"%\(\w+\)s", msgid)) == \
            sorted(__import__("re").findall(r"%\(\w+\)s", spanish[msgid])), msgid
