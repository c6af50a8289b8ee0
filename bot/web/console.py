"""The staff console at /staff: server-rendered pages, live updates by server-sent events.

Every state change goes through the ticket service (bot.handoff.tickets) or the relay; the
console only reads, checks the session and the CSRF token, and renders. No build step:
Jinja templates and one small script in bot/web/static.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import json
import logging
import secrets
from pathlib import Path
from urllib.parse import urlencode
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable, Optional

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import (HTMLResponse, JSONResponse, RedirectResponse, Response,
                                 StreamingResponse)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from bot.core.handoff import CHICAGO
from bot.core.languages import NATIVE_NAMES
from bot.handoff.queues import QUEUES, Filters, visible_queues
from bot.app.relay import Relay
from bot.handoff.staff import Session, StaffDirectory, StaffError, TooManyAttempts
from bot.handoff.tickets import URGENT, AlreadyClaimed, Ticket, TicketError
from bot.storage.db import utc_now

if TYPE_CHECKING:
    from bot.app.services import Services

logger = logging.getLogger(__name__)

HERE = Path(__file__).parent
COOKIE, LOGIN_COOKIE = "kyr_staff", "kyr_login"
DISPOSITIONS = ("resolved", "referred to legal help", "rapid response sent",
                "no reply from resident", "information only", "other")
CANNED_PREFIX = "canned."  # content/handoff.yml: editors add canned replies there, in order
# Notices after an action travel as codes, so a link cannot put words of its own on a page.
NOTICES = {
    "undelivered": "Not delivered: the reason is under the reply.",
    "closed": "Closed. The resident is back with the bot.",
    "closed_untold": "Closed, but the resident could not be told: open the ticket to see why.",
}
POLL_SECONDS = 0.5  # how often the event stream looks for changes (any worker's)
STREAM_SECONDS = 300  # then the browser reconnects by itself (EventSource does)

templates = Environment(loader=FileSystemLoader(HERE / "templates"),
                        autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)


def chicago(value: dt.datetime, form: str = "%a %H:%M") -> str:
    """Times as the hotline lives them: Chicago time, the hours in contacts.yml too."""
    return value.astimezone(CHICAGO).strftime(form)


def waiting_for(value: dt.datetime) -> str:
    minutes = int((utc_now() - value).total_seconds() // 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h"


templates.filters["chicago"] = chicago
templates.filters["waiting_for"] = waiting_for


class Console:
    """The console's routes, bound to the running services (bot.app.services)."""

    def __init__(self, live: Any) -> None:
        self.live = live  # bot.web.app.Live: the services once the server has loaded them
        self._staff: Optional[StaffDirectory] = None

    # ---- wiring ----

    @property
    def services(self) -> "Services":
        if self.live.services is None:
            raise RuntimeError("the console was used before the services were loaded")
        return self.live.services

    @property
    def staff(self) -> StaffDirectory:
        if self._staff is None:
            self._staff = StaffDirectory(self.services.db)
        return self._staff

    @property
    def relay(self) -> Relay:
        return self.services.relay

    def routes(self) -> list[Any]:
        return [
            Route("/staff", self.queue_page),
            Route("/staff/login", self.login_page, methods=["GET"]),
            Route("/staff/login", self.login, methods=["POST"]),
            Route("/staff/logout", self.logout, methods=["POST"]),
            Route("/staff/fragments/queue", self.queue_fragment),
            Route("/staff/fragments/tickets/{ticket_id:int}", self.transcript_fragment),
            Route("/staff/events", self.events),
            Route("/staff/tickets/{ticket_id:int}", self.ticket_page),
            Route("/staff/tickets/{ticket_id:int}/{action}", self.ticket_action, methods=["POST"]),
            Route("/staff/audit", self.audit_page),
            Mount("/staff/static", StaticFiles(directory=HERE / "static"), name="staff-static"),
        ]

    # ---- helpers ----

    def urgent_waiting(self) -> list[int]:
        return [t.id for t in self.services.tickets.queue() if t.priority == URGENT]

    def render(self, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        if context.get("session") is not None and not name.startswith("_"):
            # What is already waiting when the page loads: only newer urgent tickets alert.
            context.setdefault("urgent_now", " ".join(map(str, self.urgent_waiting())))
        return HTMLResponse(templates.get_template(name).render(**context), status_code=status,
                            headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY",
                                     "Referrer-Policy": "no-referrer",
                                     "Content-Security-Policy": "default-src 'self'; "
                                     "style-src 'self'; script-src 'self'; frame-ancestors 'none'"})

    def session(self, request: Request) -> Optional[Session]:
        if self.live.services is None:
            return None
        return self.staff.session(request.cookies.get(COOKIE))

    @staticmethod
    def _secure(request: Request) -> bool:
        return request.url.scheme == "https"

    async def _form(self, request: Request, session: Optional[Session]) -> Optional[dict[str, str]]:
        """The posted form if its CSRF token matches the session's, else None."""
        form = await request.form()
        token = str(form.get("csrf") or "")
        expected = session.csrf if session is not None else request.cookies.get(LOGIN_COOKIE, "")
        if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
            return None
        return {k: str(v) for k, v in form.items()}

    def _forbidden(self, what: str = "The form has expired. Go back, reload the page and try again.") -> HTMLResponse:
        return self.render("message.html", 403, title="Not allowed", text=what, session=None)

    def topic_title(self, topic: str) -> str:
        flow = self.services.renderer.dialogue.flows.get(topic)
        return self.services.renderer.content.text(flow.title) if flow is not None else topic

    def view(self, ticket: Ticket) -> dict[str, Any]:
        return {"t": ticket, "topic": self.topic_title(ticket.topic),
                "language": f"{NATIVE_NAMES.get(ticket.language, ticket.language)} ({ticket.language})"}

    # ---- login ----

    async def login_page(self, request: Request) -> Response:
        if self.session(request) is not None:
            return RedirectResponse("/staff", 303)
        token = secrets.token_urlsafe(24)
        response = self.render("login.html", csrf=token, error=None, session=None)
        response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict", path="/staff",
                            secure=self._secure(request), max_age=3600)
        return response

    async def login(self, request: Request) -> Response:
        if self.live.services is None:
            return self.render("message.html", 503, title="Starting", text="The bot is starting.",
                               session=None)
        form = await self._form(request, None)
        if form is None:
            return self._forbidden()
        client = request.client.host if request.client else "unknown"
        try:
            staff = await asyncio.to_thread(self.staff.authenticate, form.get("name", ""),
                                            form.get("password", ""), client)
        except TooManyAttempts as exc:
            return self.render("login.html", 429, csrf=form["csrf"], error=str(exc), session=None)
        except StaffError as exc:
            return self.render("login.html", 401, csrf=form["csrf"], error=str(exc), session=None)
        token, _ = self.staff.start_session(staff)
        logger.info("staff login: %s", staff.name)
        response = RedirectResponse("/staff", 303)
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/staff",
                            secure=self._secure(request))
        response.delete_cookie(LOGIN_COOKIE, path="/staff")
        return response

    async def logout(self, request: Request) -> Response:
        session = self.session(request)
        if session is None or await self._form(request, session) is None:
            return RedirectResponse("/staff/login", 303)
        self.staff.end_session(request.cookies.get(COOKIE))
        response = RedirectResponse("/staff/login", 303)
        response.delete_cookie(COOKIE, path="/staff")
        return response

    def _signed_in(handler: Callable[..., Awaitable[Response]]) -> Callable[..., Awaitable[Response]]:  # type: ignore[misc]  # noqa: N805
        async def wrapped(self: "Console", request: Request) -> Response:
            session = self.session(request)
            if session is None:
                if request.url.path.startswith(("/staff/fragments", "/staff/events")):
                    return Response("signed out", status_code=401)
                return RedirectResponse("/staff/login", 303)
            return await handler(self, request, session)
        return wrapped

    # ---- queues ----

    def _queue_context(self, request: Request, session: Session) -> dict[str, Any]:
        q = request.query_params
        queues = visible_queues(session.staff)
        queue = QUEUES.get(q.get("queue") or "unassigned", QUEUES["unassigned"])
        if queue not in queues:
            queue = QUEUES["unassigned"]
        filters = Filters(q.get("language") or None, q.get("topic") or None, q.get("priority") or None)
        found = queue.tickets(self.services.tickets, session.staff, filters)
        waiting = QUEUES["unassigned"].tickets(self.services.tickets, session.staff)
        urgent_ids = " ".join(str(t.id) for t in waiting if t.priority == "urgent")
        return {"session": session, "queues": queues, "queue": queue, "filters": filters,
                "tickets": [self.view(t) for t in found],
                "urgent_ids": urgent_ids, "urgent_now": urgent_ids,  # one queue read, not two
                "waiting": len(waiting),
                "languages": self.services.languages, "names": NATIVE_NAMES,
                "topics": sorted(self.services.renderer.dialogue.topic_flows),
                "topic_title": self.topic_title, "query": str(request.url.query)}

    @_signed_in
    async def queue_page(self, request: Request, session: Session) -> Response:
        return self.render("queue.html", notice=NOTICES.get(request.query_params.get("notice", "")),
                           **self._queue_context(request, session))

    @_signed_in
    async def queue_fragment(self, request: Request, session: Session) -> Response:
        return self.render("_queue.html", **self._queue_context(request, session))

    @_signed_in
    async def events(self, request: Request, session: Session) -> Response:
        """Server-sent events: 'change' whenever any ticket or transcript changed; with
        ?once=1, the same data once, as JSON (background tabs ask that every 10 s)."""
        tickets = self.services.tickets
        if request.query_params.get("once"):
            return JSONResponse({"version": tickets.version(), "urgent": self.urgent_waiting()},
                                headers={"Cache-Control": "no-store"})

        async def stream() -> AsyncIterator[bytes]:
            last = -1
            waited = 0.0
            yield b"retry: 2000\n\n"
            while waited < STREAM_SECONDS and not await request.is_disconnected():
                version = await asyncio.to_thread(tickets.version)
                if version != last:
                    last = version
                    urgent = await asyncio.to_thread(self.urgent_waiting)
                    data = json.dumps({"version": version, "urgent": urgent})
                    yield f"event: change\ndata: {data}\n\n".encode()
                elif int(waited) % 15 == 0 and waited == int(waited):
                    yield b": keep-alive\n\n"
                await asyncio.sleep(POLL_SECONDS)
                waited += POLL_SECONDS

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    # ---- a ticket ----

    def _ticket_context(self, ticket: Ticket, session: Session) -> dict[str, Any]:
        renderer = self.services.renderer
        lang = ticket.language
        canned = [{"key": key, "text": renderer.text(lang, key, isolated=False),
                   "english": renderer.text("en", key, isolated=False)}
                  for key in renderer.content.texts if key.startswith(CANNED_PREFIX)]
        path = []
        for entry in ticket.path:
            flow_id, _, step_id = entry.partition("/")
            path.append(f"{self.topic_title(flow_id)} › {step_id.replace('_', ' ')}")
        return {"session": session, **self.view(ticket),
                "messages": self.services.tickets.messages(ticket.id), "canned": canned,
                "path": path, "dispositions": DISPOSITIONS,
                "staff_names": [n for n in self.staff.names()
                                if n != session.staff.name or session.staff.supervises],
                "mine": ticket.status == "claimed" and ticket.assignee == session.staff.name,
                "supervises": session.staff.supervises,
                "undeliverable": self.relay.why_not_deliverable(ticket)}

    def _ticket(self, request: Request) -> Optional[Ticket]:
        try:
            return self.services.tickets.get(int(request.path_params["ticket_id"]))
        except TicketError:
            return None

    @_signed_in
    async def ticket_page(self, request: Request, session: Session) -> Response:
        ticket = self._ticket(request)
        if ticket is None:
            return self.render("message.html", 404, title="Not found", session=session,
                               text="This ticket does not exist (the resident may have erased it).")
        self.staff.audit(session.staff.name, ticket.id)  # every opening of a transcript
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
        return self.render("_transcript.html", **self._ticket_context(ticket, session))

    @_signed_in
    async def ticket_action(self, request: Request, session: Session) -> Response:
        form = await self._form(request, session)
        if form is None:
            return self._forbidden()
        ticket = self._ticket(request)
        if ticket is None:
            return self.render("message.html", 404, title="Not found", session=session,
                               text="This ticket does not exist (the resident may have erased it).")
        name = session.staff.name
        action = request.path_params["action"]
        back = f"/staff/tickets/{ticket.id}"
        notice = ""
        try:
            if action == "claim":
                self.services.tickets.claim(ticket.id, name)
            elif action == "reply":
                _, reason = await self.relay.reply(ticket.id, name, form.get("text", ""))
                notice = "undelivered" if reason else ""
            elif action == "note":
                text = form.get("text", "").strip()[:4000]
                if text:
                    self.services.tickets.add_message(ticket.id, f"staff:{name}", "note", text)
            elif action == "transfer":
                target = form.get("to", "")
                if self.staff.get(target) is None:
                    raise TicketError("choose a colleague to transfer to")
                self.services.tickets.transfer(ticket.id, name, target, session.staff.supervises)
                back = "/staff"
            elif action == "close":
                disposition = form.get("disposition", "")
                if disposition not in DISPOSITIONS:
                    raise TicketError("choose how the ticket ended")
                reason = await self.relay.close(ticket.id, name, disposition, session.staff.supervises)
                told = "closed_untold" if reason else "closed"
                return RedirectResponse("/staff?" + urlencode({"notice": told}), 303)
            else:
                return self.render("message.html", 404, title="Not found", session=session,
                                   text="Unknown action.")
        except AlreadyClaimed as exc:
            return self.render("message.html", 409, title="Already claimed", session=session,
                               text=f"{exc}. Go back to the queue.", link="/staff")
        except TicketError as exc:
            return self.render("message.html", 409, title="Not possible", session=session,
                               text=str(exc), link=back)
        return RedirectResponse(back + ("?" + urlencode({"notice": notice}) if notice else ""), 303)

    # ---- audit ----

    @_signed_in
    async def audit_page(self, request: Request, session: Session) -> Response:
        if not session.staff.supervises:
            return self.render("message.html", 403, title="Not allowed", session=session,
                               text="Only supervisors can read the audit log.")
        ticket = request.query_params.get("ticket")
        wanted = int(ticket) if ticket and ticket.isascii() and ticket.isdigit() else None
        entries = self.staff.audit_entries(ticket_id=wanted)
        return self.render("audit.html", session=session, entries=entries)
