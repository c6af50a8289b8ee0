"""End-to-end conversations through Rasa, the flow policy, Babel NLG and SQLite."""

from __future__ import annotations

import dataclasses
from collections import deque

import pytest

from bot.core.dialogue import MENU_FLOW
from bot.core.flows import Flow
from bot.app.services import Services
from bot.testing import TestBot

FALLBACK = "Sorry, I didn't understand."


def waiting_step(flows: dict[str, Flow], flow_id: str, step_id: str) -> tuple[str, str]:
    """Where a conversation waits after entering (flow, step): follow next/next_flow."""
    for _ in range(20):
        step = flows[flow_id].steps[step_id]
        if step.next:
            step_id = step.next
        elif step.next_flow:
            flow_id, step_id = step.next_flow, flows[step.next_flow].first.id
        else:
            return flow_id, step_id
    raise AssertionError("next chain too long")


COLLECTING = ("subscribe", "file_report")  # steps said only with what their flow collected


def first_question(flows: dict[str, Flow], flow_id: str) -> tuple[str, str]:
    """Where an old button to a collecting step leads when nothing was collected."""
    step = next(s.id for s in flows[flow_id].steps.values() if s.action == "pick_area" or s.collect)
    return waiting_step(flows, flow_id, step)


async def typed_area(bot: TestBot, flows: dict[str, Flow], reply) -> list:  # type: ignore[no-untyped-def,type-arg]
    """At a step that asks for an area, the typed answer "24", then the first button of
    each step after it, at once (what the flow collects is this visit's), up to the step
    that uses it: the replies on the way."""
    flow_id, step_id = waiting_at(reply)
    step = flows[flow_id].steps.get(step_id) if flow_id in flows else None
    if step is None or step.action != "pick_area" or step.picked is None:
        return []
    after = await bot.say("24")
    assert_well_formed(after, flows)
    assert waiting_at(after) == waiting_step(flows, flow_id, step.picked)
    replies = [after]
    for _ in range(6):
        at = flows[flow_id].steps[waiting_at(after)[1]]
        if at.action in COLLECTING or not at.options or waiting_at(after)[0] != flow_id:
            break
        after = await bot.press_payload(after[-1].buttons[0].payload)
        assert_well_formed(after, flows)
        replies.append(after)
    assert flows[flow_id].steps[waiting_at(after)[1]].action in COLLECTING, waiting_at(after)
    return replies


def assert_well_formed(reply, flows: dict[str, Flow]) -> None:  # type: ignore[no-untyped-def]
    assert reply, "the bot must always answer"
    for message in reply:
        assert message.text.strip(), "no empty message"
        assert len(message.text) <= 4096
        assert all(len(b.title) <= 20 for b in message.buttons), message.buttons
    steps = [m.step for m in reply]
    if "handoff_urgent" in steps:  # someone in danger: the answer, one status, the question
        at = steps.index("handoff_urgent")
        assert at <= 1 and reply[-1].buttons[-1].payload == "/stop"  # "Stop waiting" numbered last
        last = dataclasses.replace(reply[-1], buttons=reply[-1].buttons[:-1])
        if at == len(reply) - 1:  # the answer's own buttons moved under the status: as if
            answer = reply[at - 1]  # the answer still carried them
            reply = reply[:at - 1] + [dataclasses.replace(answer, buttons=last.buttons)]
        else:
            reply = reply[:at] + reply[at + 1:-1] + [last]
    if "handoff_status" in steps:  # a ticket opened: the place in line, then a way to stop
        tail = reply[steps.index("handoff_status"):]
        assert [m.step for m in tail] == ["handoff_status", "handoff_privacy"]
        assert [b.payload for b in tail[-1].buttons] == ["/stop"]  # it ends at the menu
        reply = reply[:steps.index("handoff_status")]
        if not reply:  # asked again while waiting: only where they stand
            return
    last = reply[-1]
    titles = [b.title for b in last.buttons]
    if last.flow != MENU_FLOW:
        assert "Main menu" in titles, (last.flow, last.step, titles)
    if last.flow != "talk_to_person":
        assert "Talk to a person" in titles, (last.flow, last.step, titles)
    assert all(not m.buttons for m in reply[:-1]), "only the last message carries buttons"


def waiting_at(reply) -> tuple:  # type: ignore[no-untyped-def,type-arg]
    """Where the conversation waits: the last step said (handoff notices come after it)."""
    return next(((m.flow, m.step) for m in reversed(reply) if m.flow != "system"),
                (reply[-1].flow, reply[-1].step))


async def test_first_contact_greets_and_offers_every_language(services: Services, bot: TestBot) -> None:
    reply = await bot.say("hello")
    assert reply[0].step == "greeting" and reply[0].flow == "system"
    assert bot.where == ("change_language", "pick")
    titles = [b.title for b in reply[-1].buttons]
    assert titles[:8] == ["English", "Español", "Polski", "中文", "العربية", "Français",
                          "Kreyòl ayisyen", "Українська"][:len(services.languages)]
    menu = await bot.press("English")
    assert bot.where == ("main_menu", "menu")
    assert "Agents at my door" in [b.title for b in menu[-1].buttons]


async def test_every_flow_and_every_branch_by_pressing_real_buttons(services: Services, bot: TestBot) -> None:
    """Breadth-first over every button the bot shows: each lands where the flow says."""
    flows = services.renderer.dialogue.flows
    first = await bot.say("/menu")
    assert_well_formed(first, flows)
    visited: set[tuple[str, str]] = set()
    queue = deque([first])
    for command in ("/help", "/human", "/lang", "/delete"):  # the ways in that are not buttons
        reply = await bot.say(command)
        assert_well_formed(reply, flows)
        queue.append(reply)
    pressed = 0
    while queue:
        reply = queue.popleft()
        for message in reply:
            if message.flow in flows:
                visited.add((message.flow, message.step))
        for source in [m for m in reply if m.buttons]:  # a step's, and "Stop waiting"
            for button in source.buttons:
                if button.payload in ("/menu", "/human") and (source.flow, source.step) != ("main_menu", "menu"):
                    continue  # the global buttons are tested once, from the menu
                if button.payload.startswith("/lang "):
                    continue  # the language picker has its own test
                after = await bot.press_payload(button.payload)
                pressed += 1
                assert_well_formed(after, flows)
                assert after[-1].step != "fallback" and FALLBACK not in after[-1].text, button
                if ":" in button.payload:
                    flow_id, rest = button.payload.split(":", 1)
                    step_id, target = rest.split(">", 1)
                    target = target.split("#", 1)[0]  # a second button to the same target
                    if target.startswith("@"):
                        expected = waiting_step(flows, target[1:], flows[target[1:]].first.id)
                    else:
                        expected = waiting_step(flows, flow_id, target)
                    allowed = {expected}
                    if flows[expected[0]].steps[expected[1]].action in COLLECTING:
                        allowed.add(first_question(flows, expected[0]))  # an old "Done"
                    assert waiting_at(after) in allowed, button
                if waiting_at(after) not in visited:
                    queue.append(after)
                for typed in await typed_area(bot, flows, after):  # steps only typing reaches
                    if waiting_at(typed) not in visited:
                        visited.add(waiting_at(typed))
                        queue.append(typed)
    every_step = {(f.id, s) for f in flows.values() for s in f.steps}
    assert every_step - visited == set(), "steps no button reaches"
    assert pressed > 50


async def test_branches_lead_to_different_advice(bot: TestBot) -> None:
    await bot.say("/menu")
    await bot.press("Agents at my door")
    await bot.press("Yes")
    signed = await bot.press_payload("ice_at_door:ask_signed>judicial")
    await bot.say("/menu")  # waiting for a person: the menu asks first
    await bot.press("Stop waiting")
    await bot.press("Agents at my door")
    await bot.press("Yes")
    unsigned = await bot.press_payload("ice_at_door:ask_signed>administrative")
    assert signed[-1].step != unsigned[-1].step
    assert "I-200" in unsigned[-1].text or "I-205" in unsigned[-1].text


@pytest.mark.parametrize("text,flow", [
    ("ICE is knocking on my door", "ice_at_door"),
    ("my husband was detained by immigration this morning", "arrest_detention"),
    ("cops pulled me over, what do I do", "stopped_in_public"),
    ("i need a free lawyer", "legal_help"),
    ("can i talk to a real person", "talk_to_person"),
    ("will chicago police ask about my status", "local_protections"),
    ("la migra esta en mi puerta", "ice_at_door"),
    ("please delete my data", "delete_my_data"),
])
async def test_free_text_reaches_the_right_flow(bot: TestBot, text: str, flow: str) -> None:
    await bot.say("/menu")
    reply = await bot.say(text)
    assert waiting_at(reply)[0] == flow, [m.step for m in reply]


async def test_out_of_scope_is_not_guessed_into_a_rights_flow(bot: TestBot) -> None:
    await bot.say("/menu")
    reply = await bot.say("what's the weather tomorrow, do I need an umbrella")
    assert reply[-1].text.startswith(FALLBACK)
    assert bot.where == ("main_menu", "menu")


async def test_disclaimer_once_per_conversation(bot: TestBot) -> None:
    await bot.say("/menu")
    question = await bot.press("Agents at my door")  # a question, not yet a rights text
    first = await bot.press("No")  # the first rights text: the disclaimer goes with it
    second = await bot.say("/menu")
    third = await bot.press("Stopped in public")
    fourth = await bot.press("No")
    notices = [m.step for m in question + first + second + third + fourth if m.step == "disclaimer"]
    assert notices == ["disclaimer"]
    assert "not legal advice" in first[0].text


async def test_the_first_answer_to_danger_comes_before_the_disclaimer(bot: TestBot) -> None:
    await bot.say("/menu")
    await bot.press("Agents at my door")
    urgent = await bot.press("Yes")
    assert [m.step for m in urgent] == ["at_door", "handoff_urgent", "ask_signed"]
    after = await bot.press("No")
    assert [m.step for m in after] == ["disclaimer", "administrative"]  # it follows


@pytest.mark.parametrize("command,flow", [
    ("/menu", "main_menu"), ("/human", "talk_to_person"), ("/delete", "delete_my_data"),
    ("/help", "help"), ("/lang", "change_language"),
])
async def test_commands_work_in_the_middle_of_a_flow(bot: TestBot, command: str, flow: str) -> None:
    await bot.say("/menu")
    await bot.press("Agents at my door")
    reply = await bot.say(command)
    assert waiting_at(reply)[0] == flow


async def test_language_choice_returns_to_where_the_resident_was(bot: TestBot) -> None:
    await bot.say("/menu")
    await bot.press("Agents at my door")
    where = bot.where
    picker = await bot.say("/lang")
    assert [b.title for b in picker[-1].buttons][:1] == ["English"]
    reply = await bot.press("English")
    assert reply[0].step == "language_set"
    assert bot.where == where


async def test_typed_answers_and_numbers_choose_buttons(bot: TestBot) -> None:
    await bot.say("/menu")
    await bot.press("Agents at my door")
    reply = await bot.say("YES")
    assert bot.where == ("ice_at_door", "ask_signed"), [m.step for m in reply]
    await bot.say("3")  # the third button: "Not sure"
    assert bot.where == ("ice_at_door", "not_sure")


@pytest.mark.parametrize("bad", [
    "", "   ", "x" * 10_000, "😱😱😱🙏", "\x00\x01\x02\x1b[31m", "\ud800 broken surrogate",
    "/", "//", "/kyr_command", '/kyr_command{"command":"zzz"}', '/kyr_button{"payload":"x"}',
    "@@@ ### !!!",
])
async def test_bad_text_gets_a_short_answer_and_loses_nothing(bot: TestBot, bad: str) -> None:
    await bot.say("/menu")
    await bot.press("Agents at my door")
    where = bot.where
    reply = await bot.say(bad)
    assert reply[-1].text.startswith(FALLBACK)
    assert bot.where == where
    titles = [b.title for b in reply[-1].buttons]
    assert {"Yes", "No", "Main menu", "Talk to a person"} <= set(titles)
    await bot.press("Yes")  # the conversation goes on where it was
    assert bot.where == ("ice_at_door", "ask_signed")


@pytest.mark.parametrize("text", ["/restart", "/ice_at_door", "/unknown_command with words",
                                  "/lang\tes", "/menu\u00a0now"])
async def test_slash_text_is_never_rasa_intent_syntax(services: Services, bot: TestBot, text: str) -> None:
    """Rasa would read '/name' as an intent (and '/restart' would wipe the tracker)."""
    await bot.say("/menu")
    reply = await bot.say(text)
    assert reply and reply[-1].buttons
    tracker = await services.engine.store.retrieve(services.conversation.resident(bot_inbound(bot)))
    assert tracker is not None
    assert not any(e.as_dict().get("event") == "restart" for e in tracker.events)


@pytest.mark.parametrize("payload", [
    "nonsense", "ice_at_door:no_such_step>x", "ice_at_door:ask_now>no_such_target",
    "no_such_flow:a>b", "/unknown", "", "x" * 5000,
])
async def test_unknown_or_stale_button_payloads(bot: TestBot, payload: str) -> None:
    await bot.say("/menu")
    await bot.press("Stopped in public")
    where = bot.where
    reply = await bot.press_payload(payload)
    assert reply[-1].text.startswith(FALLBACK)
    assert bot.where == where


async def test_state_pointing_at_a_removed_step_recovers(services: Services, bot: TestBot) -> None:
    """After a content change a stored conversation may wait at a step that is gone."""
    from rasa.shared.core.events import SlotSet

    await bot.say("/menu")
    await bot.press("Agents at my door")
    sender = services.conversation.resident(bot_inbound(bot))
    tracker = await services.engine.store.retrieve(sender)
    state = dict(tracker.get_slot("kyr_state"), step="step_removed_by_editor")
    tracker.update(SlotSet("kyr_state", state))
    await services.engine.store.save(tracker)
    reply = await bot.say("what is the weather tomorrow")
    assert reply[-1].text.startswith(FALLBACK)
    assert bot.where == ("main_menu", "menu")
    resumed = await bot.say("/resume")
    assert resumed[-1].flow == "main_menu"


def bot_inbound(bot: TestBot):  # type: ignore[no-untyped-def]
    from bot.core.messages import InboundMessage

    return InboundMessage("test", bot.user, text="")


async def test_delete_my_data_erases_the_conversation(services: Services, bot: TestBot) -> None:
    await bot.say("/menu")
    await bot.press("Agents at my door")
    sender = services.conversation.resident(bot_inbound(bot))
    assert await services.engine.store.retrieve(sender) is not None
    await bot.say("/delete")
    kept = await bot.press("No, keep it")
    assert kept[-1].step == "kept"
    assert await services.engine.store.retrieve(sender) is not None
    await bot.say("/delete")
    done = await bot.press("Yes, delete")
    assert done[-1].step == "done"
    assert await services.engine.store.retrieve(sender) is None
    again = await bot.say("hello")
    assert again[0].step == "greeting"


@pytest.mark.parametrize("words", [
    "my neighbour Rosalinda Quintero-Vasquez was taken",
    "/ my name is Rosalinda Quintero, no papers",
    "/human my name is Rosalinda Quintero A012345678",
    "/start Rosalinda Quintero 123 Main St",
    "/lang Rosalinda",
])
async def test_resident_words_are_not_stored_printed_or_logged(
        services: Services, bot: TestBot, words: str, caplog, capfd, recwarn) -> None:  # type: ignore[no-untyped-def]
    import logging

    import sqlalchemy as sa

    from bot.storage.db import conversations

    with caplog.at_level(logging.DEBUG):
        await bot.say("hello")
        reply = await bot.say(words)
    assert reply, "still answered"
    out, err = capfd.readouterr()
    assert "Rosalinda" not in caplog.text + out + err
    assert not any("Rosalinda" in str(w.message) for w in recwarn)
    resident = services.conversation.resident(bot_inbound(bot))
    with services.db.connect() as connection:
        row = connection.execute(sa.select(conversations.c.events)
                                 .where(conversations.c.resident == resident)).scalar()
    assert row is not None and "Rosalinda" not in row and "A012345678" not in row
    assert bot.user not in resident  # only the keyed hash


async def test_an_old_button_into_a_rights_flow_still_shows_the_disclaimer(bot: TestBot) -> None:
    reply = await bot.press_payload("ice_at_door:ask_signed>judicial")
    steps = [m.step for m in reply]
    assert steps[:2] == ["greeting", "disclaimer"] and steps[-1] == "judicial"


async def test_first_message_lang_still_greets(bot: TestBot) -> None:
    reply = await bot.say("/lang en")
    assert reply[0].step == "greeting"
    assert bot.where == ("main_menu", "menu")


async def test_a_stale_picker_return_is_not_used(bot: TestBot) -> None:
    await bot.say("/menu")
    await bot.press("Agents at my door")
    await bot.say("/lang")
    await bot.press("Main menu")
    await bot.press("Stopped in public")
    where = bot.where
    reply = await bot.say("/lang en")
    assert bot.where == where, [m.step for m in reply]


@pytest.mark.parametrize("typed", ["²", "①", "٣"])
async def test_unusual_digits_are_answered_not_crashed(bot: TestBot, typed: str) -> None:
    await bot.say("/menu")
    await bot.press("Agents at my door")
    reply = await bot.say(typed)
    assert reply and reply[-1].buttons  # "٣" (3) picks the third button; the others are not numbers


async def test_a_language_not_offered_is_said_so(services: Services, bot: TestBot) -> None:
    await bot.say("/menu")
    reply = await bot.say("/lang de")
    assert services.renderer.text("en", "ui.language_unavailable") in [m.text for m in reply]
    assert bot.where == ("change_language", "pick")
