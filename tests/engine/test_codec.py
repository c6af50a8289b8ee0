"""The turn codec round-trips: what the engine encodes, the policy decodes; what the NLG
packs, the engine unpacks. No model needed."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from bot.core.dialogue import COMMANDS, SYSTEM_COMMANDS
from bot.core.messages import Button, InboundMessage, OutboundMessage
from bot.engine import codec

text = st.text(max_size=60)
word = st.text(st.characters(whitelist_categories=("Ll", "Lu", "Nd")), min_size=1, max_size=12)


def through_rasa(encoded: codec.Encoded, nlu_intent: str = "ask_rights") -> codec.UserTurn:
    """What Rasa hands the policy: our parse data as given, else its NLU's intent."""
    data = encoded.parse_data or {"intent": {"name": nlu_intent}, "entities": [],
                                  "text": encoded.text}
    return codec.decode(data["intent"]["name"], data["entities"], encoded.text, encoded.metadata)


@settings(max_examples=200, deadline=None)
@given(payload=word, hint=st.none() | st.sampled_from(["es", "pl-PL", "uk"]))
def test_a_button_press_round_trips(payload: str, hint: str | None) -> None:
    turn = through_rasa(codec.encode(InboundMessage("t", "u", payload=payload, lang_hint=hint)))
    assert turn.intent == codec.BUTTON_INTENT and turn.payload == codec.clean_text(payload)
    assert turn.hint == hint


@settings(max_examples=100, deadline=None)
@given(name=st.sampled_from(COMMANDS), argument=st.none() | st.sampled_from(["es", "zh_Hans", "de"]),
       junk=st.sampled_from(["", " Maria Lopez", " 123 Main St"]))
def test_a_command_round_trips_and_drops_what_is_not_a_language(
        name: str, argument: str | None, junk: str) -> None:
    typed = f"/{name}" + (f" {argument}" if argument else junk)
    turn = through_rasa(codec.encode(InboundMessage("t", "u", text=typed)))
    assert turn.intent == codec.COMMAND_INTENT and turn.command == name
    assert turn.argument == argument  # a name or an address typed after it is never kept


@settings(max_examples=50, deadline=None)
@given(name=st.sampled_from(sorted(SYSTEM_COMMANDS)))
def test_system_turns_round_trip(name: str) -> None:
    assert through_rasa(codec.encode_command(name)).command == name


def test_an_unknown_command_is_a_fallback_not_a_rasa_intent() -> None:
    turn = through_rasa(codec.encode(InboundMessage("t", "u", text="/greet")))
    assert turn.intent == codec.COMMAND_INTENT or turn.intent != "greet"
    assert codec.decode(codec.COMMAND_INTENT, [{"entity": "command", "value": "greet"}],
                        "/greet", None).intent == codec.FALLBACK_INTENT


@settings(max_examples=200, deadline=None)
@given(typed=text, lang=st.sampled_from(["en", "es", "uk"]),
       p=st.floats(min_value=0, max_value=1, allow_nan=False))
def test_free_text_carries_the_detected_language_to_the_policy(typed: str, lang: str, p: float) -> None:
    encoded = codec.encode(InboundMessage("t", "u", text=typed), lambda _: (lang, p),
                           lambda t: len(t.split()))
    if encoded.parse_data is not None:  # a command, or nothing to read
        return
    assert not encoded.text.startswith("/")  # never Rasa's own intent syntax
    turn = through_rasa(encoded)
    assert (turn.detected, turn.detected_p) == (lang, p)
    assert turn.words == len(encoded.text.split()) and turn.text == encoded.text


def test_media_is_the_media_command_and_keeps_no_text() -> None:
    encoded = codec.encode(InboundMessage("t", "u", text="caption", media="sticker"))
    assert encoded.text == "" and through_rasa(encoded).command == "media"
    # A photo is its own command (the answer offers a person); nobody can type it.
    photo = codec.encode(InboundMessage("t", "u", text="caption", media="photo"))
    assert photo.text == "" and through_rasa(photo).command == "photo"
    assert through_rasa(codec.encode(InboundMessage("t", "u", text="/photo"))).command != "photo"


buttons = st.lists(st.builds(Button, text, text), max_size=4).map(tuple)
messages = st.builds(
    OutboundMessage, text=text, buttons=buttons, lang=st.sampled_from(["en", "es", "ar"]),
    flow=st.none() | word, step=st.none() | word,
    action=st.none() | st.sampled_from([codec.HANDOFF, "delete_my_data"]),
    topic=st.none() | word, urgent=st.booleans())


@settings(max_examples=200, deadline=None)
@given(sent=st.lists(messages, min_size=1, max_size=4), trail=st.lists(word, max_size=6).map(tuple))
def test_replies_round_trip_and_the_trail_rides_on_the_handoff_only(
        sent: list[OutboundMessage], trail: tuple[str, ...]) -> None:
    packed = codec.pack(sent, trail)
    assert packed["text"] == sent[-1].text  # what Rasa records as the BotUttered
    expected = [OutboundMessage(m.text, m.buttons, m.lang, m.flow, m.step, m.action, m.topic,
                                m.urgent, trail if m.action == codec.HANDOFF else ())
                for m in sent]
    assert codec.unpack(packed) == expected


def test_a_message_not_from_our_nlg_keeps_what_rasa_gives() -> None:
    assert codec.unpack({"text": "hi", "buttons": [{"title": "A", "payload": "/a"}]}) == [
        OutboundMessage("hi", (Button("A", "/a"),))]
