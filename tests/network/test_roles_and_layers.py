"""The dispatcher role, `kyr staff add --role dispatcher`, and the network's place in the
layers: it imports bot.core and bot.storage only."""

from __future__ import annotations

import uuid
from typing import Iterator

import pytest
from argon2 import PasswordHasher

from bot.cli import build_parser
from bot.handoff.staff import ROLES, Staff, StaffDirectory
from bot.storage.db import make_engine
from tests.core.test_layers import GRAPH


@pytest.fixture
def directory(database_url: str) -> Iterator[StaffDirectory]:
    engine = make_engine(database_url)
    yield StaffDirectory(engine, PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1))
    engine.dispose()


@pytest.mark.parametrize("role, dispatches, supervises", [
    ("staff", False, False), ("dispatcher", True, False), ("supervisor", True, True),
    ("admin", True, True)])
def test_who_can_dispatch(role: str, dispatches: bool, supervises: bool) -> None:
    staff = Staff("ana", role, ())
    assert staff.can_dispatch is dispatches and staff.supervises is supervises


def test_a_dispatcher_account_is_stored(directory: StaffDirectory) -> None:
    name = f"disp-{uuid.uuid4().hex[:8]}"
    directory.add(name, "dispatcher", ("es",), "a long enough password")
    found = directory.get(name)
    assert found is not None and found.role == "dispatcher" and found.can_dispatch


def test_the_command_line_offers_every_role() -> None:
    for role in ROLES:
        assert build_parser().parse_args(["staff", "add", "dora", "--role", role]).role == role
    with pytest.raises(SystemExit):
        build_parser().parse_args(["staff", "add", "dora", "--role", "verifier"])


def test_the_network_imports_core_and_storage_only() -> None:
    network = {m: targets for m, targets in GRAPH.items() if m.startswith("bot.network")}
    assert {"bot.network", "bot.network.reports", "bot.network.alerts",
            "bot.network.subscriptions"} <= set(network)
    for module, targets in network.items():
        outside = {t for t in targets if not t.startswith(("bot.core", "bot.storage", "bot.network"))}
        assert outside == set(), module
