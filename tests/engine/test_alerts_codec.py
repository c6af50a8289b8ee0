"""What the subscribe and report steps collected travels through Rasa and back."""

from __future__ import annotations

from bot.core.messages import InboundMessage, OutboundMessage
from bot.engine import codec


def test_areas_and_answers_ride_on_the_collecting_steps_only() -> None:
    filed = OutboundMessage("Thank you.", flow="report_activity", step="filed", action="file_report",
                            areas=("c31",), answers=(("what", "arrest"), ("when", "now")))
    other = OutboundMessage("Hello", flow="main_menu", step="menu", areas=("c24",))
    back = codec.unpack(codec.pack([other, filed]))
    assert back[1] == filed
    assert back[0].areas == ()  # a step that files nothing carries nothing


def test_alerts_off_keeps_its_argument_in_any_case() -> None:
    for typed in ("/alerts off", "/alerts OFF", "/Alerts Off"):
        turn = codec.encode(InboundMessage("test", "u", text=typed))
        assert turn.parse_data is not None
        decoded = codec.decode(turn.parse_data["intent"]["name"], turn.parse_data["entities"],
                               turn.text, None)
        assert (decoded.command, decoded.argument) == ("alerts", "off"), typed
    turn = codec.encode(InboundMessage("test", "u", text="/alerts 1234 W 18th St"))
    assert turn.parse_data is not None
    assert [e["entity"] for e in turn.parse_data["entities"]] == ["command"]  # nothing else kept
