"""The network's console pages over HTTP: the reports queue, a report (assign a verifier,
record the outcome), drafting an alert with its preview, approval by a second person
only, the plan and progress from the broadcaster, all clear and withdrawal, publishing a
quarter; every refusal in words, every action in the audit log, unknown ids 404."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from bot.app.services import Services
from bot.core.languages import NATIVE_NAMES
from bot.handoff.staff import ROLES, StaffDirectory
from bot.app.broadcast import Plan, Progress
from bot.web.publish import digest, ended_quarters
from tests.web.conftest import Login, csrf_of

# The dispatcher role comes with the network (bot.handoff.staff); admins dispatch too.
DISPATCHER = "dispatcher" if "dispatcher" in ROLES else "admin"
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@dataclass
class FakeBroadcaster:
    """Stands in for bot.app.broadcast.Broadcaster: a fixed plan, the alerts it started."""

    started: list[int] = field(default_factory=list)
    sent: int = 5

    def plan(self, alert_id: int) -> Plan:
        return Plan(subscribers=12, by_channel={"telegram": 7, "whatsapp": 5},
                    whatsapp_templates=3, whatsapp_tier=250, over_tier=2)

    def start(self, alert_id: int) -> int:
        self.started.append(alert_id)
        return 12

    def progress(self, alert_id: int) -> Progress:
        return Progress(total=12, queued=12 - self.sent - 1, held=0, sent=self.sent, failed=1,
                        opted_out=0)


def wire(services: Services) -> None:
    """The network's services as bot.app.services builds them (until they are wired there)."""
    from bot.network.alerts import AlertService
    from bot.network.reports import ReportService

    secret = services.settings.secret_key()
    if getattr(services, "reports", None) is None:
        services.reports = ReportService(services.db, secret, services.counters)  # type: ignore[attr-defined]
    if getattr(services, "alerts", None) is None:
        services.alerts = AlertService(services.db, secret)  # type: ignore[attr-defined]


# Until content/alerts.yml lands (branch resident): templates of the same shape.
STAND_IN_TEMPLATES = {
    "alerts.template_agents": "Alert for {area}: immigration agents were seen at {time}. "
                              "This alert expires at {expires}.",
    "alerts.template_all_clear": "All clear for {area} at {time}.",
    "alerts.template_correction": "Correction for {area} at {time}: disregard the earlier alert.",
}


@pytest.fixture
def network(app, services: Services, monkeypatch: pytest.MonkeyPatch) -> FakeBroadcaster:  # type: ignore[no-untyped-def]
    wire(services)
    texts = services.renderer.content.texts
    if not any(k.startswith("alerts.template_") for k in texts):
        from bot.core.content import Text

        for key, text in STAND_IN_TEMPLATES.items():
            monkeypatch.setitem(texts, key, Text(key, text, False, (), "content/alerts.yml", 1, None))
    fake = FakeBroadcaster()
    console = next(r for r in app.routes if getattr(r, "path", "") == "/staff").endpoint.__self__
    console.network.broadcaster = fake
    return fake


def file_report(services: Services, area: str = "c24", ongoing: bool = True) -> int:
    report = services.reports.file(  # type: ignore[attr-defined]
        area=area, what=("agents", "vehicles"), when="now", ongoing=ongoing, language="es",
        channel="telegram", cross_streets="18th & Blue Island")
    return int(report.id)


async def post(client: httpx.AsyncClient, url: str, page: str, fetch: bool = False,
               **data: Any) -> httpx.Response:
    form = (await client.get(page)).text
    headers = {"X-Console": "fetch"} if fetch else {}
    return await client.post(url, data={"csrf": csrf_of(form), **data}, headers=headers)


async def confirmed(services: Services, login: Login) -> tuple[int, httpx.AsyncClient]:
    """A report a dispatcher sent someone to and that was confirmed: (id, the dispatcher)."""
    report_id = file_report(services)
    dispatcher = await login(DISPATCHER, name=f"disp-{report_id}")
    page = f"/staff/reports/{report_id}"
    assert (await post(dispatcher, f"{page}/assign", page, verifier=f"disp-{report_id}")).status_code == 303
    assert (await post(dispatcher, f"{page}/record", page, outcome="confirmed",
                       note="two vans at the corner")).status_code == 303
    return report_id, dispatcher


async def drafted(services: Services, login: Login) -> tuple[int, httpx.AsyncClient]:
    report_id, author = await confirmed(services, login)
    page = f"/staff/alerts/new?report={report_id}"
    saved = await post(author, "/staff/alerts/new", page, report=str(report_id), kind="alert",
                       drafting="1", area="c24", template=_first_template(services), time="14:30",
                       hours="2")
    assert saved.status_code == 303, saved.text
    return int(saved.headers["location"].rsplit("/", 1)[1]), author


def _first_template(services: Services) -> str:
    keys = [k for k in services.renderer.content.texts if k.startswith("alerts.template_")]
    if not keys:
        pytest.skip("no alert templates in the content yet (content/alerts.yml, branch resident)")
    return keys[0]


# ---- navigation ----

async def test_sections_are_tickets_reports_alerts_and_transparency_for_admins(network, login: Login) -> None:  # type: ignore[no-untyped-def]
    staff = await login("staff")
    html = (await staff.get("/staff")).text
    nav = re.search(r'<nav aria-label="Sections".*?</nav>', html, re.S)
    assert nav is not None
    assert [m for m in re.findall(r">(Tickets|Reports|Alerts|Transparency|Audit log)\b", nav.group(0))] == \
        ["Tickets", "Reports", "Alerts"]
    admin = await login("admin")
    nav_admin = re.search(r'<nav aria-label="Sections".*?</nav>', (await admin.get("/staff")).text, re.S)
    assert nav_admin is not None and "Transparency" in nav_admin.group(0) and "Audit log" in nav_admin.group(0)


# ---- reports ----

async def test_the_queue_shows_waiting_reports_first_and_updates_with_the_version(
        network, services: Services, login: Login) -> None:  # type: ignore[no-untyped-def]
    staff = await login("staff")
    before = (await staff.get("/staff/events?once=1")).json()
    report_id = file_report(services)
    page = (await staff.get("/staff/reports")).text
    waiting, decided = page.split('id="decided-h"')
    assert f'data-report="{report_id}"' in waiting and "West Town" in waiting
    after = (await staff.get("/staff/events?once=1")).json()
    assert after["reports_waiting"] == before["reports_waiting"] + 1
    fragment = (await staff.get("/staff/fragments/reports")).text
    assert f'data-report="{report_id}"' in fragment and "<html" not in fragment
    version = services.reports.version()  # type: ignore[attr-defined]
    console = network  # the version the stream watches moves with the report
    assert version > 0 and console is not None


async def test_a_report_page_shows_the_cross_streets_and_its_opening_is_audited(
        network, services: Services, login: Login) -> None:  # type: ignore[no-untyped-def]
    report_id = file_report(services)
    staff = await login("staff", name="rosa-view")
    page = await staff.get(f"/staff/reports/{report_id}")
    assert page.status_code == 200
    assert "18th &amp; Blue Island" in page.text and "24 West Town" in page.text
    assert "agents, vehicles" in page.text and "filed by the resident" in page.text
    supervisor = await login("supervisor")
    log = (await supervisor.get("/staff/audit?staff=rosa-view&action=opened+report")).text
    assert f"report {report_id}" in log


async def test_only_a_dispatcher_assigns_and_a_stale_page_is_told_who_did(
        network, services: Services, login: Login) -> None:  # type: ignore[no-untyped-def]
    report_id = file_report(services)
    page = f"/staff/reports/{report_id}"
    staff = await login("staff", name="sam-plain")
    refused = await post(staff, f"{page}/assign", page, fetch=True, verifier="sam-plain")
    assert refused.status_code == 403 and "Only a dispatcher" in refused.json()["message"]
    assert services.reports.get(report_id).state == "new"  # type: ignore[attr-defined]
    one = await login(DISPATCHER, name="dina-one")
    two = await login(DISPATCHER, name="dino-two")
    stale = (await two.get(page)).text  # the second dispatcher's page, before the first acts
    assert (await post(one, f"{page}/assign", page, verifier="sam-plain")).status_code == 303
    assert services.reports.get(report_id).verifier == "sam-plain"  # type: ignore[attr-defined]
    lost = await two.post(f"{page}/assign", data={"csrf": csrf_of(stale), "verifier": "dino-two"},
                          headers={"X-Console": "fetch"})
    assert lost.status_code == 409
    assert "being verified by sam-plain" in lost.json()["message"] and "dina-one" in lost.json()["message"]
    assert 'name="replacing" value="sam-plain"' in (await two.get(page)).text  # the page now names sam
    again = await post(two, f"{page}/assign", page, verifier="dino-two", replacing="sam-plain")
    assert again.status_code == 303, again.text
    supervisor = await login("supervisor")
    log = (await supervisor.get("/staff/audit?action=assigned+verifier")).text
    assert f"report {report_id} to sam-plain" in log and f"report {report_id} to dino-two" in log


async def test_the_verifier_or_a_dispatcher_records_the_outcome_once(
        network, services: Services, login: Login) -> None:  # type: ignore[no-untyped-def]
    report_id = file_report(services)
    page = f"/staff/reports/{report_id}"
    dispatcher = await login(DISPATCHER, name="dora-d")
    verifier = await login("staff", name="vic-verifier")
    other = await login("staff", name="otto-other")
    await post(dispatcher, f"{page}/assign", page, verifier="vic-verifier")
    assert 'id="record"' not in (await other.get(page)).text
    refused = await post(other, f"{page}/record", page, fetch=True, outcome="confirmed")
    assert refused.status_code == 403
    done = await post(verifier, f"{page}/record", page, fetch=True, outcome="not_confirmed",
                      note="nobody there at 14:10")
    assert done.status_code == 200 and done.json()["ok"]
    assert "not confirmed" in done.json()["message"]
    report = services.reports.get(report_id)  # type: ignore[attr-defined]
    assert report.state == "not_confirmed" and report.outcome_note == "nobody there at 14:10"
    late = await post(dispatcher, f"{page}/record", page, fetch=True, outcome="confirmed")
    assert late.status_code == 409 and "not_confirmed" in late.json()["message"]
    bad = await post(dispatcher, f"{page}/record", page, fetch=True, outcome="maybe")
    assert bad.status_code == 409
    shown = (await verifier.get(page)).text
    assert "nobody there at 14:10" in shown and 'id="draft-alert"' not in shown


async def test_unknown_and_out_of_range_ids_are_404(network, login: Login) -> None:  # type: ignore[no-untyped-def]
    client = await login(DISPATCHER)
    for url in ("/staff/reports/0", "/staff/reports/999999", f"/staff/reports/{10**30}",
                "/staff/alerts/0", f"/staff/alerts/{10**30}", "/staff/alerts/987654",
                f"/staff/alerts/new?report={10**30}", "/staff/alerts/new?report=abc",
                "/staff/alerts/new?kind=all_clear&parent=999999"):
        assert (await client.get(url)).status_code == 404, url
    for url in (f"/staff/fragments/reports/{10**30}", "/staff/fragments/alerts/999999"):
        assert (await client.get(url)).status_code == 404, url
    admin = await login("admin")
    for url in ("/staff/transparency/2026Q5", "/staff/transparency/26Q1", "/staff/transparency/2026Q5/report.html"):
        assert (await admin.get(url)).status_code == 404, url
    page = (await client.get("/staff/reports")).text
    for url in (f"/staff/reports/{10**30}/assign", "/staff/alerts/999999/approve"):
        answer = await client.post(url, data={"csrf": csrf_of(page)})
        assert answer.status_code == 404, url


async def test_network_pages_need_a_session_and_the_csrf_token(network, services: Services, login: Login, app) -> None:  # type: ignore[no-untyped-def]
    report_id = file_report(services)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console.test") as bare:
        gone = await bare.get(f"/staff/reports/{report_id}")
        assert gone.status_code == 303
        assert gone.headers["location"] == f"/staff/login?next=%2Fstaff%2Freports%2F{report_id}&expired=1"
        assert (await bare.get("/staff/fragments/reports")).status_code == 401
    client = await login(DISPATCHER)
    forged = await client.post(f"/staff/reports/{report_id}/assign", data={"csrf": "x", "verifier": "a"})
    assert forged.status_code == 403
    assert services.reports.get(report_id).state == "new"  # type: ignore[attr-defined]


# ---- alerts ----

async def test_drafting_from_a_confirmed_report_previews_every_live_language(
        network, services: Services, login: Login) -> None:  # type: ignore[no-untyped-def]
    template = _first_template(services)
    staff = await login("staff")
    report_id, dispatcher = await confirmed(services, login)
    assert (await staff.get(f"/staff/alerts/new?report={report_id}")).status_code == 403
    page = await dispatcher.get(f"/staff/alerts/new?report={report_id}")
    assert page.status_code == 200
    assert 'value="c24" checked' in page.text  # the report's area, prefilled
    assert f'value="{template}" checked' in page.text
    for lang in services.languages:  # each language, in its own words or told it gets the English
        assert f'data-lang="{lang}"' in page.text or NATIVE_NAMES[lang] in page.text, lang
    english = services.renderer.text("en", template, area="24 West Town", time="14:30",
                                     expires="x").split("x")[0]
    assert english[:30] in page.text.replace("&#39;", "'")
    unconfirmed = file_report(services)
    refused = await dispatcher.get(f"/staff/alerts/new?report={unconfirmed}")
    assert refused.status_code == 409 and "only a confirmed report" in refused.text
    preview = await post(dispatcher, "/staff/alerts/new", f"/staff/alerts/new?report={report_id}",
                         report=str(report_id), kind="alert", drafting="1", area="c24",
                         more="Pilsen, 99", template=template, time="09:15", hours="3",
                         preview="1")
    assert preview.status_code == 200 and "Lower West Side" in preview.text and "09:15" in preview.text
    none = await post(dispatcher, "/staff/alerts/new", f"/staff/alerts/new?report={report_id}",
                      report=str(report_id), kind="alert", drafting="1", template=template)
    assert none.status_code == 400 and "at least one area" in none.text


async def test_a_translated_wording_is_previewed_in_its_language_right_to_left_included(
        network, services: Services, login: Login, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    template = _first_template(services)
    catalogs = services.renderer.catalogs
    words = {"es": "Alerta para {area} a las {time}.", "ar": "تنبيه لمنطقة {area} الساعة {time}."}
    real_translate, real_has = catalogs.translate, catalogs.has_translation
    monkeypatch.setattr(catalogs, "translate", lambda lang, key, source: words[lang]
                        if key == template and lang in words else real_translate(lang, key, source))
    monkeypatch.setattr(catalogs, "has_translation", lambda lang, key, source: (
        key == template and lang in words) or real_has(lang, key, source))
    report_id, dispatcher = await confirmed(services, login)
    page = (await dispatcher.get(f"/staff/alerts/new?report={report_id}&time=07:05")).text
    assert 'lang="es" dir="auto">Alerta para 24 West Town a las 07:05.' in page
    assert 'lang="ar" dir="rtl">' in page and "West Town" in page.split('data-lang="ar"')[1][:400]
    assert 'data-lang="en"' in page


async def test_the_author_cannot_approve_and_a_second_dispatcher_can(
        network, services: Services, login: Login) -> None:  # type: ignore[no-untyped-def]
    alert_id, author = await drafted(services, login)
    page = f"/staff/alerts/{alert_id}"
    mine = (await author.get(page)).text
    assert re.search(r'id="approve" class="primary" disabled', mine)
    assert "You drafted this alert" in mine
    assert "12 subscribers" in mine and 'id="tier-warning"' in mine and "250" in mine
    self_approval = await post(author, f"{page}/approve", page, fetch=True)
    assert self_approval.status_code == 403 and "You drafted this alert" in self_approval.json()["message"]
    plain = await login("staff", name="pat-plain")
    assert "Only a dispatcher can approve" in (await plain.get(page)).text
    not_dispatcher = await post(plain, f"{page}/approve", page, fetch=True)
    assert not_dispatcher.status_code == 403
    assert services.alerts.get(alert_id).state == "draft"  # type: ignore[attr-defined]
    assert network.started == []
    second = await login(DISPATCHER, name="ines-second")
    assert re.search(r'id="approve" class="primary">', (await second.get(page)).text)
    approved = await post(second, f"{page}/approve", page, fetch=True)
    assert approved.status_code == 200 and "sending to 12" in approved.json()["message"]
    alert = services.alerts.get(alert_id)  # type: ignore[attr-defined]
    assert alert.state == "approved" and alert.approved_by == "staff:ines-second"
    assert network.started == [alert_id]
    live = (await second.get(f"/staff/fragments/alerts/{alert_id}")).text
    assert 'data-count="sent">5<' in live and 'data-polling="1"' in live
    network.sent = 11
    assert 'data-count="sent">11<' in (await second.get(f"/staff/fragments/alerts/{alert_id}")).text
    twice = await post(second, f"{page}/approve", page, fetch=True)
    assert twice.status_code == 409 and "only a draft can be approved" in twice.json()["message"]
    supervisor = await login("supervisor")
    log = (await supervisor.get("/staff/audit")).text
    for line in (f"alert {alert_id} (alert) in c24", f"alert {alert_id}, drafted by {author_name(alert)}",
                 f"alert {alert_id}: sending started"):
        assert line in log, line


def author_name(alert: Any) -> str:
    return str(alert.drafted_by).split(":", 1)[1]


async def test_all_clear_follows_a_sent_alert_and_a_draft_can_be_withdrawn(
        network, services: Services, login: Login) -> None:  # type: ignore[no-untyped-def]
    alert_id, author = await drafted(services, login)
    page = f"/staff/alerts/{alert_id}"
    early = await author.get(f"/staff/alerts/new?kind=all_clear&parent={alert_id}")
    assert early.status_code == 409 and "never approved" in early.text
    second = await login(DISPATCHER)
    await post(second, f"{page}/approve", page)
    shown = (await author.get(page)).text
    assert 'id="all-clear"' in shown and 'id="correction"' in shown
    form = await author.get(f"/staff/alerts/new?kind=all_clear&parent={alert_id}")
    assert form.status_code == 200 and 'value="c24" checked' in form.text
    templates = [k for k in services.renderer.content.texts if k.startswith("alerts.template_")]
    clear_template = next((k for k in templates if "all_clear" in k), templates[0])
    assert f'value="{clear_template}" checked' in form.text
    saved = await post(author, "/staff/alerts/new", f"/staff/alerts/new?kind=all_clear&parent={alert_id}",
                       kind="all_clear", parent=str(alert_id), drafting="1", area="c24",
                       template=clear_template, time="16:00", hours="1")
    assert saved.status_code == 303
    clear_id = int(saved.headers["location"].rsplit("/", 1)[1])
    clear = services.alerts.get(clear_id)  # type: ignore[attr-defined]
    assert clear.kind == "all_clear" and clear.parent_id == alert_id
    assert f'href="/staff/alerts/{clear_id}"' in (await author.get(page)).text
    outsider = await login("staff")
    refused = await post(outsider, f"/staff/alerts/{clear_id}/withdraw", f"/staff/alerts/{clear_id}", fetch=True)
    assert refused.status_code == 403
    withdrawn = await post(author, f"/staff/alerts/{clear_id}/withdraw", f"/staff/alerts/{clear_id}", fetch=True)
    assert withdrawn.status_code == 200
    assert services.alerts.get(clear_id).state == "withdrawn"  # type: ignore[attr-defined]
    again = await post(author, f"/staff/alerts/{clear_id}/withdraw", f"/staff/alerts/{clear_id}", fetch=True)
    assert again.status_code == 409 and "cannot be withdrawn" in again.json()["message"]
    listing = (await author.get("/staff/alerts")).text
    assert f'data-alert="{clear_id}"' in listing and "withdrawn" in listing


async def test_without_a_broadcaster_the_alert_page_says_so(network, app, services: Services, login: Login) -> None:  # type: ignore[no-untyped-def]
    console = next(r for r in app.routes if getattr(r, "path", "") == "/staff").endpoint.__self__
    console.network.broadcaster = None
    alert_id, author = await drafted(services, login)
    assert "broadcaster is not running" in (await author.get(f"/staff/alerts/{alert_id}")).text


# ---- the transparency report ----

async def test_only_admins_preview_and_publish_a_quarter(network, services: Services, login: Login) -> None:  # type: ignore[no-untyped-def]
    supervisor = await login("supervisor")
    assert (await supervisor.get("/staff/transparency")).status_code == 403
    assert (await supervisor.get("/staff/transparency/2026Q3")).status_code == 403
    admin = await login("admin", name="adaadmin")
    quarter = ended_quarters(__import__("datetime").date.today())[-1]  # the oldest offered
    index = (await admin.get("/staff/transparency")).text
    assert f'id="preview-{quarter}"' in index
    page = await admin.get(f"/staff/transparency/{quarter}")
    assert page.status_code == 200 and 'id="publish"' in page.text
    assert "<table>" in page.text
    full = await admin.get(f"/staff/transparency/{quarter}/report.html")
    assert full.status_code == 200 and "Transparency report</h1>" in full.text and quarter in full.text
    assert "default-src 'none'" in full.headers["content-security-policy"]
    stale = await admin.post(f"/staff/transparency/{quarter}", data={
        "csrf": csrf_of(page.text), "digest": "0" * 32})
    assert stale.status_code == 409 and "numbers changed since your preview" in stale.text
    assert services_store(services).published(quarter) is None
    published = await admin.post(f"/staff/transparency/{quarter}", data={
        "csrf": csrf_of(page.text), "digest": re.search(r'name="digest" value="(\w+)"', page.text).group(1)})  # type: ignore[union-attr]
    assert published.status_code == 303
    stored = services_store(services).published(quarter)
    assert stored is not None and stored.published_by == "adaadmin"
    assert digest(stored.data) == re.search(r'name="digest" value="(\w+)"', page.text).group(1)  # type: ignore[union-attr]
    again = await admin.get(f"/staff/transparency/{quarter}")
    assert "Published on" in again.text and 'name="replace"' in again.text
    twice = await admin.post(f"/staff/transparency/{quarter}", data={
        "csrf": csrf_of(again.text), "digest": re.search(r'name="digest" value="(\w+)"', again.text).group(1)})  # type: ignore[union-attr]
    assert twice.status_code == 409 and "already published" in twice.text
    log = (await admin.get("/staff/audit?staff=adaadmin")).text
    assert "previewed quarter" in log and "published quarter" in log


async def test_a_quarter_that_has_not_ended_cannot_be_published(network, login: Login) -> None:  # type: ignore[no-untyped-def]
    import datetime as dt

    today = dt.date.today()
    current = f"{today.year}Q{(today.month - 1) // 3 + 1}"
    admin = await login("admin")
    page = await admin.get(f"/staff/transparency/{current}")
    assert page.status_code == 200 and 'id="publish"' not in page.text and "has not ended" in page.text
    refused = await admin.post(f"/staff/transparency/{current}", data={
        "csrf": csrf_of(page.text), "digest": "x"})
    assert refused.status_code == 409


def services_store(services: Services) -> Any:
    from bot.transparency.store import TransparencyStore

    return TransparencyStore(services.db)


async def test_the_spanish_console_translates_the_network_pages(network, services: Services, login: Login,
                                                                 staff_directory: StaffDirectory) -> None:  # type: ignore[no-untyped-def]
    report_id = file_report(services)
    client = await login("staff", name="eva-es")
    staff_directory.set_console_language("eva-es", "es")
    html = (await client.get(f"/staff/reports/{report_id}")).text
    assert "Reportes" in html and "Calles" in html


async def test_send_now_starts_an_approved_alert_that_never_started(
        network, services: Services, login: Login) -> None:  # type: ignore[no-untyped-def]
    alert_id, author = await drafted(services, login)
    services.alerts.approve(alert_id, "staff:someone-else", can_dispatch=True)  # type: ignore[attr-defined]
    page = f"/staff/alerts/{alert_id}"
    assert 'id="send-now"' in (await author.get(page)).text
    plain = await login("staff")
    assert (await post(plain, f"{page}/send", page, fetch=True)).status_code == 403
    assert network.started == []
    sent = await post(author, f"{page}/send", page, fetch=True)
    assert sent.status_code == 200 and "sending to 12" in sent.json()["message"]
    assert network.started == [alert_id]


async def test_a_long_or_failing_start_is_said_in_words(
        network, services: Services, login: Login, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import time

    from bot.web import network as pages

    monkeypatch.setattr(pages, "START_WAIT", 0.2)
    real_start = network.start
    monkeypatch.setattr(network, "start", lambda alert_id: (time.sleep(0.6), real_start(alert_id))[1])
    alert_id, _author = await drafted(services, login)
    second = await login(DISPATCHER)
    page = f"/staff/alerts/{alert_id}"
    slow = await post(second, f"{page}/approve", page, fetch=True)
    assert slow.status_code == 200 and "sending has started" in slow.json()["message"]
    for _ in range(40):  # it goes on in the background
        if network.started:
            break
        await __import__("asyncio").sleep(0.05)
    assert network.started == [alert_id]

    def refuse(alert_id: int) -> int:
        raise RuntimeError("the outbox is full")

    monkeypatch.setattr(network, "start", refuse)
    other_id, _ = await drafted(services, login)
    page = f"/staff/alerts/{other_id}"
    failed = await post(second, f"{page}/approve", page, fetch=True)
    assert failed.status_code == 200
    assert "Sending did not start (the outbox is full): press Send now." in failed.json()["message"]
    assert services.alerts.get(other_id).state == "approved"  # type: ignore[attr-defined]
    assert 'id="send-now"' in (await second.get(page)).text
