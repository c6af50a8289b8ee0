"""An alert outside WhatsApp's window reaches the Graph API test double as a template
message in the Cloud API's shape; inside it, as text; a refusal is recorded on the row."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.engine import Engine

from bot.app.broadcast import FAILED, SENT
from bot.app.pacing import Pacer
from bot.app.turns import channel_deliver
from bot.channels.base import ChannelContext
from bot.channels.whatsapp.channel import WhatsAppChannel, template_body
from bot.storage.db import make_engine
from bot.storage.schema import alert_deliveries
from tests.app.broadcast_helpers import SECRET, Words, approved_alert, clean, send_all, subscribe
from tests.app.test_broadcast import broadcaster
from tests.channels.fake_graph import FakeGraphAPI
from tests.conftest import platform_fixtures


@pytest.fixture
def db(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'kyr.sqlite3'}")
    clean(engine)
    return engine


class RefusingGraph(FakeGraphAPI):
    """The double, refusing one number the way Meta refuses a paused template (132015)."""

    refuse: str = "17735550103"

    async def _messages(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("to") == self.refuse:
            return web.json_response({"error": {"message": "template paused", "code": 132015}},
                                     status=400)
        return await super()._messages(request)


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraphAPI]:
    server = await RefusingGraph().start()
    yield server
    await server.stop()


def test_the_template_body_has_the_cloud_apis_shape() -> None:
    body = template_body({"name": "kyr_alert_activity", "language": "es_MX",
                          "parameters": ["Lower West Side,\n South Lawndale", "14:30"]})
    assert body == {"type": "template", "template": {
        "name": "kyr_alert_activity", "language": {"code": "es_MX"},
        "components": [{"type": "body", "parameters": [
            {"type": "text", "text": "Lower West Side, South Lawndale"},  # no newline: Meta refuses
            {"type": "text", "text": "14:30"}]}]}}
    named = template_body({"name": "n", "language": "en_US", "parameters": ["West Town"],
                           "names": ["area"]})
    assert named["template"]["components"][0]["parameters"][0]["parameter_name"] == "area"
    with pytest.raises(KeyError):
        template_body({"language": "en"})


async def test_an_alert_reaches_the_graph_double_as_template_or_text(db: Engine,
                                                                     graph: FakeGraphAPI) -> None:
    alert = approved_alert(db, areas=("c24",))
    subscribe(db, "whatsapp-in", "whatsapp", "es", ("c24",), "17735550101", 2)
    subscribe(db, "whatsapp-out", "whatsapp", "es", ("c24",), "17735550102", 40)
    subscribe(db, "whatsapp-refused", "whatsapp", "en", ("c24",), "17735550103", 40)
    sender, box = broadcaster(db)

    async def handle(_: Any) -> list[Any]:
        return []

    context = ChannelContext(handle, Words(), db, SECRET)  # type: ignore[arg-type]
    channel = WhatsAppChannel(context, "TOKEN", "106540352242922", "secret", "verify", graph.base())
    await channel.start()
    try:
        sender.start(alert.id)
        await send_all(sender, box, alert.id, "whatsapp", channel_deliver(channel),
                       Pacer.for_channel("whatsapp"))
    finally:
        await channel.stop()
    by_number = {m["to"]: m for m in graph.sent}
    assert by_number["17735550101"]["type"] == "text"
    assert by_number["17735550101"]["text"]["body"].startswith("Agentes de inmigración")
    template = by_number["17735550102"]
    assert template["messaging_product"] == "whatsapp" and template["type"] == "template"
    assert template["template"]["name"] == "kyr_alert_activity"
    assert template["template"]["language"] == {"code": "es_MX"}
    assert template["template"]["components"][0]["type"] == "body"
    assert [p["text"] for p in template["template"]["components"][0]["parameters"]][:2] == \
        ["24 West Town", "14:30"]
    assert "17735550103" not in by_number
    with db.connect() as connection:
        rows = dict(connection.execute(sa.select(alert_deliveries.c.resident,
                                                 alert_deliveries.c.state)).all())
        reason = connection.execute(sa.select(alert_deliveries.c.reason).where(
            alert_deliveries.c.resident == "whatsapp-refused")).scalar()
    assert rows == {"whatsapp-in": SENT, "whatsapp-out": SENT, "whatsapp-refused": FAILED}
    assert "rejected by WhatsApp" in reason
    # the recorded fixture of a resident pressing a template's button parses as usual
    assert json.loads((platform_fixtures("whatsapp") / "template_button.json").read_text())[
        "entry"][0]["changes"][0]["value"]["messages"][0]["type"] == "button"
