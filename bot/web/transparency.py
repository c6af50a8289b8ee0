"""The public transparency dashboard at /transparency: no login, no cookies, nothing loaded
from anywhere else (no fonts, scripts or images from other hosts; charts are inline SVG).

It shows published quarters only (frozen by an admin with `kyr report publish`) and the
current quarter so far in complete weeks at least a week old, so it cannot reveal live
activity. Downloads: the same data as CSV and JSON.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, Callable, Optional

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.transparency import render
from bot.transparency.i18n import LANGUAGES
from bot.transparency.render import templates

QUARTER = re.compile(r"\d{4}Q[1-4]")
CURRENT = "current"
HEADERS = {
    # Nothing but this page: no scripts at all, styles and SVG inline, no other origin.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
                               "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "public, max-age=300",
}


def language(request: Request) -> str:
    """?lang=es, else the browser's first supported language; never a cookie."""
    wanted = request.query_params.get("lang")
    if wanted in LANGUAGES:
        return wanted
    for part in request.headers.get("accept-language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return "en"


class Dashboard:
    """Routes bound to a transparency service factory (built once the database is known)."""

    def __init__(self, service: Callable[[], Any]) -> None:
        self._service = service
        self._pages: dict[tuple[Any, ...], str] = {}  # charts take seconds: drawn once

    @property
    def service(self) -> Any:
        return self._service()

    def routes(self) -> list[Route]:
        return [Route("/transparency", self.page),
                Route("/transparency/{name}.{fmt}", self.download)]

    def _data(self, name: str) -> Optional[dict[str, Any]]:
        if name == CURRENT:
            return self.service.running()
        if not QUARTER.fullmatch(name):
            return None
        found = self.service.store.published(name)
        return found.data if found is not None else None

    async def page(self, request: Request) -> Response:
        lang = language(request)
        quarter = request.query_params.get("quarter")
        html = await asyncio.to_thread(self._page, lang, quarter)
        if html is None:
            return PlainTextResponse("not published", status_code=404, headers=HEADERS)
        return HTMLResponse(html, headers=HEADERS)

    def _page(self, lang: str, quarter: Optional[str]) -> Optional[str]:
        service = self.service
        quarters = service.store.quarters()
        chosen = quarter or (quarters[0] if quarters else None)
        if quarter is not None and quarter not in quarters:
            return None
        published = service.store.published(chosen) if chosen else None
        running = service.running()
        key = (lang, chosen, published.published_at if published else None,
               running["generated_at"])
        if key in self._pages:
            return self._pages[key]
        sections = []
        if published is not None:
            sections.append(("published", published.data))
        sections.append((CURRENT, running))
        views = []
        for name, data in sections:
            context = render.view(data, lang)
            context["name"] = published.quarter if name == "published" and published else CURRENT
            context["prefix"] = f"{name}-"
            views.append(context)
        _ = views[0]["_"]
        html = templates.get_template("transparency.html").render(
            _=_, lang=_.lang, views=views, quarters=quarters, chosen=chosen,
            published=published, languages=LANGUAGES, current=CURRENT)
        if len(self._pages) > 16:
            self._pages.clear()
        self._pages[key] = html
        return html

    async def download(self, request: Request) -> Response:
        name, fmt = request.path_params["name"], request.path_params["fmt"]
        if fmt not in ("csv", "json"):
            return PlainTextResponse("csv or json", status_code=404, headers=HEADERS)
        data = await asyncio.to_thread(self._data, name)
        if data is None:
            return PlainTextResponse("not published", status_code=404, headers=HEADERS)
        lang = language(request)
        body = render.csv_text(data, lang) if fmt == "csv" else render.json_text(data, lang)
        media = "text/csv; charset=utf-8" if fmt == "csv" else "application/json"
        headers = dict(HEADERS, **{"Content-Disposition":
                                   f'attachment; filename="kyr-transparency-{name}-{lang}.{fmt}"'})
        return Response(body, media_type=media, headers=headers)
