"""The staff console against the real services and database, with a recording channel."""

from __future__ import annotations

import re
import secrets
from typing import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from argon2 import PasswordHasher

from bot.app.queue_tables import outbox as outbox_table
from bot.app.services import Services
from bot.handoff.staff import StaffDirectory
from bot.settings import Settings
from bot.web.app import create_app
from tests.channels.recording import RecordingChannel

PASSWORD = "correct horse battery staple"
CHEAP = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)  # tests only


@pytest.fixture
def channel() -> RecordingChannel:
    return RecordingChannel("test")


@pytest.fixture
def app(settings: Settings, services: Services, channel: RecordingChannel):  # type: ignore[no-untyped-def]
    """The ASGI app with the services a started server would have (no lifespan needed)."""
    for ticket in services.tickets.queue():  # a clean queue: earlier tests left tickets open
        services.tickets.close(ticket.id, "resident", "cleanup")
    with services.db.begin() as connection:  # and an empty outbox: nothing of theirs is sent
        connection.execute(outbox_table.delete())
    application = create_app(settings, env={}, services=services, channels={"test": channel})
    return application


@pytest.fixture
def staff_directory(services: Services) -> StaffDirectory:
    return StaffDirectory(services.db, CHEAP)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


Login = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def login(app, staff_directory: StaffDirectory) -> AsyncIterator[Login]:  # type: ignore[no-untyped-def]
    clients: list[httpx.AsyncClient] = []

    async def make(role: str = "staff", languages: tuple[str, ...] = (), name: str = "",
                   base_url: str = "http://console.test") -> httpx.AsyncClient:
        name = name or f"{role}-{secrets.token_hex(3)}"
        staff_directory.add(name, role, languages, PASSWORD)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)
        clients.append(client)
        page = await client.get("/staff/login")
        response = await client.post("/staff/login", data={
            "csrf": csrf_of(page.text), "name": name, "password": PASSWORD})
        assert response.status_code == 303, response.text
        return client

    yield make
    for client in clients:
        await client.aclose()
