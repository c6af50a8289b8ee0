"""Areas typed at a pick_area step, report answers collected by button, /alerts and STOP
words: the dialogue rules alone, without Rasa or a database."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core import alerts
from bot.core.check import run_check
from bot.core.content import require_content
from bot.core.dialogue import Dialogue, State, UserTurn
from bot.core.flows import require_flows
from bot.core.languages import NATIVE_NAMES
from bot.engine import slots
from bot.settings import PROJECT_ROOT

CONTENT = require_content(PROJECT_ROOT / "content")


def dialogue() -> Dialogue:
    return Dialogue(require_flows(PROJECT_ROOT / "flows"), lambda lang, key: CONTENT.texts[key].text,
                    ("en", "es"), NATIVE_NAMES)


MENU = State(flow="main_menu", step="menu", lang="en", started=True, disclaimer_shown=True)


def typed(text: str, intent: str = "nlu_fallback") -> UserTurn:
    return UserTurn(intent=intent, text=text)


def at_ask_area(d: Dialogue) -> State:
    state, items = d.respond(MENU, UserTurn(intent="kyr_command", command="alerts"))
    assert (state.flow, state.step) == ("subscribe_alerts", "ask_area")
    assert [i["step"] for i in items] == ["intro", "ask_area"]
    return state


@pytest.mark.parametrize("answer, code", [("24", "c24"), ("west town", "c24"), ("Pilsen", "c31"),
                                          ("in Little Village", "c30"), ("Cicero", "s-cicero"),
                                          ("2", "c2"), ("O'Hare", "c76")])
def test_a_typed_area_by_number_name_alias_or_suburb_is_picked(answer: str, code: str) -> None:
    d = dialogue()
    state, items = d.respond(at_ask_area(d), typed(answer))
    # "2" is area 2 here, not the second button: the question asks for a number.
    assert state.areas == (code,) and (state.flow, state.step) == ("subscribe_alerts", "more_areas")
    assert items == [{"kind": "step", "flow": "subscribe_alerts", "step": "more_areas", "areas": [code]}]


def test_several_areas_add_up_once_each_and_done_subscribes_to_them() -> None:
    d = dialogue()
    state, _ = d.respond(at_ask_area(d), typed("24"))
    state, _ = d.respond(state, typed("Pilsen, Cicero"))
    state, _ = d.respond(state, typed("west town"))  # already there: not twice
    assert state.areas == ("c24", "c31", "s-cicero")
    state, items = d.respond(state, typed("done"))
    assert items[-1]["step"] == "confirm" and items[-1]["areas"] == ["c24", "c31", "s-cicero"]
    assert items[-1]["answers"] == {}
    assert state.areas == ()  # used by the subscribe step: held no longer


def test_an_unknown_area_or_a_zip_code_is_asked_again_with_the_steps_buttons() -> None:
    d = dialogue()
    asked = at_ask_area(d)
    for text, key in (("my house on 18th", alerts.UNKNOWN_AREA), ("60608", alerts.ZIP_CODE),
                      ("Pilsen, Narnia", alerts.UNKNOWN_AREA), ("99", alerts.UNKNOWN_AREA)):
        state, items = d.respond(asked, typed(text))
        assert state == asked and state.areas == ()
        assert items == [{"kind": "fallback", "flow": "subscribe_alerts", "step": "ask_area", "key": key}]


def test_the_menu_words_and_a_long_question_still_leave_the_area_question() -> None:
    d = dialogue()
    asked = at_ask_area(d)
    state, items = d.respond(asked, typed("main menu"))
    assert (state.flow, state.step) == ("main_menu", "menu")
    state, items = d.respond(asked, typed("agents are at my door what do i do", "ice_at_door"))
    assert state.flow == "ice_at_door"


def test_leaving_the_flow_drops_the_areas_picked() -> None:
    d = dialogue()
    state, _ = d.respond(at_ask_area(d), typed("24"))
    state, _ = d.respond(state, UserTurn(intent="kyr_command", command="menu"))
    assert state.areas == ()
    state, _ = d.respond(state, UserTurn(intent="kyr_command", command="alerts"))
    assert state.areas == () and state.step == "ask_area"


def test_the_language_picker_keeps_the_areas_and_the_step_names_them() -> None:
    d = dialogue()
    state, _ = d.respond(at_ask_area(d), typed("24"))
    picking, _ = d.respond(state, UserTurn(intent="kyr_command", command="lang"))
    back, items = d.respond(picking, UserTurn(intent="kyr_command", command="lang", argument="es"))
    assert back.areas == ("c24",) and back.step == "more_areas"
    assert items[-1]["areas"] == ["c24"]


def test_alerts_off_enters_the_stop_flow_and_its_one_confirmation() -> None:
    state, items = dialogue().respond(MENU, UserTurn(intent="kyr_command", command="alerts",
                                                     argument="off"))
    assert items == [{"kind": "step", "flow": "stop_alerts", "step": "done"}]
    assert state.flow == "stop_alerts"


def test_stop_words_are_whole_messages_only() -> None:
    d = dialogue()
    assert d.is_stop_word("STOP") and d.is_stop_word(" Stop alerts! ") and d.is_stop_word("unsubscribe")
    assert not d.is_stop_word("stop it") and not d.is_stop_word("they told me to stop")
    assert not d.is_stop_word("")


def press(d: Dialogue, state: State, title: str) -> tuple[State, list[dict]]:  # type: ignore[type-arg]
    """Press the button of the current step whose English label is `title`."""
    spec = next(s for s in d.current_buttons(state)
                if not s.literal and CONTENT.texts[s.label].text == title)
    return d.respond(state, UserTurn(intent="kyr_button", payload=spec.payload))


def test_a_report_collects_what_where_when_and_still_happening() -> None:
    d = dialogue()
    state = State(flow="report_activity", step="call", started=True, disclaimer_shown=True)
    state, _ = press(d, state, "Report it here")
    state, _ = press(d, state, "A checkpoint")  # the fourth option to the same step: "#3"
    assert state.answers == (("what", "checkpoint"),)
    state, _ = d.respond(state, typed("Pilsen"))
    assert state.step == "streets" and state.areas == ("c31",)
    state, _ = press(d, state, "Skip")  # the cross streets are optional
    state, _ = press(d, state, "In the last hour")
    state, items = d.respond(state, typed("not sure"))  # typed, for the "Not sure" button
    filed = items[-1]
    assert (filed["step"], filed["areas"]) == ("filed", ["c31"])
    assert filed["answers"] == {"what": "checkpoint", "when": "last_hour", "ongoing": "not_sure"}
    assert state.answers == () and state.areas == ()


def test_not_sure_where_files_nothing_and_says_why() -> None:
    d = dialogue()
    state = State(flow="report_activity", step="where", started=True, disclaimer_shown=True,
                  answers=(("what", "agents"),))
    state, items = press(d, state, "Not sure where")
    assert items[-1]["step"] == "no_area"
    assert not any(i.get("step") == "filed" for i in items)


def test_the_state_slot_round_trips_what_was_collected() -> None:
    state = State(flow="report_activity", step="when", areas=("c31", "s-cicero"),
                  answers=(("what", "arrest"),))
    assert slots.state_from(slots.state_value(state)) == state
    assert slots.state_from({"flow": "x"}).areas == ()  # a conversation from before


def test_area_names_and_the_consent_version() -> None:
    assert alerts.area_names(["c24", "s-cicero", "nowhere"]) == "24 West Town, Cicero"
    english = CONTENT.texts["alerts.confirm"].text
    assert alerts.consent_version(english) == alerts.consent_version(english)
    assert alerts.consent_version(english) != alerts.consent_version(english + " ")


def test_every_alert_template_is_in_content_with_only_its_fields() -> None:
    from bot.core.render import placeholders

    for key in alerts.ALERT_TEMPLATES:
        assert placeholders(CONTENT.texts[key].text) <= alerts.TEMPLATE_FIELDS
        assert "{area}" in CONTENT.texts[key].text


def break_flow(project: Path, name: str, old: str, new: str) -> None:
    path = project / "flows" / name
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def errors(project: Path) -> list[str]:
    return [p.message for p in run_check(project) if p.severity == "error"]


def test_the_check_wants_a_picked_step_and_known_values(project_copy: Path) -> None:
    assert errors(project_copy) == []
    break_flow(project_copy, "subscribe_alerts.yml", "    picked: more_areas     # where", "    # ")
    break_flow(project_copy, "report_activity.yml", "value: checkpoint", "value: roadblock")
    found = errors(project_copy)
    assert any("needs 'picked:'" in m for m in found), found
    assert any("not 'roadblock'" in m for m in found), found


def test_the_check_allows_areas_only_where_areas_are_picked(project_copy: Path) -> None:
    path = project_copy / "content" / "scams.yml"
    path.write_text(path.read_text().replace('text: "', 'text: "{areas} ', 1))
    assert any("unknown placeholder '{areas}'" in m for m in errors(project_copy))


def test_an_old_done_or_yes_after_leaving_asks_again_instead_of_confirming_nothing() -> None:
    d = dialogue()
    state, items = d.respond(MENU, UserTurn(intent="kyr_button", payload="subscribe_alerts:more_areas>confirm"))
    assert [i["step"] for i in items] == ["ask_area"] and state.step == "ask_area"
    state, items = d.respond(MENU, UserTurn(intent="kyr_button", payload="report_activity:ongoing>filed"))
    assert items[-1]["step"] == "what" and not any(i.get("step") == "filed" for i in items)


def test_a_report_with_an_unanswered_question_is_not_filed() -> None:
    d = dialogue()
    # At "where" without having answered "what" (an old button): the area and the rest
    # file nothing; the flow asks its first question again.
    state = State(flow="report_activity", step="where", started=True, disclaimer_shown=True)
    state, _ = d.respond(state, typed("Pilsen"))
    state, _ = press(d, state, "Skip")
    state, _ = press(d, state, "Now")
    state, items = press(d, state, "Yes")
    assert items[-1]["step"] == "what" and not any(i.get("step") == "filed" for i in items)


def test_the_report_buttons_speak_the_networks_words() -> None:
    from bot.core.flows import COLLECT
    from bot.network.reports import WHAT, WHEN

    assert COLLECT["what"] == WHAT and COLLECT["when"] == WHEN
