"""The interactive terminal: numbered buttons, chosen by number or by their words."""

from __future__ import annotations

import io

from bot.channels.base import numbered_text
from bot.channels.terminal.channel import run_terminal
from bot.core.messages import Button, OutboundMessage


def test_buttons_degrade_to_a_numbered_list() -> None:
    message = OutboundMessage("Pick one", (Button("Yes", "a"), Button("No", "b")))
    assert numbered_text(message) == "Pick one\n\n1. Yes\n2. No"
    assert numbered_text(OutboundMessage("Plain")) == "Plain"


async def test_terminal_chat_by_number_and_by_words(services, user) -> None:  # type: ignore[no-untyped-def]
    out = io.StringIO()
    await run_terminal(services.conversation, None, user, stdin=io.StringIO("English\n1\nyes\n"), out=out)
    screen = out.getvalue()
    assert "1. English" in screen  # first contact: the language picker, numbered
    assert "1. Agents at my door" in screen  # chose English by typing it: the menu
    assert "Are immigration agents at your door right now?" in screen  # chose 1
    assert "signed by a judge of that court?" in screen  # typed "yes"
    again = io.StringIO()
    await run_terminal(services.conversation, None, user, stdin=io.StringIO(""), out=again)
    assert "Welcome back. Here is where you were." in again.getvalue()
    assert "signed by a judge of that court?" in again.getvalue()  # the step it waits at
    third = io.StringIO()  # restarting with --lang keeps the place too
    await run_terminal(services.conversation, "en", user, stdin=io.StringIO(""), out=third)
    assert "signed by a judge of that court?" in third.getvalue()
    # "yes" (agents at the door now) opened a ticket: coming back says they still wait, and
    # a sentence goes to the hotline while the bot still answers it (no staff wrote yet).
    assert "You are already waiting for a person." in again.getvalue()
    fourth = io.StringIO()
    await run_terminal(services.conversation, None, user, stdin=io.StringIO("they are knocking hard\n/stop\n"), out=fourth)
    assert "You stopped waiting." in fourth.getvalue()


async def test_one_reply_numbers_its_buttons_once(services, user) -> None:  # type: ignore[no-untyped-def]
    """The urgent answer's question and "Stop waiting" are one list: 1 is the question's
    first answer, "Stop waiting" comes last, and no number means two things."""
    out = io.StringIO()
    await run_terminal(services.conversation, "en", user, stdin=io.StringIO("/menu\n1\n1\n1\n"), out=out)
    screen = out.getvalue()
    reply = screen.split("Look at the paper.", 1)[1]  # agents at the door now: the question
    assert "1. Yes" in reply and "7. Stop waiting" in reply and "1. Stop waiting" not in screen
    assert "check that it names your address" in screen.lower()  # "1" answered "Yes"
