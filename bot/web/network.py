"""The rapid-response network in the staff console: the reports queue, a report's page
(a dispatcher assigns a verifier, the verifier records what they saw), alerts drafted from
a confirmed report and approved by a second person, with the broadcast's plan shown
before approval and its progress after.

Every state change goes through the network's services (bot.network.reports and
bot.network.alerts: one writer each, events with actor and time); the broadcast through
the broadcaster (bot.app.broadcast). This module only checks the session, the CSRF token
and the person's rights, audits, and renders, as the ticket pages of bot/web/console.py do:
same sessions, same live stream, same in-place forms.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Iterable, Optional, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from bot.app.broadcast import Plan, Progress
from bot.core import actors
from bot.core import areas as places
from bot.core.handoff import CHICAGO
from bot.core.languages import NATIVE_NAMES
from bot.handoff.staff import Session, Staff
from bot.handoff.tickets import MAX_ID
from bot.storage.db import utc_now
from bot.web.chat import html_lang
from bot.web.i18n import console_text
from bot.web.publish import Publishing

if TYPE_CHECKING:
    from bot.web.console import Console

logger = logging.getLogger(__name__)

# Report and alert states and kinds, as bot.network names them (strings, so these pages
# render before the services land and in tests with fakes).
NEW, VERIFYING, CONFIRMED, NOT_CONFIRMED, UNABLE = (
    "new", "verifying", "confirmed", "not_confirmed", "unable_to_confirm")
OUTCOMES = (CONFIRMED, NOT_CONFIRMED, UNABLE)
ALERT, ALL_CLEAR, CORRECTION = "alert", "all_clear", "correction"
DRAFT, APPROVED, SENDING, SENT, WITHDRAWN = "draft", "approved", "sending", "sent", "withdrawn"
TEMPLATE_PREFIX = "alerts.template_"
EXPIRY_HOURS = (1, 2, 3, 4, 6, 8, 12, 24)
DEFAULT_EXPIRY_HOURS = 2
MAX_NOTE = 1000
MAX_FREE_TEXT = 600
START_WAIT = 3.0  # seconds an approval waits for the broadcast to be written, at most

# Audit actions of these pages (the audit log's action column holds 30 characters).
OPENED_REPORT, ASSIGNED, RECORDED = "opened report", "assigned verifier", "recorded outcome"
DRAFTED, APPROVED_ALERT, SENT_ALERT, WITHDREW = (
    "drafted alert", "approved alert", "sent alert", "withdrew alert")
AUDIT_ACTIONS = (OPENED_REPORT, ASSIGNED, RECORDED, DRAFTED, APPROVED_ALERT, SENT_ALERT, WITHDREW)

# Words that reach the templates as values: listed so the console catalog has them.
LABELS = {
    NEW: console_text("new"), VERIFYING: console_text("verifying"),
    CONFIRMED: console_text("confirmed"), NOT_CONFIRMED: console_text("not confirmed"),
    UNABLE: console_text("unable to confirm"),
    DRAFT: console_text("draft"), APPROVED: console_text("approved"),
    SENDING: console_text("sending"), SENT: console_text("sent"),
    WITHDRAWN: console_text("withdrawn"),
    ALERT: console_text("alert"), ALL_CLEAR: console_text("all clear"),
    CORRECTION: console_text("correction"),
    "agents": console_text("agents"), "vehicles": console_text("vehicles"),
    "arrest": console_text("an arrest"), "checkpoint": console_text("a checkpoint"),
    "other": console_text("other"),
    "now": console_text("now"), "last_hour": console_text("in the last hour"),
    "today": console_text("earlier today"), "earlier": console_text("before today"),
    # Events of a report or an alert, as the services name them.
    "filed": console_text("filed by the resident"), "assigned": console_text("verifier assigned"),
    "reassigned": console_text("verifier changed"), "drafted": console_text("drafted"),
}
AUDIT_WORDS = (console_text("opened report"), console_text("assigned verifier"),
               console_text("recorded outcome"), console_text("drafted alert"),
               console_text("approved alert"), console_text("sent alert"),
               console_text("withdrew alert"))
DISPATCH_ROLES = ("dispatcher", "admin")


def label(value: str) -> str:
    return LABELS.get(value, value.replace("_", " "))


def can_dispatch(staff: Staff) -> bool:
    """Dispatchers (and admins) assign verifiers and approve alerts; bot.handoff.staff
    says who they are (its `can_dispatch`), this is the fallback by role."""
    flag = getattr(staff, "can_dispatch", None)
    return bool(flag) if flag is not None else staff.role in DISPATCH_ROLES


def area_label(code: str) -> str:
    found = places.area(code)
    return found.label if found is not None else code


def area_names(codes: Iterable[str]) -> str:
    """Areas as residents pick and read them: "24 West Town, Cicero" (bot.core.alerts)."""
    return ", ".join(area_label(c) for c in codes)


def in_range(value: int) -> bool:
    return 0 < value <= MAX_ID


class BroadcastPort(Protocol):
    """The broadcaster as these pages use it (bot.app.broadcast.Broadcaster; tests pass a
    fake). `words(alert, lang)`, when it has it, is what the previews show."""

    def plan(self, alert_id: int) -> Plan: ...
    def start(self, alert_id: int) -> int: ...
    def progress(self, alert_id: int) -> Progress: ...


class Network:
    """The reports and alerts pages, bound to the console (its sessions, audit, render)."""

    def __init__(self, console: "Console") -> None:
        self.console = console
        self.publishing = Publishing(console)
        self._broadcaster: Optional[BroadcastPort] = None
        self._starting: set["asyncio.Future[int]"] = set()  # broadcasts starting in the background

    # ---- wiring ----

    @property
    def reports(self) -> Any:
        """bot.network.reports.ReportService, or None before it is wired."""
        live = self.console.live.services
        return getattr(live, "reports", None) if live is not None else None

    @property
    def alerts(self) -> Any:
        live = self.console.live.services
        return getattr(live, "alerts", None) if live is not None else None

    @property
    def broadcaster(self) -> Optional[BroadcastPort]:
        """The broadcaster the server runs (or the one a test set); None: not wired."""
        if self._broadcaster is not None:
            return self._broadcaster
        for holder in (self.console.live, self.console.live.services):
            found = getattr(holder, "broadcaster", None)
            if found is not None:
                return found  # type: ignore[no-any-return]
        return None

    @broadcaster.setter
    def broadcaster(self, value: Optional[BroadcastPort]) -> None:
        self._broadcaster = value

    @property
    def audit_actions(self) -> tuple[str, ...]:
        return AUDIT_ACTIONS + self.publishing.audit_actions

    def routes(self) -> list[Route]:
        return [
            Route("/staff/reports", self.reports_page),
            Route("/staff/fragments/reports", self.reports_fragment),
            Route("/staff/reports/{report_id:int}", self.report_page),
            Route("/staff/fragments/reports/{report_id:int}", self.report_fragment),
            Route("/staff/reports/{report_id:int}/{action}", self.report_action, methods=["POST"]),
            Route("/staff/alerts", self.alerts_page),
            Route("/staff/fragments/alerts", self.alerts_fragment),
            Route("/staff/alerts/new", self.draft_page, methods=["GET"]),
            Route("/staff/alerts/new", self.draft, methods=["POST"]),
            Route("/staff/alerts/{alert_id:int}", self.alert_page),
            Route("/staff/fragments/alerts/{alert_id:int}", self.alert_fragment),
            Route("/staff/alerts/{alert_id:int}/{action}", self.alert_action, methods=["POST"]),
            *self.publishing.routes(),
        ]

    def version(self) -> str:
        """Changes the live stream watches besides tickets (newest event ids)."""
        reports, alerts = self.reports, self.alerts
        return f"{reports.version() if reports else 0}:{alerts.version() if alerts else 0}"

    def live_data(self) -> dict[str, Any]:
        """The header's counts, refreshed with the rest: reports waiting, alerts to approve."""
        return self.counts()

    def counts(self) -> dict[str, int]:
        reports, alerts = self.reports, self.alerts
        return {"reports_waiting": len(reports.queue()) if reports else 0,
                "alerts_to_approve": len(alerts.list(limit=200, states=(DRAFT,))) if alerts else 0}

    # ---- shared ----

    async def _page(self, request: Request, handler: Callable[[Session], Awaitable[Response]],
                    needs: Any = True) -> Response:
        async def run(session: Session) -> Response:
            if needs is None:
                return self.console.render(
                    "message.html", 503, session=session, title=self.console.say(session, "Not available"),
                    text=self.console.say(session, "The rapid-response network is not set up on this server."))
            return await handler(session)
        return await self.console.with_session(request, run)

    def _render(self, name: str, session: Session, status: int = 200, **context: Any) -> Response:
        return self.console.render(name, status, session=session, labels=label,
                                   dispatcher=can_dispatch(session.staff), **context)

    def _answer(self, request: Request, session: Session, message: str, back: str) -> Response:
        """After an action: JSON for the page's script, a redirect for a plain form."""
        if self.console._fetch(request):
            return JSONResponse({"ok": True, "message": message,
                                 "ends_in": self.console._ends_in(session)})
        return RedirectResponse(back, 303)

    def _refuse(self, request: Request, session: Session, text: str, back: str,
                status: int = 409, title: str = "Not possible") -> Response:
        """A refusal in words (a race lost, a right missing): 409 or 403, never a crash."""
        if self.console._fetch(request):
            return JSONResponse({"ok": False, "message": text}, status_code=status)
        return self.console.render("message.html", status, title=self.console.say(session, title),
                                   session=session, text=text, link=back)

    def say(self, session: Session, text: str, **values: Any) -> str:
        """A console text in this person's language, with its %(name)s values filled."""
        said = self.console.say(session, text)
        return said % values if values else said

    def audit(self, session: Session, action: str, detail: str, ticket_id: Optional[int] = None) -> None:
        """The audit log: who did what to which report or alert (ticket 0 when none)."""
        self.console.staff.audit(session.staff.name, ticket_id or 0, action, detail, session.visit)

    def _events(self, rows: Iterable[tuple[str, str, dt.datetime]]) -> list[dict[str, Any]]:
        return [{"kind": kind, "actor": actors.staff_name(actor), "at": at}
                for kind, actor, at in rows]

    # ---- reports ----

    def _report_row(self, report: Any) -> dict[str, Any]:
        return {"r": report, "area": area_label(report.area),
                "what": [label(w) for w in report.what], "when": label(report.when)}

    def _reports_context(self, session: Session) -> dict[str, Any]:
        reports = self.reports
        waiting = reports.queue()
        waiting_ids = {r.id for r in waiting}
        decided = [r for r in reports.recent(limit=50) if r.id not in waiting_ids]
        return {"waiting": [self._report_row(r) for r in waiting],
                "decided": [self._report_row(r) for r in decided],
                "new_count": sum(r.state == NEW for r in waiting)}

    async def reports_page(self, request: Request) -> Response:
        async def page(session: Session) -> Response:
            return self._render("reports.html", session, **self._reports_context(session))
        return await self._page(request, page, self.reports)

    async def reports_fragment(self, request: Request) -> Response:
        async def page(session: Session) -> Response:
            return self._render("_reports.html", session, **self._reports_context(session))
        return await self._page(request, page, self.reports)

    def _report(self, request: Request) -> Any:
        number = int(request.path_params["report_id"])
        if not in_range(number):
            return None
        from bot.network.reports import ReportError

        try:
            return self.reports.get(number)
        except ReportError:
            return None

    def _report_context(self, report: Any, session: Session) -> dict[str, Any]:
        me = session.staff
        verifier = actors.staff_name(report.verifier) if report.verifier else None
        return {"r": report, **self._report_row(report), "verifier": verifier,
                "events": self._events(self.reports.events(report.id)),
                "colleagues": self.console.staff.everyone(),
                "outcomes": OUTCOMES, "can_assign": can_dispatch(me) and report.state in (NEW, VERIFYING),
                "can_record": report.state == VERIFYING and (verifier == me.name or can_dispatch(me)),
                "can_draft": can_dispatch(me) and report.state == CONFIRMED,
                "language_name": NATIVE_NAMES.get(report.language, report.language)}

    async def report_page(self, request: Request) -> Response:
        async def page(session: Session) -> Response:
            report = self._report(request)
            if report is None:
                return self.console._not_found(request, session, console_text("This report does not exist (it may have been purged)."))
            # Cross streets are on this page: each opening is in the audit log.
            self.audit(session, OPENED_REPORT, f"report {report.id}", report.ticket_id)
            return self._render("report.html", session, **self._report_context(report, session))
        return await self._page(request, page, self.reports)

    async def report_fragment(self, request: Request) -> Response:
        async def page(session: Session) -> Response:
            report = self._report(request)
            if report is None:
                return Response("gone", status_code=404)
            return self._render("_report_live.html", session, **self._report_context(report, session))
        return await self._page(request, page, self.reports)

    async def report_action(self, request: Request) -> Response:
        async def act(session: Session) -> Response:
            from bot.network.reports import ReportError

            form = await self.console._form(request, session)
            if form is None:
                return self.console._forbidden(request, session)
            report = self._report(request)
            if report is None:
                return self.console._not_found(request, session, console_text("This report does not exist (it may have been purged)."))
            me = session.staff
            back = f"/staff/reports/{report.id}"
            action = request.path_params["action"]
            try:
                if action == "assign":
                    if not can_dispatch(me):
                        return self._refuse(request, session, self.console.say(
                            session, "Only a dispatcher can assign a verifier."), back, 403, "Not allowed")
                    verifier = self.console.staff.get(form.get("verifier", ""))
                    if verifier is None:
                        raise ReportError("choose who goes to verify")
                    # The verifier this page showed: if another dispatcher sent someone
                    # meanwhile, the service says who instead of sending two people.
                    shown = form.get("replacing") or None
                    self.reports.assign(report.id, me.name, verifier.name, replacing=shown)
                    self.audit(session, ASSIGNED, f"report {report.id} to {verifier.name}", report.ticket_id)
                    message = self.say(session, "%(name)s verifies report %(id)s.",
                                       name=verifier.name, id=report.id)
                elif action == "record":
                    outcome = form.get("outcome", "")
                    if outcome not in OUTCOMES:
                        raise ReportError("choose what the verifier found")
                    current = self.reports.get(report.id)
                    mine = (current.verifier is not None
                            and actors.staff_name(current.verifier) == me.name)
                    if not (mine or can_dispatch(me)):
                        return self._refuse(request, session, self.console.say(
                            session, "Only the verifier or a dispatcher can record the outcome."),
                            back, 403, "Not allowed")
                    note = form.get("note", "").replace("\r\n", "\n").strip()[:MAX_NOTE]
                    self.reports.record(report.id, me.name, outcome, note, can_dispatch=can_dispatch(me))
                    self.audit(session, RECORDED, f"report {report.id}: {outcome}", report.ticket_id)
                    message = self.say(session, "Report %(id)s: %(outcome)s.", id=report.id,
                                       outcome=self.say(session, label(outcome)))
                else:
                    return self.console._not_found(request, session, console_text("Unknown action."))
            except ReportError as exc:
                return self._refuse(request, session, str(exc), back)
            return self._answer(request, session, message, back)
        return await self._page(request, act, self.reports)

    # ---- alerts: the list ----

    def _alert_row(self, alert: Any) -> dict[str, Any]:
        return {"a": alert, "areas": [area_label(c) for c in alert.areas],
                "drafted_by": actors.staff_name(alert.drafted_by),
                "approved_by": actors.staff_name(alert.approved_by) if alert.approved_by else None}

    def _alerts_context(self) -> dict[str, Any]:
        found = self.alerts.list(limit=100)
        return {"alerts_rows": [self._alert_row(a) for a in found],
                "to_approve": sum(a.state == DRAFT for a in found)}

    async def alerts_page(self, request: Request) -> Response:
        async def page(session: Session) -> Response:
            return self._render("alerts.html", session, **self._alerts_context())
        return await self._page(request, page, self.alerts)

    async def alerts_fragment(self, request: Request) -> Response:
        async def page(session: Session) -> Response:
            return self._render("_alerts.html", session, **self._alerts_context())
        return await self._page(request, page, self.alerts)

    # ---- alerts: drafting ----

    def templates_for(self, kind: str) -> list[str]:
        """The content's alert templates (`alerts.template_*`, in file order); those whose
        key names the kind ("all_clear", "correction") first for those kinds."""
        keys = [k for k in self.console.renderer.content.texts if k.startswith(TEMPLATE_PREFIX)]
        if kind == ALERT:
            return [k for k in keys if not any(s in k for s in (ALL_CLEAR, CORRECTION))] or keys
        return sorted(keys, key=lambda k: kind not in k)

    def words(self, alert: Any, lang: str) -> tuple[str, bool]:
        """The alert in `lang` exactly as the broadcaster sends it (its `words`), and whether
        the author's own text is already in it; without a broadcaster, the template alone."""
        words = getattr(self.broadcaster, "words", None)
        if callable(words):
            return str(words(alert, lang)), True
        params = {"time": alert.params.get("time", ""), **alert.params, "area": area_names(alert.areas),
                  "expires": alert.expires_at.astimezone(CHICAGO).strftime("%H:%M")}
        return self.console.renderer.text(lang, alert.template, **params), False

    def preview(self, alert: Any) -> dict[str, Any]:
        """The alert in English and in each live language, as the resident will read it:
        {"shown": one entry per language with its own wording (or words of the author's),
        "english_in": the names of the languages whose residents get the English}."""
        renderer = self.console.renderer
        free = alert.free_text or {}
        source = renderer.content.texts[alert.template].text
        shown, english_in = [], []
        for lang in ["en", *[c for c in self.console.languages if c != "en"]]:
            translated = lang == "en" or renderer.catalogs.has_translation(lang, alert.template, source)
            if not translated and not free.get(lang):
                english_in.append(NATIVE_NAMES.get(lang, lang))
                continue
            text, with_free = self.words(alert, lang)
            shown_lang = lang if translated else "en"  # the English, read as English
            shown.append({"lang": lang, "tag": html_lang(shown_lang), "name": NATIVE_NAMES.get(lang, lang),
                          "text": text, "untranslated": not translated,
                          "rtl": shown_lang.split("_")[0] in ("ar", "fa", "he", "ur"),
                          "free": "" if with_free else free.get(lang, ""), "free_tag": html_lang(lang)})
        return {"shown": shown, "english_in": english_in}

    def _basis(self, q: Any) -> tuple[str, Any, Any]:
        """What a draft starts from: (kind, report, parent alert); raises LookupError."""
        from bot.network.alerts import AlertError
        from bot.network.reports import ReportError

        kind = q.get("kind") or ALERT
        if kind not in (ALERT, ALL_CLEAR, CORRECTION):
            raise LookupError("unknown kind of alert")
        try:
            if kind == ALERT:
                number = _number(q.get("report"))
                if number is None:
                    raise LookupError("an alert is drafted from a confirmed report")
                return kind, self.reports.get(number), None
            number = _number(q.get("parent"))
            if number is None:
                raise LookupError("an all clear or a correction follows an alert")
            return kind, None, self.alerts.get(number)
        except (ReportError, AlertError):
            raise LookupError("no such report or alert") from None

    def _draft_context(self, session: Session, values: Any, kind: str, report: Any,
                       parent: Any, error: Optional[str] = None) -> dict[str, Any]:
        """The draft form and its preview; `alert` is the draft as it would be saved."""
        from bot.network.alerts import Alert

        now = utc_now()
        templates = self.templates_for(kind)
        template = values.get("template") if values.get("template") in templates else \
            (templates[0] if templates else None)
        codes = self._areas(values, report, parent)
        hours = _hours(values.get("hours"))
        time = (values.get("time") or "").strip()[:5] or now.astimezone(CHICAGO).strftime("%H:%M")
        expires_at = now + dt.timedelta(hours=hours)
        mine = [c for c in ("en", *session.staff.languages) if c in ("en", *self.console.languages)]
        free = {lang: (values.get(f"free_{lang}") or "").replace("\r\n", "\n").strip()[:MAX_FREE_TEXT]
                for lang in dict.fromkeys(mine)}
        what = report.what if report is not None else \
            [w for w in str(parent.params.get("what", "")).split(",") if w]
        params = {"time": time, "what": ",".join(what)}
        alert = Alert(id=0, kind=kind, state=DRAFT, areas=tuple(codes), template=template or "",
                      params=params, free_text={k: v for k, v in free.items() if v},
                      report_id=report.id if report is not None else None,
                      parent_id=parent.id if parent is not None else None, expires_at=expires_at,
                      drafted_by=actors.staff(session.staff.name), approved_by=None, created_at=now,
                      approved_at=None)
        renderer = self.console.renderer
        return {"kind": kind, "report": report, "parent": parent, "alert": alert,
                "templates": [(k, renderer.content.texts[k].text) for k in templates],
                "template": template, "codes": codes, "areas_shown": [(c, area_label(c)) for c in codes],
                "time": time, "hours": hours, "expiry_hours": EXPIRY_HOURS,
                "expires": expires_at.astimezone(CHICAGO).strftime("%H:%M"), "free": free,
                "free_names": {lang: NATIVE_NAMES.get(lang, lang) for lang in free},
                "preview": self.preview(alert) if template and codes else None, "error": error}

    def _areas(self, values: Any, report: Any, parent: Any) -> list[str]:
        """The areas ticked (prefilled from the report or the alert it follows), plus those
        typed by name or number in "more areas"."""
        ticked = values.getlist("area") if hasattr(values, "getlist") else values.get("area", [])
        if not ticked and not values.get("drafting"):
            ticked = [report.area] if report is not None else list(parent.areas) if parent is not None else []
        codes = [c for c in ticked if places.area(c) is not None]
        for part in str(values.get("more") or "").replace(";", ",").split(","):
            found = places.find(part) if part.strip() else None
            if found is not None:
                codes.append(found.code)
        return list(dict.fromkeys(codes))

    async def draft_page(self, request: Request) -> Response:
        async def page(session: Session) -> Response:
            if not can_dispatch(session.staff):
                return self._refuse(request, session, self.console.say(
                    session, "Only a dispatcher can draft an alert."), "/staff/alerts", 403, "Not allowed")
            try:
                kind, report, parent = self._basis(request.query_params)
            except LookupError as exc:
                return self.console._not_found(request, session, str(exc))
            refused = self._cannot_follow(kind, report, parent)
            if refused:
                return self._refuse(request, session, refused, "/staff/alerts")
            return self._render("alert_new.html", session, **self._draft_context(
                session, request.query_params, kind, report, parent))
        return await self._page(request, page, self.alerts)

    @staticmethod
    def _cannot_follow(kind: str, report: Any, parent: Any) -> Optional[str]:
        if kind == ALERT and report.state != CONFIRMED:
            return f"report {report.id} is {label(report.state)}: only a confirmed report is alerted"
        if kind != ALERT and parent.state not in (APPROVED, SENDING, SENT):
            return f"alert {parent.id} was never approved: there is nothing to follow up"
        return None

    async def draft(self, request: Request) -> Response:
        async def act(session: Session) -> Response:
            from bot.network.alerts import AlertError

            form = await request.form()
            token = str(form.get("csrf") or "")
            if not _same(token, session.csrf):
                return self.console._forbidden(request, session)
            if not can_dispatch(session.staff):
                return self._refuse(request, session, self.console.say(
                    session, "Only a dispatcher can draft an alert."), "/staff/alerts", 403, "Not allowed")
            try:
                kind, report, parent = self._basis(form)
            except LookupError as exc:
                return self.console._not_found(request, session, str(exc))
            context = self._draft_context(session, form, kind, report, parent)
            if form.get("preview") or not context["template"] or not context["codes"]:
                if not context["codes"]:
                    context["error"] = self.console.say(session, "Choose at least one area.")
                elif not context["template"]:
                    context["error"] = self.console.say(session, "There is no alert template in the content.")
                return self._render("alert_new.html", session, 200 if form.get("preview") else 400, **context)
            planned = context["alert"]
            try:
                alert = self.alerts.draft(
                    session.staff.name, kind=kind, areas=planned.areas, template=planned.template,
                    params=planned.params, expires_at=planned.expires_at,
                    report_id=planned.report_id, parent_id=planned.parent_id,
                    free_text=planned.free_text)
            except AlertError as exc:
                context["error"] = str(exc)
                return self._render("alert_new.html", session, 409, **context)
            self.audit(session, DRAFTED, f"alert {alert.id} ({kind}) in {','.join(alert.areas)}"[:120])
            return RedirectResponse(f"/staff/alerts/{alert.id}", 303)
        return await self._page(request, act, self.alerts)

    # ---- an alert ----

    def _alert(self, request: Request) -> Any:
        from bot.network.alerts import AlertError

        number = int(request.path_params["alert_id"])
        if not in_range(number):
            return None
        try:
            return self.alerts.get(number)
        except AlertError:
            return None

    def approval(self, alert: Any, me: Staff) -> tuple[bool, Optional[str]]:
        """Whether this person may approve, and if not, why (shown beside the button)."""
        if alert.state != DRAFT:
            return False, None
        if actors.staff_name(alert.drafted_by) == me.name:
            return False, console_text("You drafted this alert: a second person, a dispatcher, approves it.")
        if not can_dispatch(me):
            return False, console_text("Only a dispatcher can approve an alert.")
        return True, None

    def _alert_context(self, alert: Any, session: Session) -> dict[str, Any]:
        me = session.staff
        broadcaster = self.broadcaster
        plan = progress = None
        if broadcaster is not None:
            if alert.state == DRAFT:
                plan = broadcaster.plan(alert.id)
            elif alert.state in (APPROVED, SENDING, SENT):
                progress = broadcaster.progress(alert.id)
        may, why = self.approval(alert, me)
        children = self.alerts.followers(alert.id)
        return {"a": alert, **self._alert_row(alert), "plan": plan, "progress": progress,
                "wired": broadcaster is not None, "may_approve": may, "why_not": why,
                "may_withdraw": alert.state in (DRAFT, APPROVED) and (
                    actors.staff_name(alert.drafted_by) == me.name or can_dispatch(me)),
                "may_send": alert.state == APPROVED and can_dispatch(me) and broadcaster is not None,
                "may_follow": can_dispatch(me) and alert.state in (APPROVED, SENDING, SENT)
                and alert.kind == ALERT,
                "children": [self._alert_row(c) for c in children],
                "events": self._events(self.alerts.events(alert.id)),
                "preview": self.preview(alert) if alert.template in self.console.renderer.content.texts
                else None,
                "polling": alert.state in (APPROVED, SENDING)}

    async def alert_page(self, request: Request) -> Response:
        async def page(session: Session) -> Response:
            alert = self._alert(request)
            if alert is None:
                return self.console._not_found(request, session, console_text("This alert does not exist."))
            # The plan reads every subscriber of the areas: off the event loop.
            context = await asyncio.to_thread(self._alert_context, alert, session)
            return self._render("alert.html", session, **context)
        return await self._page(request, page, self.alerts)

    async def alert_fragment(self, request: Request) -> Response:
        async def page(session: Session) -> Response:
            alert = self._alert(request)
            if alert is None:
                return Response("gone", status_code=404)
            context = await asyncio.to_thread(self._alert_context, alert, session)
            return self._render("_alert_live.html", session, **context)
        return await self._page(request, page, self.alerts)

    async def alert_action(self, request: Request) -> Response:
        async def act(session: Session) -> Response:
            from bot.network.alerts import AlertError

            form = await self.console._form(request, session)
            if form is None:
                return self.console._forbidden(request, session)
            alert = self._alert(request)
            if alert is None:
                return self.console._not_found(request, session, console_text("This alert does not exist."))
            me = session.staff
            back = f"/staff/alerts/{alert.id}"
            action = request.path_params["action"]
            try:
                if action == "approve":
                    may, why = self.approval(alert, me)
                    if not may and why is not None:
                        return self._refuse(request, session, self.console.say(session, why), back,
                                            403, "Not allowed")
                    approved = self.alerts.approve(alert.id, me.name, can_dispatch(me))
                    self.audit(session, APPROVED_ALERT, f"alert {approved.id}, drafted by "
                               f"{actors.staff_name(approved.drafted_by)}")
                    message = self.say(session, "Alert %(id)s approved.", id=alert.id)
                    if self.broadcaster is not None:
                        message = await self._send(session, alert.id, message)
                elif action == "send":
                    # An approved alert whose sending never started (the server stopped
                    # between the approval and the start): a dispatcher starts it.
                    if not can_dispatch(me):
                        return self._refuse(request, session, self.console.say(
                            session, "Only a dispatcher can send an alert."), back, 403, "Not allowed")
                    if alert.state != APPROVED or self.broadcaster is None:
                        raise AlertError(f"alert {alert.id} is {alert.state}: only an approved alert "
                                         "that has not started is sent from here")
                    message = await self._send(session, alert.id, "")
                elif action == "withdraw":
                    if not (actors.staff_name(alert.drafted_by) == me.name or can_dispatch(me)):
                        return self._refuse(request, session, self.console.say(
                            session, "Only its author or a dispatcher can withdraw a draft."),
                            back, 403, "Not allowed")
                    self.alerts.withdraw(alert.id, me.name)
                    self.audit(session, WITHDREW, f"alert {alert.id}")
                    message = self.say(session, "Alert %(id)s withdrawn: it will not be sent.", id=alert.id)
                else:
                    return self.console._not_found(request, session, console_text("Unknown action."))
            except AlertError as exc:
                return self._refuse(request, session, str(exc), back)
            return self._answer(request, session, message, back)
        return await self._page(request, act, self.alerts)


    async def _send(self, session: Session, alert_id: int, approved: str) -> str:
        """Start the broadcast (bot.app.broadcast: idempotent, resumed by the server if
        this process stops). A short wait: the usual few hundred subscribers are written in
        it and the message says how many; a long list goes on in the background, and the
        counts on the page follow it."""
        broadcaster = self.broadcaster
        if broadcaster is None:  # callers check first; a server without one sends nothing
            raise RuntimeError("no broadcaster in this process")
        self.audit(session, SENT_ALERT, f"alert {alert_id}: sending started")
        task = asyncio.ensure_future(asyncio.to_thread(broadcaster.start, alert_id))
        self._starting.add(task)
        task.add_done_callback(self._started)
        try:
            written = await asyncio.wait_for(asyncio.shield(task), START_WAIT)
        except asyncio.TimeoutError:
            return self.say(session, "Alert %(id)s approved: sending has started; the counts below follow it.",
                            id=alert_id)
        except Exception as exc:  # the alert stays approved: "Send now" starts it again
            return f"{approved} " + self.say(session, "Sending did not start (%(reason)s): press Send now.",
                                             reason=str(exc) or type(exc).__name__)
        return self.say(session, "Alert %(id)s approved: sending to %(n)s subscribers.", id=alert_id,
                        n=written)

    def _started(self, task: "asyncio.Future[int]") -> None:
        self._starting.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("an alert's broadcast did not start (%s)", type(task.exception()).__name__)


def _number(value: Any) -> Optional[int]:
    text = str(value or "").strip().lstrip("#")
    if not text.isascii() or not text.isdigit() or len(text) > 10:
        return None
    number = int(text)
    return number if in_range(number) else None


def _hours(value: Any) -> int:
    try:
        hours = int(str(value))
    except ValueError:
        return DEFAULT_EXPIRY_HOURS
    return hours if hours in EXPIRY_HOURS else DEFAULT_EXPIRY_HOURS


def _same(token: str, expected: str) -> bool:
    import hmac

    return bool(token) and hmac.compare_digest(token.encode(), expected.encode())
