"""The language rules of the dialogue, decided on a turn's detected language alone."""

from __future__ import annotations

from dataclasses import replace

from bot.core.dialogue import Dialogue, State, UserTurn
from bot.core.flows import require_flows
from bot.core.languages import NATIVE_NAMES
from bot.settings import PROJECT_ROOT

LANGS = ("en", "es", "pl", "zh_Hans", "ar", "fr", "ht", "uk")


def dialogue() -> Dialogue:
    return Dialogue(require_flows(PROJECT_ROOT / "flows"), lambda lang, key: key, LANGS, NATIVE_NAMES)


AT_DOOR = State(flow="ice_at_door", step="ask_now", lang="en", started=True, disclaimer_shown=True)


def test_three_confident_words_switch_and_answer() -> None:
    state, items = dialogue().respond(AT_DOOR, UserTurn(intent="legal_help", text="x",
                                                        detected="pl", detected_p=0.95, words=4))
    assert state.lang == "pl" and items[0]["key"] == "ui.language_switched"
    assert items[-1]["flow"] == "legal_help"


def test_two_confident_words_ask_in_both_and_keep_the_place() -> None:
    state, items = dialogue().respond(AT_DOOR, UserTurn(intent="legal_help", text="x",
                                                        detected="pl", detected_p=0.95, words=2))
    assert state == replace(AT_DOOR, asking="pl")  # the same place; the question is remembered
    assert items == [{"kind": "ask_language", "lang": "pl", "flow": "ice_at_door", "step": "ask_now"}]


def test_digits_at_the_language_question_answer_it_not_the_step_below() -> None:
    d = dialogue()
    asked, _ = d.respond(AT_DOOR, UserTurn(intent="legal_help", text="x", detected="pl",
                                           detected_p=0.95, words=2))
    state, items = d.respond(asked, UserTurn(intent="nlu_fallback", text="1"))
    assert state.lang == "pl" and state.asking is None
    assert items[-1] == {"kind": "step", "flow": "ice_at_door", "step": "ask_now"}
    state, _ = d.respond(asked, UserTurn(intent="nlu_fallback", text="2"))
    assert state.lang == "en" and (state.flow, state.step) == ("ice_at_door", "ask_now")


def test_after_the_picker_the_step_answers_typed_words_again() -> None:
    d = dialogue()
    picking, _ = d.respond(AT_DOOR, UserTurn(intent="kyr_command", command="lang"))
    back, items = d.respond(picking, UserTurn(intent="kyr_command", command="lang", argument="es"))
    assert (back.flow, back.step, back.lang) == ("ice_at_door", "ask_now", "es")
    # "1" is the step's first button now, not the picker's first language.
    state, items = d.respond(back, UserTurn(intent="nlu_fallback", text="1"))
    assert state.lang == "es" and items[-1]["step"] == "ask_signed"


def test_one_word_or_unsure_or_out_of_scope_changes_nothing() -> None:
    d = dialogue()
    for turn in (UserTurn(intent="legal_help", text="x", detected="pl", detected_p=0.95, words=1),
                 UserTurn(intent="legal_help", text="x", detected="pl", detected_p=0.6, words=5),
                 UserTurn(intent="out_of_scope", text="x", detected="pl", detected_p=0.99, words=5)):
        state, _ = d.respond(AT_DOOR, turn)
        assert state.lang == "en"


def test_one_chinese_word_is_enough_to_switch() -> None:
    state, _ = dialogue().respond(AT_DOOR, UserTurn(intent="legal_help", text="律师",
                                                    detected="zh_Hans", detected_p=0.99, words=1))
    assert state.lang == "zh_Hans"
