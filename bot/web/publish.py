"""Publishing a quarter's transparency report from the console (admins only): the same
functions as `kyr report` and `kyr report publish` (bot.transparency.service), so what the
admin previews is what the public page serves.

The preview page shows every table as it would be published (small counts hidden) and
links to the full report with its charts; the publish form carries a digest of the numbers
previewed, and publishing refuses when the numbers changed since (late counts): the admin
previews again. Both the preview and the publication are in the audit log.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import logging
import re
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Optional

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from bot.handoff.staff import Session
from bot.storage.db import utc_now
from bot.web.i18n import console_text

if TYPE_CHECKING:
    from bot.web.console import Console

logger = logging.getLogger(__name__)

QUARTER = re.compile(r"\d{4}Q[1-4]")
PREVIEWED, PUBLISHED = console_text("previewed quarter"), console_text("published quarter")
SHOWN_QUARTERS = 4  # the quarters that ended most recently, offered on the page
ADMIN = "admin"
# The full report page: its own inline styles and SVG, nothing from elsewhere.
REPORT_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
                               "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store",
}


def digest(data: dict[str, Any]) -> str:
    """The numbers of a report, not when it was drawn: equal digests, equal publication."""
    kept = {k: v for k, v in data.items() if k != "generated_at"}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:32]


def ended_quarters(today: dt.date, count: int = SHOWN_QUARTERS) -> list[str]:
    """The last `count` quarters that have ended, newest first: "2026Q3", "2026Q2", ..."""
    year, number = today.year, (today.month - 1) // 3 + 1
    found = []
    for _ in range(count):
        number -= 1
        if number == 0:
            year, number = year - 1, 4
        found.append(f"{year}Q{number}")
    return found


class Publishing:
    """/staff/transparency: the quarters, a quarter's preview, and publishing it."""

    audit_actions = (PREVIEWED, PUBLISHED)

    def __init__(self, console: "Console") -> None:
        self.console = console
        self._service: Optional[Any] = None

    @property
    def service(self) -> Any:
        """bot.transparency.service.Transparency on the bot's database (built once)."""
        if self._service is None:
            from bot.transparency.service import Transparency

            services = self.console.services
            self._service = Transparency(services.settings, services.db)
        return self._service

    def routes(self) -> list[Route]:
        return [Route("/staff/transparency", self.index),
                Route("/staff/transparency/{quarter}", self.quarter_page, methods=["GET"]),
                Route("/staff/transparency/{quarter}/report.html", self.full_report),
                Route("/staff/transparency/{quarter}", self.publish, methods=["POST"])]

    async def _admin(self, request: Request, handler: Callable[[Session], Awaitable[Response]]) -> Response:
        async def run(session: Session) -> Response:
            if session.staff.role != ADMIN:
                say = self.console.say
                return self.console.render("message.html", 403, session=session, title=say(session, "Not allowed"),
                                           text=say(session, "Only admins can preview and publish the transparency report."))
            return await handler(session)
        return await self.console.with_session(request, run)

    def _lang(self, request: Request, session: Session) -> str:
        from bot.transparency.i18n import LANGUAGES

        wanted = request.query_params.get("lang") or self.console.ui_language(session)
        return wanted if wanted in LANGUAGES else "en"

    @staticmethod
    def _quarter(request: Request) -> Optional[str]:
        name = str(request.path_params["quarter"])
        return name if QUARTER.fullmatch(name) else None

    def _published(self) -> list[Any]:
        store = self.service.store
        return [store.published(q) for q in store.quarters()]

    async def index(self, request: Request) -> Response:
        async def page(session: Session) -> Response:
            from bot.app.counters import community_day

            published = await asyncio.to_thread(self._published)
            done = {p.quarter for p in published}
            offered = [(q, q in done) for q in ended_quarters(community_day(utc_now()))]
            return self.console.render("transparency_admin.html", session=session, offered=offered,
                                       published=published, section="transparency")
        return await self._admin(request, page)

    def _build(self, quarter: str) -> dict[str, Any]:
        from bot.transparency import report

        return self.service.build(report.quarter(quarter))  # type: ignore[no-any-return]

    async def quarter_page(self, request: Request) -> Response:
        async def page(session: Session) -> Response:
            quarter = self._quarter(request)
            if quarter is None:
                return self.console._not_found(request, session, console_text("Write a quarter like 2026Q3."))
            lang = self._lang(request, session)
            return await self._preview(session, quarter, lang)
        return await self._admin(request, page)

    async def _preview(self, session: Session, quarter: str, lang: str, error: Optional[str] = None,
                       status: int = 200) -> Response:
        from bot.app.counters import community_day
        from bot.transparency import render, report

        data = await asyncio.to_thread(self._build, quarter)
        view = render.view(data, lang, self.console.services.settings.home, with_charts=False)
        published = await asyncio.to_thread(self.service.store.published, quarter)
        ended = community_day(utc_now()) >= report.quarter(quarter).end
        self.console.staff.audit(session.staff.name, 0, PREVIEWED, f"{quarter} ({lang})", session.visit)
        return self.console.render(
            "transparency_quarter.html", status, session=session, quarter=quarter, lang=lang,
            tables=view["tables"], hidden_note=view["hidden_note"], legal=view["legal"],
            digest=digest(data), published=published, ended=ended, error=error,
            hidden=sum(t["hidden"] for t in view["tables"]), section="transparency",
            last_day=data["period"]["last_day"])

    async def full_report(self, request: Request) -> Response:
        """The whole report with its charts, exactly as `kyr report --format html` draws it."""
        async def page(session: Session) -> Response:
            from bot.transparency import render

            quarter = self._quarter(request)
            if quarter is None:
                return self.console._not_found(request, session, console_text("Write a quarter like 2026Q3."))
            lang = self._lang(request, session)
            data = await asyncio.to_thread(self._build, quarter)
            html = await asyncio.to_thread(render.html, data, lang, self.console.services.settings.home)
            self.console.staff.audit(session.staff.name, 0, PREVIEWED, f"{quarter} ({lang}, charts)",
                                     session.visit)
            return HTMLResponse(html, headers=REPORT_HEADERS)
        return await self._admin(request, page)

    async def publish(self, request: Request) -> Response:
        async def act(session: Session) -> Response:
            from bot.transparency.service import PublishError
            from bot.transparency.store import TransparencyError

            form = await self.console._form(request, session)
            if form is None:
                return self.console._forbidden(request, session)
            quarter = self._quarter(request)
            if quarter is None:
                return self.console._not_found(request, session, console_text("Write a quarter like 2026Q3."))
            lang = self._lang(request, session)
            say = self.console.say
            data = await asyncio.to_thread(self._build, quarter)
            if not hmac.compare_digest(form.get("digest", ""), digest(data)):
                return await self._preview(session, quarter, lang, say(
                    session, "The numbers changed since your preview (counts arrived late). "
                    "Check them again below, then publish."), 409)
            try:
                await asyncio.to_thread(self.service.publish, quarter, session.staff.name, None,
                                        form.get("replace") == "1")
            except (PublishError, TransparencyError) as exc:
                return await self._preview(session, quarter, lang, str(exc), 409)
            self.console.staff.audit(session.staff.name, 0, PUBLISHED, quarter, session.visit)
            return RedirectResponse("/staff/transparency?published=" + quarter, 303)
        return await self._admin(request, act)
