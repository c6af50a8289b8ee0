"""The report's optional "nearest cross streets?" step: what is taken, what is refused as a
home address, what skips; the dialogue rules alone, with a stand-in sealer."""

from __future__ import annotations

import json

import pytest

from bot.core import streets
from bot.core.dialogue import STREETS_REFUSED, STREETS_TAKEN, Dialogue, State
from bot.core.flows import require_flows
from bot.core.languages import NATIVE_NAMES
from bot.engine import slots
from bot.settings import PROJECT_ROOT
from tests.core.test_alerts_dialogue import CONTENT, press, typed

TRANSLATED = {("es", "answers.skip_streets"): "omitir, saltar, no, no se, ni idea"}


def seal(text: str) -> str:
    return "sealed:" + text[::-1]  # stands for the application's Fernet token


def dialogue(sealer: object = seal) -> Dialogue:
    return Dialogue(require_flows(PROJECT_ROOT / "flows"),
                    lambda lang, key: TRANSLATED.get((lang, key), CONTENT.texts[key].text),
                    ("en", "es"), NATIVE_NAMES, seal=sealer)  # type: ignore[arg-type]


def at_streets(d: Dialogue, lang: str = "en") -> State:
    state = State(flow="report_activity", step="call", lang=lang, started=True,
                  disclaimer_shown=True)
    state, _ = press(d, state, "Report it here")
    state, _ = press(d, state, "Agents")
    state, items = d.respond(state, typed("Little Village"))
    assert (state.step, state.areas) == ("streets", ("c30",))
    assert items == [{"kind": "step", "flow": "report_activity", "step": "streets", "areas": ["c30"]}]
    return state


@pytest.mark.parametrize("text", ["2417 S Pulaski Rd", "2417 Pulaski", "4512 N. Kedzie Ave",
                                  "12 W Elm St", "Cermak & Pulaski apt 3", "Pulaski #2",
                                  "departamento 4, 26 y Pulaski", "unit B at 26th"])
def test_a_home_address_is_recognised(text: str) -> None:
    assert streets.is_home_address(text)


@pytest.mark.parametrize("text, kept", [
    ("26th St & Pulaski", "26th St & Pulaski"), ("Cermak y Komensky", "Cermak y Komensky"),
    ("111th St and Halsted", "111th St and Halsted"), ("123rd and State", "123rd and State"),
    ("the 2400 block of S Pulaski", "the 2400 block of S Pulaski"),
    ("Route 66 and 26th St", "Route 66 and 26th St"), ("Cermak & Pulaski 2417", "Cermak & Pulaski"),
    ("  18th\n& Blue   Island ", "18th & Blue Island")])
def test_cross_streets_are_kept_without_house_numbers(text: str, kept: str) -> None:
    assert not streets.is_home_address(text)
    assert streets.as_kept(text) == kept


def test_what_is_kept_is_capped_and_never_only_a_number() -> None:
    assert len(streets.as_kept("Pulaski and " + "x" * 300)) == streets.MAX_LENGTH
    assert streets.as_kept("1234") == "" and streets.as_kept("?? !!") == ""


def test_typed_cross_streets_are_held_only_sealed_and_filed_with_the_report() -> None:
    d = dialogue()
    state = at_streets(d)
    assert d.streets_answer(state, "26th St & Pulaski") == STREETS_TAKEN
    state, items = d.respond(state, typed("26th St & Pulaski, 2417"))
    assert state.step == "when" and [i["step"] for i in items] == ["when"]
    assert dict(state.answers)[streets.CROSS_STREETS] == seal("26th St & Pulaski")
    stored = json.dumps(slots.state_value(state)) + json.dumps(items)
    assert "Pulaski" not in stored  # the tracker's slots hold the token only
    state, _ = press(d, state, "Now")
    state, items = press(d, state, "Yes")
    assert items[-1]["step"] == "filed"
    assert items[-1]["answers"] == {"what": "agents", "when": "now", "ongoing": "yes",
                                    streets.CROSS_STREETS: seal("26th St & Pulaski")}
    assert state.answers == ()  # used once, then dropped


def test_without_a_sealer_typed_cross_streets_are_not_kept() -> None:
    d = dialogue(None)
    state, _ = d.respond(at_streets(d), typed("26th St & Pulaski"))
    assert state.step == "when" and streets.CROSS_STREETS not in dict(state.answers)


@pytest.mark.parametrize("text", ["2417 S Pulaski Rd", "my place is 4512 N Kedzie", "apt 3"])
def test_a_home_address_is_refused_kept_nowhere_and_asked_again(text: str) -> None:
    d = dialogue()
    asked = at_streets(d)
    assert d.streets_answer(asked, text) == STREETS_REFUSED
    state, items = d.respond(asked, typed(text))
    assert state == asked  # nothing collected, same question
    assert items == [{"kind": "fallback", "flow": "report_activity", "step": "streets",
                      "key": streets.HOME_ADDRESS}]


@pytest.mark.parametrize("lang, text", [("en", "skip"), ("en", "Skip"), ("en", "I don't know"),
                                        ("en", "no"), ("en", "1"), ("es", "no sé"),
                                        ("es", "Omitir"), ("en", "ni idea")])
def test_skip_typed_or_tapped_moves_on_without_cross_streets(lang: str, text: str) -> None:
    d = dialogue()
    asked = at_streets(d, lang)
    assert d.streets_answer(asked, text) is None
    state, items = d.respond(asked, typed(text))
    assert state.step == "when" and dict(state.answers) == {"what": "agents"}
    tapped, _ = press(d, asked, "Skip")
    assert tapped.step == "when" and dict(tapped.answers) == {"what": "agents"}


def test_skip_words_count_only_as_the_whole_message() -> None:
    d = dialogue()
    state, _ = d.respond(at_streets(d, "es"), typed("Cermak y Pulaski, no sé el número"))
    assert state.step == "when" and streets.CROSS_STREETS in dict(state.answers)


@pytest.mark.parametrize("text", ["yes", "1234", "??", " ".join(["word"] * 13)])
def test_no_cross_streets_in_a_yes_a_number_or_a_long_message(text: str) -> None:
    d = dialogue()
    asked = at_streets(d)
    assert d.streets_answer(asked, text) is None
    state, items = d.respond(asked, typed(text))
    assert streets.CROSS_STREETS not in dict(state.answers)
    assert items[-1]["kind"] == "fallback" and state.step == "streets"


def test_danger_at_the_cross_streets_step_is_answered_first() -> None:
    d = dialogue()
    state, items = d.respond(at_streets(d), typed("they are breaking the door at 26th and Pulaski"))
    assert items[0]["kind"] == "danger" and streets.CROSS_STREETS not in dict(state.answers)


def test_the_check_wants_a_picked_step_for_cross_streets(project_copy) -> None:  # type: ignore[no-untyped-def]
    from tests.core.test_alerts_dialogue import break_flow, errors

    break_flow(project_copy, "report_activity.yml", "    action: cross_streets\n    picked: when\n",
               "    action: cross_streets\n")
    assert any("action cross_streets needs 'picked:'" in m for m in errors(project_copy))
