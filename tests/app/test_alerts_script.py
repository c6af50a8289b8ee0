"""Subscribing, stopping and reporting in script mode: the real Rasa turn, flows, content
and the network's services, through the conversation service (TestBot)."""

from __future__ import annotations


from bot.app.services import Services
from bot.core.alerts import consent_version
from bot.core.messages import InboundMessage
from bot.handoff.tickets import OPEN, REPLY, URGENT
from bot.network.reports import NEW
from bot.testing import TestBot


def resident(services: Services, bot: TestBot) -> str:
    return services.conversation.resident(InboundMessage("test", bot.user))


def text(services: Services, key: str, **extra: str) -> str:
    return services.renderer.text("en", key, **extra)


async def subscribe(services: Services, bot: TestBot, *areas: str) -> None:
    await bot.say("/lang en")
    replies = await bot.say("/alerts")
    assert replies[-2].text == text(services, "alerts.intro")
    assert bot.where == ("subscribe_alerts", "ask_area")
    for area in areas:
        await bot.say(area)
    assert bot.where == ("subscribe_alerts", "more_areas")
    replies = await bot.press("Done")
    assert bot.where == ("subscribe_alerts", "confirm")


async def test_subscribe_by_typed_areas_records_the_consent_and_the_address(
        services: Services, bot: TestBot) -> None:
    await bot.say("/lang en")
    await bot.say("/alerts")
    unknown = await bot.say("my street")
    assert unknown[-1].text == text(services, "alerts.unknown_area")
    zip_code = await bot.say("60608")
    assert zip_code[-1].text == text(services, "alerts.zip_code")
    await bot.say("24")
    more = await bot.say("Pilsen")
    assert more[-1].text == text(services, "alerts.more_areas", areas="24 West Town, 31 Lower West Side")
    confirm = await bot.press("Done")
    assert confirm[-1].text.startswith("You are subscribed to alerts for: 24 West Town, 31 Lower West Side.")
    assert "STOP" in confirm[-1].text and "/alerts off" in confirm[-1].text
    who = resident(services, bot)
    subscriber = services.subscriptions.get(who)
    assert subscriber is not None
    assert set(subscriber.areas) == {"c24", "c31"} and subscriber.language == "en"
    assert subscriber.consent_method == "button"
    assert subscriber.consent_version == consent_version(
        services.renderer.content.text("alerts.confirm"))
    assert services.residents.address(who) == bot.user  # kept to reach them with alerts


async def test_stop_from_a_subscriber_stops_at_any_step_with_one_confirmation(
        services: Services, bot: TestBot) -> None:
    await subscribe(services, bot, "Cicero")
    await bot.press_payload("main_menu:menu>@ice_at_door")  # somewhere else in the flows
    replies = await bot.say("STOP")
    assert [r.text for r in replies] == [text(services, "alerts.stopped")]
    who = resident(services, bot)
    assert services.subscriptions.get(who) is None
    assert services.residents.address(who) is None  # no other purpose holds it


async def test_stop_while_a_ticket_waits_stops_alerts_and_keeps_the_ticket(
        services: Services, bot: TestBot) -> None:
    await subscribe(services, bot, "24")
    await bot.say("/human")
    who = resident(services, bot)
    ticket = services.tickets.open_for(who)
    assert ticket is not None
    services.tickets.add_message(ticket.id, "staff:ana", REPLY, "Hello, I am Ana.")
    replies = await bot.say("stop")
    assert text(services, "alerts.stopped") in [r.text for r in replies]
    assert services.subscriptions.get(who) is None
    assert services.tickets.get(ticket.id).status == OPEN  # the wait goes on
    assert services.residents.address(who) == bot.user  # still needed for the ticket


async def test_slash_stop_still_ends_the_wait_and_keeps_the_subscription(
        services: Services, bot: TestBot) -> None:
    await subscribe(services, bot, "24")
    await bot.say("/human")
    who = resident(services, bot)
    ticket = services.tickets.open_for(who)
    assert ticket is not None
    replies = await bot.say("/stop")
    assert text(services, "handoff.stopped") in [r.text for r in replies]
    assert services.tickets.open_for(who) is None
    assert services.subscriptions.get(who) is not None
    assert services.residents.address(who) == bot.user  # alerts must still reach them


async def test_stop_from_someone_not_subscribed_changes_nothing(
        services: Services, bot: TestBot) -> None:
    """The STOP-word shortcut is for subscribers only. NLU may still read a bare "stop" as
    stop_alerts (it did once the alert phrases of every language were trained): then the
    answer, "Alerts are off", is true for them too, and nothing is stored."""
    await bot.say("/lang en")
    replies = await bot.say("stop")
    assert replies and all(r.text for r in replies)
    who = resident(services, bot)
    assert services.subscriptions.get(who) is None
    assert services.residents.address(who) is None


async def test_alerts_off_and_delete_both_end_a_subscription(services: Services, user: str) -> None:
    for ending in ("/alerts off", "/delete"):
        bot = TestBot(services.conversation, f"{user}-{ending[1:4]}")
        await subscribe(services, bot, "Berwyn")
        who = resident(services, bot)
        assert services.subscriptions.get(who) is not None
        replies = await bot.say(ending)
        if ending == "/delete":
            replies = await bot.press("Yes, delete")
        else:
            assert [r.text for r in replies] == [text(services, "alerts.stopped")]
        assert services.subscriptions.get(who) is None, ending
        assert services.residents.address(who) is None, ending


async def test_a_report_is_filed_for_the_dispatchers_with_its_ticket(
        services: Services, bot: TestBot) -> None:
    await bot.say("/lang en")
    await bot.press_payload("main_menu:more>@report_activity")
    await bot.press("Yes")  # in a safe place: the urgent answer and a ticket first
    who = resident(services, bot)
    ticket = services.tickets.open_for(who)
    assert ticket is not None and ticket.priority == URGENT
    assert bot.where == ("report_activity", "call")
    await bot.press("Report it here")
    await bot.press("An arrest")
    assert bot.where == ("report_activity", "where")
    await bot.say("Little Village")
    await bot.press("Skip")  # no cross streets
    await bot.press("Now")
    replies = await bot.press("Yes")
    assert bot.where == ("report_activity", "filed")
    assert "check every report before anyone is alerted" in replies[-1].text
    filed = [r for r in services.reports.queue() if r.ticket_id == ticket.id]
    assert len(filed) == 1
    report = filed[0]
    assert (report.state, report.area, report.what, report.when, report.ongoing) == \
        (NEW, "c30", ("arrest",), "now", True)
    assert (report.language, report.channel, report.cross_streets) == ("en", "test", None)


async def test_while_staff_talk_a_typed_area_still_answers_the_report(
        services: Services, bot: TestBot) -> None:
    await bot.say("/lang en")
    await bot.press_payload("main_menu:more>@report_activity")
    await bot.press("Yes")
    ticket = services.tickets.open_for(resident(services, bot))
    assert ticket is not None
    services.tickets.add_message(ticket.id, "staff:ana", REPLY, "Where are you?")
    await bot.press("Report it here")
    await bot.press("Agents")
    replies = await bot.say("Pilsen")  # also goes to staff, like every typed line
    assert bot.where == ("report_activity", "streets"), [r.text for r in replies]
    assert "Pilsen" in [m.text for m in services.tickets.messages(ticket.id)]


async def test_subscribe_report_and_stop_on_postgresql(services: Services, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The same effects on PostgreSQL (the services' SQL is tested on both in tests/network)."""
    from tests.conftest import HOTLINE_OPEN, postgres_services

    with postgres_services(tmp_path) as pg:
        pg.conversation.clock = lambda: HOTLINE_OPEN
        bot = TestBot(pg.conversation, f"pg-alerts-{tmp_path.name}")
        await subscribe(pg, bot, "Pilsen", "Cicero")
        who = resident(pg, bot)
        subscriber = pg.subscriptions.get(who)
        assert subscriber is not None and set(subscriber.areas) == {"c31", "s-cicero"}
        await bot.press_payload("main_menu:more>@report_activity")
        await bot.press("Yes")
        ticket = pg.tickets.open_for(who)
        assert ticket is not None
        for tap in ("Report it here", "Their vehicles"):
            await bot.press(tap)
        await bot.say("Cicero")
        await bot.press("Skip")
        await bot.press("Earlier today")
        await bot.press("No")
        report = [r for r in pg.reports.queue() if r.ticket_id == ticket.id]
        assert [(r.area, r.what, r.when, r.ongoing) for r in report] == \
            [("s-cicero", ("vehicles",), "today", False)]
        await bot.say("Stop alerts")
        assert pg.subscriptions.get(who) is None
        await pg.residents.erase(who)


async def test_a_report_verified_and_its_alert_sent_are_counted_once_each(
        services: Services, bot: TestBot, user: str) -> None:
    """End to end for the transparency counts (issue 17): a resident's report, confirmed by
    a verifier, an alert from it approved by a second person and sent to a subscriber:
    one report counted as verified, one alert counted in its area and language."""
    import datetime as dt

    from bot.app import counters as c
    from bot.app.broadcast import for_services
    from bot.network.alerts import ALERT
    from bot.network.reports import CONFIRMED
    from bot.storage.db import utc_now

    today = dt.date.today()
    span = (today - dt.timedelta(days=2), today + dt.timedelta(days=2))
    before = {kind: dict(services.counters.totals(kind, *span, dimension=dim))
              for kind, dim in ((c.REPORTS, "outcome"), (c.ALERTS, "language"))}
    listener = TestBot(services.conversation, f"{user}-sub")
    await subscribe(services, listener, "Little Village")
    await bot.say("/lang en")
    await bot.press_payload("main_menu:more>@report_activity")
    await bot.press("Yes")
    ticket = services.tickets.open_for(resident(services, bot))
    assert ticket is not None
    await bot.press("Report it here")
    await bot.press("Agents")
    await bot.say("Little Village")
    await bot.press("Skip")
    await bot.press("Now")
    await bot.press("Yes")
    report = next(r for r in services.reports.queue() if r.ticket_id == ticket.id)
    services.reports.assign(report.id, "staff:dora", "staff:vic")
    services.reports.record(report.id, "staff:vic", CONFIRMED, "two vans on 26th")
    template = sorted(k for k in services.renderer.content.texts if k.startswith("alerts.template_"))[0]
    alert = services.alerts.draft("staff:dora", kind=ALERT, areas=("c30",), template=template,
                                  params={"what": "agents", "time": "14:30"},
                                  expires_at=utc_now() + dt.timedelta(hours=3), report_id=report.id,
                                  free_text={"en": "Two grey vans near the school"})
    alert = services.alerts.approve(alert.id, "staff:ben", can_dispatch=True)
    broadcaster = for_services(services, services.outbox)
    sent_texts: list[str] = []
    assert broadcaster.start(alert.id) >= 1
    for _ in range(50):  # what a sender does: claim, (send,) mark sent
        claimed = services.outbox.claim("test", 50)
        if not claimed:
            break
        for row in claimed:
            sent_texts.append(str(row.item.get("message", {}).get("text", "")))
            services.outbox.sent(row)
    after = {kind: dict(services.counters.totals(kind, *span, dimension=dim))
             for kind, dim in ((c.REPORTS, "outcome"), (c.ALERTS, "language"))}
    grew = {kind: {v: n - before[kind].get(v, 0) for v, n in after[kind].items()
                   if n != before[kind].get(v, 0)} for kind in after}
    assert grew == {c.REPORTS: {"verified": 1}, c.ALERTS: {"en": 1}}
    # The author's own words reach English readers marked as theirs, not as reviewed text.
    assert any(text(services, "alerts.staff_note", text="Two grey vans near the school") in t
               for t in sent_texts), sent_texts
    services.residents.erase_now(resident(services, listener))  # other tests count subscribers


def test_network_counts_name_areas_as_the_transparency_report_does(services: Services) -> None:
    """A report in "c30" is counted under "south_lawndale", the slug the report and the
    dashboard name (and merge, when small); never under the bare code."""
    import datetime as dt

    from bot.app import counters as c
    from bot.transparency.areas import AREAS, area_name

    services.counters.report("c30", report="agents", outcome="verified")
    services.counters.alert("c76", "es")
    today = dt.date.today()
    rows = services.counters.rows(today - dt.timedelta(days=2), today + dt.timedelta(days=2),
                                  [c.REPORTS, c.ALERTS])
    areas = {r.area for r in rows}
    assert {"south_lawndale", "ohare"} <= areas and not areas & {"c30", "c76"}
    assert area_name("south_lawndale") == "South Lawndale" and "ohare" in AREAS
