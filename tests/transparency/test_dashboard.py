"""/transparency: published quarters and the delayed running quarter, no login, no cookies,
nothing from another origin; and `kyr report` from the command line."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
import re
import shutil
import socket
from pathlib import Path
from typing import AsyncIterator

import httpx
import pytest
import uvicorn

from bot.app.counters import Counters
from bot.cli import main
from bot.settings import Settings
from bot.transparency.service import PublishError, Transparency
from bot.web.app import create_app
from tests.transparency.conftest import seed

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def published(seeded: Counters, report_settings: Settings) -> Transparency:
    service = Transparency(report_settings, seeded.engine)
    service.publish("2026Q3", "admin-ana")
    return service


def client(settings: Settings) -> httpx.AsyncClient:
    app = create_app(settings, env={})
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kyr.test")


def test_only_ended_quarters_are_published_and_only_once(seeded: Counters,
                                                         report_settings: Settings) -> None:
    service = Transparency(report_settings, seeded.engine)
    with pytest.raises(PublishError, match="can be published from"):
        service.publish("2026Q3", "ana", now=dt.datetime(2026, 9, 30, 12, tzinfo=dt.timezone.utc))
    data = service.publish("2026Q3", "ana", now=dt.datetime(2026, 10, 1, 12, tzinfo=dt.timezone.utc))
    with pytest.raises(PublishError, match="already published"):
        service.publish("2026Q3", "ana")
    seed(service.counters, dt.date(2026, 8, 1), 3, seed_value=99)  # late counts...
    frozen = service.store.published("2026Q3")
    assert frozen is not None and frozen.data == json.loads(json.dumps(data))  # ...change nothing
    assert frozen.published_by == "ana"


async def test_the_public_page(published: Transparency, report_settings: Settings) -> None:
    async with client(report_settings) as browser:
        page = await browser.get("/transparency")
        assert page.status_code == 200 and "set-cookie" not in page.headers
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert "<script" not in page.text
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", page.text)
        assert "Quarter 2026Q3" in page.text and "This quarter so far" in page.text
        assert page.text.count("<svg") >= 5
        spanish = await browser.get("/transparency", headers={"Accept-Language": "es-MX,es;q=0.9"})
        assert "Trimestre 2026Q3" in spanish.text and 'lang="es"' in spanish.text
        assert (await browser.get("/transparency?lang=en", headers={
            "Accept-Language": "es"})).text.count("Quarter 2026Q3") == 1
        assert (await browser.get("/transparency?quarter=2026Q2")).status_code == 404
        data = await browser.get("/transparency/2026Q3.json")
        assert data.status_code == 200 and "set-cookie" not in data.headers
        stored = published.store.published("2026Q3")
        assert stored is not None and json.loads(data.text)["tables"] == stored.data["tables"]
        table = await browser.get("/transparency/2026Q3.csv?lang=es")
        rows = list(csv.DictReader(io.StringIO(table.text)))
        assert rows and rows[0]["title"] == "Temas que abrieron los residentes, por semana"
        assert "attachment" in table.headers["content-disposition"]
        current = await browser.get("/transparency/current.json")
        assert json.loads(current.text)["running"] is True
        for missing in ("/transparency/2026Q2.csv", "/transparency/../x.csv",
                        "/transparency/2026Q3.pdf", "/transparency/DROP TABLE.json"):
            assert (await browser.get(missing)).status_code == 404, missing


async def test_nothing_published_yet(database, report_settings: Settings) -> None:  # type: ignore[no-untyped-def]
    async with client(report_settings) as browser:
        page = await browser.get("/transparency")
        assert page.status_code == 200 and "No quarter has been published yet." in page.text
        assert (await browser.get("/transparency/2026Q3.json")).status_code == 404


def kyr(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, settings: Settings,
        *argv: str) -> tuple[int, str, str]:
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("KYR_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("KYR_SECRET_KEY", "report-test")
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_kyr_report(seeded: Counters, report_settings: Settings, tmp_path: Path,
                    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = kyr(capsys, monkeypatch, report_settings, "report", "--quarter", "2026Q3",
                       "--format", "csv")
    assert code == 0 and out.startswith("period,table,title,row,column")
    code, out, _ = kyr(capsys, monkeypatch, report_settings, "report", "--from", "2026-07-01",
                       "--to", "2026-07-31", "--format", "json", "--lang", "es")
    assert code == 0 and json.loads(out)["period"]["label"] == "2026-07-01/2026-07-31"
    target = tmp_path / "q3.pdf"
    code, _, err = kyr(capsys, monkeypatch, report_settings, "report", "--quarter", "2026Q3",
                       "--format", "pdf", "-o", str(target))
    assert code == 0 and target.read_bytes().startswith(b"%PDF") and "wrote" in err
    for bad in (["--quarter", "2026Q5"], ["--from", "2026-07-01"], ["--quarter", "2026Q3",
                "--from", "2026-07-01", "--to", "2026-07-02"], ["--threshold", "1"],
                ["--noise", "-1"], ["publish", "2099Q1", "--by", "ana"],
                ["legal-request", "add", "--received", "2026-08-01", "--kind", "subpoena",
                 "--outcome", "refused"],
                ["legal-request", "answer", "99", "--answered", "2026-08-01", "--outcome", "refused"]):
        code, out, err = kyr(capsys, monkeypatch, report_settings, "report", *bad)
        assert code == 2 and err.startswith("kyr report:"), (bad, err)
        assert "Traceback" not in err
    code, out, _ = kyr(capsys, monkeypatch, report_settings, "report", "legal-request", "add",
                       "--received", "2026-08-01", "--kind", "court_order")
    assert code == 0 and out.strip() == "legal request 1 recorded"
    code, out, _ = kyr(capsys, monkeypatch, report_settings, "report", "legal-request", "answer",
                       "1", "--answered", "2026-08-20", "--outcome", "challenged")
    assert code == 0
    code, out, _ = kyr(capsys, monkeypatch, report_settings, "report", "legal-request", "list")
    assert out.split() == ["1", "2026-08-01", "court_order", "2026-08-20", "challenged"]
    code, out, _ = kyr(capsys, monkeypatch, report_settings, "report", "publish", "2026Q3",
                       "--by", "ana")
    assert code == 0 and out.startswith("published 2026Q3")
    code, out, _ = kyr(capsys, monkeypatch, report_settings, "report", "published")
    assert out.split()[0] == "2026Q3" and out.split()[2] == "ana"


@pytest.fixture
async def server(published: Transparency, report_settings: Settings) -> AsyncIterator[str]:
    app = create_app(report_settings, env={})
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                            ws="wsproto", timeout_graceful_shutdown=1)
    running = uvicorn.Server(config)
    task = asyncio.create_task(running.serve(sockets=[sock]))
    for _ in range(200):
        if running.started or task.done():
            break
        await asyncio.sleep(0.05)
    if task.done():
        task.result()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    running.should_exit = True
    await asyncio.wait_for(task, 10)


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
async def test_the_dashboard_in_chromium_sets_no_cookie_and_asks_no_one_else(server: str) -> None:
    from playwright.async_api import async_playwright

    requested: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = await browser.new_context(locale="es-ES")
        page = await context.new_page()
        page.on("request", lambda request: requested.append(request.url))
        errors: list[str] = []  # a CSP violation or a blocked load is a console error
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        response = await page.goto(f"{server}/transparency")
        assert response is not None and response.status == 200
        await page.wait_for_load_state("networkidle")
        assert await page.locator("h1").inner_text() == "Transparencia"
        assert await page.locator("figure svg").count() >= 5
        assert await page.locator("table").count() >= 10
        async with page.expect_download() as download:
            await page.click("text=Descargar CSV >> nth=0")
        saved = await (await download.value).path()
        assert saved is not None and Path(saved).read_text(encoding="utf-8").startswith("period,")
        await page.click("text=English")
        await page.wait_for_load_state("networkidle")
        assert await page.locator("h1").inner_text() == "Transparency"
        cookies = await context.cookies()
        await browser.close()
    assert cookies == []
    assert requested and all(url.startswith(server) for url in requested), requested
    assert errors == []  # no CSP violation, nothing blocked
