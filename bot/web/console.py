"""The staff console at /staff: server-rendered pages, live updates by server-sent events,
actions posted in place by the page's script (plain forms still work without it).

Every state change goes through the ticket service (bot.handoff.tickets) or the relay; the
console only reads, checks the session and the CSRF token, audits, and renders. No build
step: Jinja templates and one small script in bot/web/static.

An action posted by the script (header X-Console: fetch) answers JSON, and the page
re-reads its live parts: nothing reloads, so the alert sound stays armed after the first
click, and scroll position, focus and drafts survive.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import hmac
import io
import ipaddress
import json
import logging
import re
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable, Optional
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import (HTMLResponse, JSONResponse, RedirectResponse, Response,
                                 StreamingResponse)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from bot.core import actors
from bot.core.handoff import CHICAGO
from bot.core.languages import NATIVE_NAMES
from bot.handoff.queues import QUEUES, Filters, visible_queues
from bot.app.relay import MAX_REPLY, Relay
from bot.handoff.replies import as_the_bot_writes, canned_keys
from bot.handoff.staff import (ACTIONS, IDLE_MINUTES, AuditFilter, Session, Staff, StaffDirectory,
                               StaffError, TooManyAttempts)
from bot.handoff.tickets import (CLAIMED, CLOSED, MAX_ID, NOTE, URGENT, AlreadyClaimed, Ticket,
                                 TicketError, TicketEvent)
from bot.storage.db import utc_now
from bot.web.chat import ChatView, html_lang
from bot.web.i18n import CONSOLE_LANGUAGES, console_text, translator

if TYPE_CHECKING:
    from bot.app.services import Services

logger = logging.getLogger(__name__)

HERE = Path(__file__).parent
COOKIE, LOGIN_COOKIE = "kyr_staff", "kyr_login"
DISPOSITIONS = ("resolved", "referred to legal help", "rapid response sent",
                "no reply from resident", "information only", "other")
# Notices after an action travel as codes, so a link cannot put words of its own on a page.
NOTICES = {
    "undelivered": console_text("Not delivered: the reason is under the reply."),
    "closed": console_text("Closed. The resident is back with the bot."),
    "closed_untold": console_text("Closed, but the resident could not be told: open the ticket to see why."),
    "handed": console_text("Your tickets were handed over."),
}
POLL_SECONDS = 0.5  # how often the event stream looks for changes (any worker's)
STREAM_SECONDS = 300  # then the browser reconnects by itself (EventSource does)
CHECK_IN_SECONDS = 60  # an open page says "still here" (on-shift presence)
SESSION_CHECK_SECONDS = 5  # the stream notices an expired or ended session this fast
NEXT_PAGE = re.compile(r"/staff(/tickets/[0-9]{1,10}|/audit|/(reports|alerts)(/[0-9]{1,10})?"
                       r"|/alerts/new|/transparency)?")  # where login may return to
FETCH_HEADER = "x-console"
TYPING_EVERY = 4.0  # seconds between typing indicators of one ticket (Telegram's lasts ~5 s)
_typed: dict[int, float] = {}  # ticket id -> when its last typing indicator went out

templates = Environment(loader=FileSystemLoader(HERE / "templates"),
                        autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)


def chicago(value: dt.datetime, form: str = "%a %H:%M") -> str:
    """Times as the hotline lives them: Chicago time, the hours in contacts.yml too."""
    return value.astimezone(CHICAGO).strftime(form)


def waiting_for(value: dt.datetime) -> str:
    minutes = int((utc_now() - value).total_seconds() // 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h"


def iso(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).isoformat()


templates.filters["chicago"] = chicago
templates.filters["waiting_for"] = waiting_for
templates.filters["iso"] = iso
templates.filters["html_lang"] = html_lang
templates.filters["staff_name"] = actors.staff_name


def networks(spec: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """KYR_TRUSTED_PROXIES: addresses or networks ("127.0.0.1,10.0.0.0/8") of the reverse
    proxies whose X-Forwarded-For may be believed; a bad entry is skipped with a warning."""
    found = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        try:
            found.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            logger.warning("KYR_TRUSTED_PROXIES: '%s' is not an address or network; ignored", part)
    return found


def _within(address: str, nets: list[Any]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in nets)


def client_address(peer: str, forwarded: Optional[str], trusted: list[Any]) -> str:
    """The address a login attempt counts against: the peer, unless the peer is a trusted
    proxy; then the nearest address in X-Forwarded-For that is not itself a trusted proxy
    (entries further left are whatever the client wrote, so they are never believed)."""
    if not forwarded or not _within(peer, trusted):
        return peer
    hops = [h.strip() for h in forwarded.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _within(hop, trusted):
            return hop if _valid_ip(hop) else peer
    return peer


def _valid_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return False


def ticket_number(value: Optional[str]) -> Optional[int]:
    """A plain ticket number from a form or query, in range; None otherwise."""
    if not value or not value.isascii() or not value.isdigit() or len(value) > 10:
        return None
    number = int(value)
    return number if 0 < number <= MAX_ID else None


class Console:
    """The console's routes, bound to the running services (bot.app.services)."""

    def __init__(self, live: Any, env: Optional[dict[str, str]] = None) -> None:
        env = env or {}
        self.live = live  # bot.web.app.Live: the services once the server has loaded them
        self._staff: Optional[StaffDirectory] = None
        self.trusted = networks(env.get("KYR_TRUSTED_PROXIES", ""))
        try:
            minutes = int(env.get("KYR_STAFF_IDLE_MINUTES") or IDLE_MINUTES)
        except ValueError:
            logger.warning("KYR_STAFF_IDLE_MINUTES is not a number; using %d", IDLE_MINUTES)
            minutes = IDLE_MINUTES
        self.idle = dt.timedelta(minutes=max(5, minutes))
        # The rapid-response pages (reports, alerts) and quarter publishing share this
        # console's sessions, audit log and live stream (imported here: they import us).
        from bot.web.network import Network

        self.network = Network(self)

    # ---- wiring ----

    @property
    def services(self) -> "Services":
        if self.live.services is None:
            raise RuntimeError("the console was used before the services were loaded")
        return self.live.services

    # What the console reads through: one place to follow when the wiring changes.
    @property
    def tickets(self) -> Any:
        return self.services.tickets

    @property
    def renderer(self) -> Any:
        return self.services.renderer

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(self.services.languages)

    @property
    def staff(self) -> StaffDirectory:
        if self._staff is None:
            self._staff = StaffDirectory(self.services.db, idle=self.idle)
        return self._staff

    @property
    def relay(self) -> Relay:
        return self.services.relay

    def routes(self) -> list[Any]:
        return [
            Route("/staff", self.queue_page),
            Route("/staff/login", self.login_page, methods=["GET"]),
            Route("/staff/login", self.login, methods=["POST"]),
            Route("/staff/logout", self.logout_page, methods=["GET"]),
            Route("/staff/logout", self.logout, methods=["POST"]),
            Route("/staff/handover", self.logout_page, methods=["GET"]),
            Route("/staff/handover", self.handover, methods=["POST"]),
            Route("/staff/shift", self.shift, methods=["POST"]),
            Route("/staff/keepalive", self.keepalive, methods=["POST"]),
            Route("/staff/language", self.language, methods=["POST"]),
            Route("/staff/fragments/queue", self.queue_fragment),
            Route("/staff/fragments/tickets/{ticket_id:int}", self.transcript_fragment),
            Route("/staff/events", self.events),
            Route("/staff/tickets/{ticket_id:int}", self.ticket_page),
            *self.media_routes(),
            Route("/staff/tickets/{ticket_id:int}/{action}", self.ticket_action, methods=["POST"]),
            Route("/staff/audit", self.audit_page),
            Route("/staff/audit.csv", self.audit_csv),
            *self.network.routes(),  # reports, alerts and quarter publishing (bot/web/network.py)
            Mount("/staff/static", StaticFiles(directory=HERE / "static"), name="staff-static"),
        ]

    # ---- helpers ----

    def urgent_waiting(self) -> list[int]:
        return [t.id for t in self.tickets.queue() if t.priority == URGENT]

    def render(self, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        session = context.get("session")
        if session is not None and not name.startswith("_"):
            # What is already waiting when the page loads: only newer urgent tickets alert.
            context.setdefault("urgent_now", " ".join(map(str, self.urgent_waiting())))
            context.setdefault("on_shift", self.staff.is_on_shift(session.staff.name))
            context.setdefault("ends_in", self._ends_in(session))
            context.setdefault("nav", self.network.counts())
        context.setdefault("_", translator(self.ui_language(session)).gettext)
        context.setdefault("ui_lang", self.ui_language(session))
        context.setdefault("console_languages", [(c, NATIVE_NAMES.get(c, c)) for c in CONSOLE_LANGUAGES])
        return HTMLResponse(templates.get_template(name).render(**context), status_code=status,
                            headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY",
                                     "Referrer-Policy": "no-referrer",
                                     "Content-Security-Policy": "default-src 'self'; "
                                     "style-src 'self'; script-src 'self'; frame-ancestors 'none'"})

    def ui_language(self, session: Optional[Session]) -> str:
        lang = session.staff.console_language if session is not None else "en"
        return lang if lang in CONSOLE_LANGUAGES else "en"

    def say(self, session: Optional[Session], text: str) -> str:
        """A console text in the staff member's language (the console catalog)."""
        return translator(self.ui_language(session)).gettext(text)

    @staticmethod
    def _ends_in(session: Session) -> int:
        if session.ends_at is None:
            return 0
        return max(0, int((session.ends_at - utc_now()).total_seconds()))

    def session(self, request: Request, touch: bool = False) -> Optional[Session]:
        if self.live.services is None:
            return None
        return self.staff.session(request.cookies.get(COOKIE), touch=touch)

    def _secure(self, request: Request) -> bool:
        """https, or https at a trusted proxy in front (X-Forwarded-Proto from it only)."""
        if request.url.scheme == "https":
            return True
        peer = request.client.host if request.client else ""
        return _within(peer, self.trusted) and \
            request.headers.get("x-forwarded-proto", "").split(",")[-1].strip() == "https"

    @staticmethod
    def _fetch(request: Request) -> bool:
        return request.headers.get(FETCH_HEADER) == "fetch"

    def client(self, request: Request) -> str:
        peer = request.client.host if request.client else "unknown"
        return client_address(peer, request.headers.get("x-forwarded-for"), self.trusted)

    async def _form(self, request: Request, session: Optional[Session]) -> Optional[dict[str, str]]:
        """The posted form if its CSRF token matches the session's, else None."""
        form = await request.form()
        token = str(form.get("csrf") or "")
        expected = session.csrf if session is not None else request.cookies.get(LOGIN_COOKIE, "")
        if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
            return None
        return {k: str(v) for k, v in form.items()}

    def _forbidden(self, request: Request, session: Optional[Session] = None,
                   what: str = "The form has expired. Go back, reload the page and try again.") -> Response:
        text = self.say(session, what)
        if self._fetch(request):
            return JSONResponse({"ok": False, "message": text}, status_code=403)
        return self.render("message.html", 403, title=self.say(session, "Not allowed"), text=text,
                           session=None)

    def _not_found(self, request: Request, session: Optional[Session], text: str) -> Response:
        text = self.say(session, text)
        if self._fetch(request):
            return JSONResponse({"ok": False, "message": text, "gone": True}, status_code=404)
        return self.render("message.html", 404, title=self.say(session, "Not found"),
                           session=session, text=text)

    def topic_title(self, topic: str) -> str:
        flow = self.renderer.dialogue.flows.get(topic)
        return self.renderer.content.text(flow.title) if flow is not None else topic

    def view(self, ticket: Ticket, inbox: Any = None, handed: Optional[str] = None) -> dict[str, Any]:
        return {"t": ticket, "topic": self.topic_title(ticket.topic), "inbox": inbox, "handed": handed,
                "language": f"{NATIVE_NAMES.get(ticket.language, ticket.language)} ({ticket.language})"}

    def closed_by(self, ticket: Ticket) -> Optional[str]:
        """Who closed it, as staff should read it: "the resident (stopped waiting)" or a name."""
        if ticket.status != CLOSED:
            return None
        event = self.tickets.last_event(ticket.id, TicketEvent.CLOSED)
        actor = event[1] if event else ""
        return actors.staff_name(actor) if actors.is_staff(actor) else "the resident"

    # ---- login ----

    @staticmethod
    def _next(value: Optional[str]) -> str:
        return value if value and NEXT_PAGE.fullmatch(value) else "/staff"

    async def login_page(self, request: Request) -> Response:
        if self.session(request) is not None:
            return RedirectResponse(self._next(request.query_params.get("next")), 303)
        token = secrets.token_urlsafe(24)
        expired = request.query_params.get("expired") == "1"
        response = self.render("login.html", csrf=token, error=None, session=None,
                               next=self._next(request.query_params.get("next")), expired=expired)
        response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict", path="/staff",
                            secure=self._secure(request), max_age=3600)
        return response

    async def login(self, request: Request) -> Response:
        if self.live.services is None:
            return self.render("message.html", 503, title="Starting", text="The bot is starting.",
                               session=None)
        form = await self._form(request, None)
        if form is None:
            return self._forbidden(request)
        after = self._next(form.get("next"))
        try:
            staff = await asyncio.to_thread(self.staff.authenticate, form.get("name", ""),
                                            form.get("password", ""), self.client(request))
        except TooManyAttempts as exc:
            return self.render("login.html", 429, csrf=form["csrf"], error=str(exc), session=None,
                               next=after, expired=False)
        except StaffError as exc:
            return self.render("login.html", 401, csrf=form["csrf"], error=str(exc), session=None,
                               next=after, expired=False)
        token, _ = self.staff.start_session(staff)
        logger.info("staff login: %s", staff.name)
        response = RedirectResponse(after, 303)
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/staff",
                            secure=self._secure(request))
        response.delete_cookie(LOGIN_COOKIE, path="/staff")
        return response

    async def with_session(self, request: Request,
                           handler: Callable[[Session], Awaitable[Response]]) -> Response:
        """`handler(session)` for a signed-in person; else 401 (live parts, fetches) or the
        login page, which brings them back to the page they asked for."""
        live = request.url.path.startswith(("/staff/fragments", "/staff/events"))
        # Live updates do not count as activity: only what the person does keeps the
        # session from ending for inactivity.
        session = self.session(request, touch=not live)
        if session is None:
            if live or self._fetch(request):
                return JSONResponse({"ok": False, "signed_out": True,
                                     "message": "Your session ended. Log in again: your draft is kept."},
                                    status_code=401)
            page = re.match(r"/staff/(tickets|reports|alerts)/[0-9]{1,10}", request.url.path)
            where = page.group(0) if page else \
                request.url.path if NEXT_PAGE.fullmatch(request.url.path) else "/staff"
            return RedirectResponse("/staff/login?" + urlencode({"next": where, "expired": "1"})
                                    if where != "/staff" else "/staff/login", 303)
        return await handler(session)

    def _signed_in(handler: Callable[..., Awaitable[Response]]) -> Callable[..., Awaitable[Response]]:  # type: ignore[misc]  # noqa: N805
        async def wrapped(self: "Console", request: Request) -> Response:
            return await self.with_session(request, lambda session: handler(self, request, session))
        return wrapped

    @_signed_in
    async def logout_page(self, request: Request, session: Session) -> Response:
        """Logging out (or ending a shift) while holding tickets: say which, ask where they go."""
        held = self.tickets.tickets(self.tickets.held_by(session.staff.name))
        colleagues = [s for s in self.staff.on_shift() if s.name != session.staff.name] or \
            [s for s in self.staff.everyone() if s.name != session.staff.name]
        return self.render("logout.html", session=session, held=[self.view(t) for t in held],
                           colleagues=colleagues, leaving=request.url.path.endswith("logout"))

    async def logout(self, request: Request) -> Response:
        session = self.session(request)
        if session is None:
            return RedirectResponse("/staff/login", 303)
        form = await self._form(request, session)
        if form is None:
            return RedirectResponse("/staff/login", 303)
        held = self.tickets.held_by(session.staff.name)
        choice = form.get("tickets", "")
        if held and not choice:
            return RedirectResponse("/staff/logout", 303)  # ask first
        if held and choice != "keep":
            try:
                self._hand_over(session, choice, form.get("note", ""))
            except TicketError:  # a colleague who no longer exists: ask again
                return RedirectResponse("/staff/logout", 303)
        self.staff.end_session(request.cookies.get(COOKIE))
        response = RedirectResponse("/staff/login", 303)
        response.delete_cookie(COOKIE, path="/staff")
        return response

    def _hand_over(self, session: Session, choice: str, note: str) -> list[int]:
        colleague = self.staff.get(choice[3:]) if choice.startswith("to:") else None
        if choice.startswith("to:") and (colleague is None or colleague.name == session.staff.name):
            raise TicketError("choose a colleague to hand over to")
        target = colleague.name if colleague is not None else None
        moved = self.tickets.hand_over(session.staff.name, target, note)
        for ticket_id in moved:
            self.staff.audit(session.staff.name, ticket_id, "handed over",
                             f"to {target}" if target else "to the queue", session.visit)
        return moved

    @_signed_in
    async def handover(self, request: Request, session: Session) -> Response:
        form = await self._form(request, session)
        if form is None:
            return self._forbidden(request, session)
        try:
            self._hand_over(session, form.get("tickets", "queue"), form.get("note", ""))
        except TicketError as exc:
            return self.render("message.html", 409, title=self.say(session, "Not possible"),
                               session=session, text=str(exc), link="/staff/handover")
        return RedirectResponse("/staff?notice=handed", 303)

    @_signed_in
    async def shift(self, request: Request, session: Session) -> Response:
        form = await self._form(request, session)
        if form is None:
            return self._forbidden(request, session)
        on = form.get("on_shift") == "1"
        self.staff.set_on_shift(session.staff.name, on)
        if self._fetch(request):
            return JSONResponse({"ok": True, "on_shift": on})
        return RedirectResponse(self._next(form.get("back")), 303)

    @_signed_in
    async def language(self, request: Request, session: Session) -> Response:
        """The console's texts in this person's language, kept with their account."""
        form = await self._form(request, session)
        if form is None:
            return self._forbidden(request, session)
        lang = form.get("lang", "")
        if lang in CONSOLE_LANGUAGES:
            self.staff.set_console_language(session.staff.name, lang)
        return RedirectResponse(self._next(form.get("back")), 303)

    @_signed_in
    async def keepalive(self, request: Request, session: Session) -> Response:
        """'Stay signed in': the session's inactivity limit starts again (the POST touched it)."""
        if await self._form(request, session) is None:
            return self._forbidden(request, session)
        return JSONResponse({"ok": True, "ends_in": self._ends_in(session)})

    # ---- queues ----

    def _queue_context(self, request: Request, session: Session) -> dict[str, Any]:
        q = request.query_params
        me = session.staff
        queues = visible_queues(me)
        queue = QUEUES.get(q.get("queue") or "unassigned", QUEUES["unassigned"])
        if queue not in queues:
            queue = QUEUES["unassigned"]
        filters = Filters(q.get("language") or None, q.get("topic") or None, q.get("priority") or None)
        wanted = ticket_number(q.get("ticket"))
        found = queue.tickets(self.tickets, me, filters)
        waiting = QUEUES["unassigned"].tickets(self.tickets, me)
        mine = QUEUES["mine"].tickets(self.tickets, me)
        inbox = self.tickets.inbox(me.name, [t.id for t in found] + [t.id for t in mine])
        handed = self.tickets.handed_to(me.name)
        urgent_ids = " ".join(str(t.id) for t in waiting if t.priority == URGENT)
        counts = {"unassigned": len(waiting), "mine": len(mine),
                  "all": len(QUEUES["all"].tickets(self.tickets, me)) if me.supervises else 0}
        unread_mine = sum(1 for t in mine if inbox[t.id].unread)
        return {"session": session, "queues": queues, "queue": queue, "filters": filters,
                "tickets": [self.view(t, inbox.get(t.id), handed.get(t.id)) for t in found],
                "urgent_ids": urgent_ids, "urgent_now": urgent_ids,  # one queue read, not two
                "waiting": len(waiting), "counts": counts, "unread_mine": unread_mine,
                "needs_reply_mine": sum(1 for t in mine if inbox[t.id].needs_reply),
                "languages": self.languages, "names": NATIVE_NAMES, "wanted": wanted,
                "searched": q.get("ticket") is not None,
                "topics": sorted(self.renderer.dialogue.topic_flows),
                "topic_title": self.topic_title, "query": str(request.url.query)}

    @_signed_in
    async def queue_page(self, request: Request, session: Session) -> Response:
        wanted = request.query_params.get("ticket")
        if wanted is not None:  # "go to ticket": a number, in range, that exists
            number = ticket_number(wanted.strip().lstrip("#"))
            if number is not None and self._exists(number):
                return RedirectResponse(f"/staff/tickets/{number}", 303)
        return self.render("queue.html", notice=NOTICES.get(request.query_params.get("notice", "")),
                           **self._queue_context(request, session))

    def _exists(self, ticket_id: int) -> bool:
        try:
            self.tickets.get(ticket_id)
            return True
        except TicketError:
            return False

    @_signed_in
    async def queue_fragment(self, request: Request, session: Session) -> Response:
        return self.render("_queue.html", **self._queue_context(request, session))

    def live_data(self, session: Session) -> dict[str, Any]:
        """What every console page watches: the version, urgent waiting tickets, tickets
        passed to this person (and by whom), what needs their attention, and when the
        session ends."""
        tickets = self.tickets
        me = session.staff.name
        waiting = tickets.queue()
        mine = tickets.held_by(me)
        inbox = tickets.inbox(me, mine)
        needs = [i for i in mine if inbox[i].needs_reply]
        return {"version": tickets.version(), "urgent": [t.id for t in waiting if t.priority == URGENT],
                "waiting": len(waiting), "mine": mine, "needs_reply": needs,
                "unread": sum(s.unread for s in inbox.values()),
                "handed": {str(k): v for k, v in tickets.handed_to(me).items()},
                "attention": len(waiting) + len(needs), "ends_in": self._ends_in(session),
                **self.network.live_data()}

    def version(self) -> str:
        """What the live stream watches: the tickets, and the network's reports and alerts."""
        return f"{self.tickets.version()}:{self.network.version()}"

    @_signed_in
    async def events(self, request: Request, session: Session) -> Response:
        """Server-sent events: 'change' whenever a ticket, transcript, report or alert changed; with
        ?once=1, the same data once, as JSON (background tabs ask that every 10 s)."""
        cookie = request.cookies.get(COOKIE)
        if request.query_params.get("once"):
            self.staff.check_in(session.staff.name)
            return JSONResponse(self.live_data(session), headers={"Cache-Control": "no-store"})

        async def stream() -> AsyncIterator[bytes]:
            last = ""  # the version seen last (tickets and network)
            waited = 0.0
            current: Session = session
            sent_ends = current.ends_at
            yield b"retry: 2000\n\n"
            await asyncio.to_thread(self.staff.check_in, session.staff.name)
            while waited < STREAM_SECONDS and not await request.is_disconnected():
                if waited and waited % SESSION_CHECK_SECONDS == 0:
                    found = await asyncio.to_thread(self.staff.session, cookie)
                    if found is None:
                        yield b'event: signedout\ndata: {}\n\n'
                        return
                    current = found
                if waited and waited % CHECK_IN_SECONDS == 0:
                    await asyncio.to_thread(self.staff.check_in, session.staff.name)
                version = await asyncio.to_thread(self.version)
                # Also when the session's end moved (activity in another tab, or none here).
                moved = current.ends_at is not None and sent_ends is not None and \
                    abs((current.ends_at - sent_ends).total_seconds()) > 30
                if version != last or moved:
                    last, sent_ends = version, current.ends_at
                    data = json.dumps(await asyncio.to_thread(self.live_data, current))
                    yield f"event: change\ndata: {data}\n\n".encode()
                elif int(waited) % 15 == 0 and waited == int(waited):
                    yield b": keep-alive\n\n"
                await asyncio.sleep(POLL_SECONDS)
                waited += POLL_SECONDS

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    # ---- a ticket ----

    def _ticket_context(self, ticket: Ticket, session: Session) -> dict[str, Any]:
        renderer = self.renderer
        lang = ticket.language
        me = session.staff
        chat = ChatView(renderer, lang)
        canned = [{"key": key, "text": renderer.text(lang, key, isolated=False),
                   "english": renderer.text("en", key, isolated=False)}
                  for key in canned_keys(renderer)]
        others = [s for s in self.staff.everyone() if s.name != me.name or me.supervises]
        present = {s.name for s in self.staff.on_shift()}
        outside = bool(me.languages) and lang not in me.languages and lang != "en"
        speakers = sorted(s.name for s in self.staff.on_shift() if lang in s.languages and s.name != me.name)
        handed = self.tickets.handed_to(ticket.assignee or "").get(ticket.id) \
            if ticket.status == CLAIMED else None
        return {"session": session, **self.view(ticket, handed=handed),
                "before": chat.path(ticket.path), "path_titles": chat.path_titles(ticket.path),
                "bubbles": chat.transcript(self.tickets.messages(ticket.id),
                                           self.tickets.attachments(ticket.id)),
                "canned": canned, "lang_tag": html_lang(lang), "rtl": lang.split("_")[0] in ("ar", "fa", "he", "ur"),
                "dispositions": DISPOSITIONS, "closed_by": self.closed_by(ticket),
                "colleagues": [{"name": s.name, "languages": s.languages, "present": s.name in present}
                               for s in others],
                "mine": ticket.status == CLAIMED and ticket.assignee == me.name,
                "supervises": me.supervises, "outside": outside, "speakers": speakers,
                "language_name": NATIVE_NAMES.get(lang, lang),
                "undeliverable": self.relay.why_not_deliverable(ticket)}

    def _ticket(self, request: Request) -> Optional[Ticket]:
        try:
            return self.tickets.get(int(request.path_params["ticket_id"]))
        except TicketError:
            return None

    @_signed_in
    async def ticket_page(self, request: Request, session: Session) -> Response:
        ticket = self._ticket(request)
        if ticket is None:
            return self._not_found(request, session,
                                   "This ticket does not exist (the resident may have erased it).")
        # Audited once per visit: a refresh is not a new reading of the transcript.
        self.staff.audit_opening(session.staff.name, ticket.id, session.visit)
        self.tickets.mark_read(session.staff.name, ticket.id)
        return self.render("ticket.html", notice=NOTICES.get(request.query_params.get("notice", "")),
                           **self._ticket_context(ticket, session))

    @_signed_in
    async def transcript_fragment(self, request: Request, session: Session) -> Response:
        ticket = self._ticket(request)
        if ticket is None:
            return Response("gone", status_code=404)
        # Live refreshes of a page this person opened (and the audit log recorded); never a
        # way to read transcripts without leaving a trace.
        if not self.staff.has_opened(session.staff.name, ticket.id):
            return Response("open the ticket page first", status_code=403)
        self.tickets.mark_read(session.staff.name, ticket.id)
        return self.render("_ticket_live.html", **self._ticket_context(ticket, session))

    @_signed_in
    async def ticket_action(self, request: Request, session: Session) -> Response:
        form = await self._form(request, session)
        if form is None:
            return self._forbidden(request, session)
        ticket = self._ticket(request)
        if ticket is None:
            return self._not_found(request, session,
                                   "This ticket does not exist any more: the resident erased their data.")
        me = session.staff
        action = request.path_params["action"]
        back = f"/staff/tickets/{ticket.id}"
        notice, message, ok = "", "", True
        audit: Optional[tuple[str, Optional[str]]] = None
        try:
            if action == "claim":
                self.tickets.claim(ticket.id, me.name)
                audit, message = (CLAIMED, None), console_text("Claimed. You can reply now.")
            elif action == "unclaim":
                self.tickets.unclaim(ticket.id, me.name, me.supervises)
                audit, message = ("unclaimed", None), console_text("Back in the waiting queue.")
            elif action == "reply":
                self._still_yours(ticket, me)
                text = form.get("text", "").replace("\r\n", "\n").strip()[:MAX_REPLY]  # forms send CRLF
                outgoing = as_the_bot_writes(self.renderer, ticket.language, text)  # as the bot's own
                _, reason = await self.relay.reply(ticket.id, me.name, text, outgoing)
                notice = "undelivered" if reason else ""
                audit = ("replied", "not delivered" if reason else None)
                ok, message = reason is None, (f"Not delivered: {reason}" if reason else console_text("sending"))
            elif action == "note":
                text = form.get("text", "").strip()[:4000]
                if not text:
                    raise TicketError("the note is empty")
                if ticket.status == CLOSED:
                    raise TicketError(f"ticket {ticket.id} was closed by {self.closed_by(ticket)}")
                self.tickets.add_message(ticket.id, actors.staff(me.name), NOTE, text)
                audit, message = ("note", None), console_text("Note added.")
            elif action == "transfer":
                target = self.staff.get(form.get("to", ""))
                if target is None:
                    raise TicketError("choose a colleague to transfer to")
                self.tickets.transfer(ticket.id, me.name, target.name, me.supervises,
                                             note=form.get("note", ""))
                audit, message = ("transferred", f"to {target.name}"), f"Passed to {target.name}."
            elif action == "close":
                disposition = form.get("disposition", "")
                if disposition not in DISPOSITIONS:
                    raise TicketError("choose how the ticket ended")
                reason = await self.relay.close(ticket.id, me.name, disposition, me.supervises)
                notice = "closed_untold" if reason else "closed"
                audit, message = ("closed", disposition), NOTICES[notice]
                if not self._fetch(request):
                    self.staff.audit(me.name, ticket.id, "closed", disposition, session.visit)
                    return RedirectResponse("/staff?" + urlencode({"notice": notice}), 303)
            else:
                return self._not_found(request, session, "Unknown action.")
        except AlreadyClaimed as exc:
            return self._conflict(request, session, f"{exc}. Go back to the queue.", "/staff",
                                  "Already claimed")
        except TicketError as exc:
            return self._conflict(request, session, str(exc), back, "Not possible")
        if audit is not None:
            self.staff.audit(me.name, ticket.id, audit[0], audit[1], session.visit)
        if self._fetch(request):
            return JSONResponse({"ok": ok, "message": self.say(session, message),
                                 "ends_in": self._ends_in(session)})
        return RedirectResponse(back + ("?" + urlencode({"notice": notice}) if notice else ""), 303)

    # ---- photos, voice notes, typing (issue 16) ----

    def media_routes(self) -> list[Any]:
        """Before the generic action route, which would take /typing for an action."""
        return [Route("/staff/tickets/{ticket_id:int}/typing", self.typing, methods=["POST"]),
                Route("/staff/media/{media_id:int}", self.media_file)]

    @_signed_in
    async def media_file(self, request: Request, session: Session) -> Response:
        """A photo or voice note, opened for a signed-in person who opened its ticket:
        never cached, never framed or sniffed, and audited (once per visit and item)."""
        no_store = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
        found = self.tickets.attachment(int(request.path_params["media_id"]))
        if found is None:
            return Response("gone", status_code=404, headers=no_store)
        attachment, data = found
        if not self.staff.has_opened(session.staff.name, attachment.ticket_id):
            return Response("open the ticket page first", status_code=403, headers=no_store)
        self.staff.audit_media_view(session.staff.name, attachment.ticket_id, attachment.id,
                                    attachment.kind, session.visit)
        return Response(data, media_type=attachment.mime, headers={
            **no_store, "Content-Disposition": "inline", "Referrer-Policy": "no-referrer",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cross-Origin-Resource-Policy": "same-origin"})

    @_signed_in
    async def typing(self, request: Request, session: Session) -> Response:
        """The reply box is being typed in: "typing…" to the resident, at most every
        TYPING_EVERY seconds per ticket (the page sends no more often either)."""
        form = await self._form(request, session)
        if form is None:
            return self._forbidden(request, session)
        ticket_id = int(request.path_params["ticket_id"])
        now = asyncio.get_running_loop().time()
        if not 0 < ticket_id <= MAX_ID or now - _typed.get(ticket_id, -TYPING_EVERY) < TYPING_EVERY:
            return JSONResponse({"ok": True, "shown": False})
        try:
            shown = await self.relay.typing(ticket_id, session.staff.name)
        except TicketError:
            shown = False
        if shown:
            _typed[ticket_id] = now
            if len(_typed) > 10_000:  # bounded: forget the oldest half
                for key in sorted(_typed, key=_typed.__getitem__)[:5_000]:
                    del _typed[key]
        return JSONResponse({"ok": True, "shown": shown})

    def _still_yours(self, ticket: Ticket, me: Staff) -> None:
        """Before a reply: if the ticket changed hands or closed while they typed, say how."""
        current = self.tickets.get(ticket.id)
        if current.status == CLOSED:
            raise TicketError(f"ticket {ticket.id} was closed by {self.closed_by(current)} while you "
                              "were writing. Your draft is kept.")
        if current.status == CLAIMED and current.assignee != me.name:
            raise TicketError(f"ticket {ticket.id} is now with {current.assignee}. Your draft is kept.")

    def _conflict(self, request: Request, session: Session, text: str, link: str, title: str) -> Response:
        if self._fetch(request):
            return JSONResponse({"ok": False, "message": text}, status_code=409)
        return self.render("message.html", 409, title=self.say(session, title), session=session,
                           text=text, link=link)

    # ---- audit ----

    @property
    def audit_actions(self) -> tuple[str, ...]:
        return ACTIONS + self.network.audit_actions

    def _audit_filter(self, request: Request) -> AuditFilter:
        q = request.query_params

        def day(value: Optional[str], plus: int = 0) -> Optional[dt.datetime]:
            try:
                parsed = dt.date.fromisoformat(value or "")
            except ValueError:
                return None
            start = dt.datetime.combine(parsed, dt.time(), tzinfo=CHICAGO) + dt.timedelta(days=plus)
            return start.astimezone(dt.timezone.utc)

        action = q.get("action") or None
        return AuditFilter(staff=(q.get("staff") or "").strip()[:80] or None,
                           ticket_id=ticket_number(q.get("ticket")),
                           action=action if action in self.audit_actions else None,
                           since=day(q.get("from")), until=day(q.get("to"), 1))

    @_signed_in
    async def audit_page(self, request: Request, session: Session) -> Response:
        if not session.staff.supervises:
            return self.render("message.html", 403, title=self.say(session, "Not allowed"), session=session,
                               text=self.say(session, "Only supervisors can read the audit log."))
        where = self._audit_filter(request)
        entries = self.staff.audit_entries(where=where)
        return self.render("audit.html", session=session, entries=entries, where=where,
                           actions=self.audit_actions, q=request.query_params, query=str(request.url.query))

    @_signed_in
    async def audit_csv(self, request: Request, session: Session) -> Response:
        if not session.staff.supervises:
            return Response("only supervisors", status_code=403)
        where = self._audit_filter(request)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["at_utc", "at_chicago", "staff", "ticket", "action", "detail"])
        for e in self.staff.audit_entries(limit=100_000, where=where):
            writer.writerow([iso(e.at), chicago(e.at, "%Y-%m-%d %H:%M:%S"), _cell(e.staff),
                             e.ticket_id, e.action, _cell(e.detail or "")])
        self.staff.audit(session.staff.name, where.ticket_id or 0, "exported audit", None, session.visit)
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": "attachment; filename=kyr-audit.csv", "Cache-Control": "no-store"})


def _cell(value: str) -> str:
    """A spreadsheet must not run a cell as a formula ("=HYPERLINK(...)")."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value

