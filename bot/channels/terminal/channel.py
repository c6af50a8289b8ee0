"""The terminal channel: an interactive chat, and script mode for end-to-end tests.

Script mode reads one JSON object per line ({"text": ...} or {"button": ...}, optional
"user") and writes one JSON object per bot message to stdout, and nothing else there.
"""

from __future__ import annotations

import json
import sys
from typing import IO, Any, Iterable, Optional, Protocol

from bot.channels.base import Channel, numbered_text
from bot.core.delivery import SENT, SendResult
from bot.core.i18n import normalise
from bot.core.messages import InboundMessage, OutboundMessage

CHANNEL = "console"
DEFAULT_USER = "local"


class Conversation(Protocol):
    """The two callbacks the terminal is handed (bot.app.conversation implements them)."""

    async def handle(self, inbound: InboundMessage) -> list[OutboundMessage]: ...

    async def has_conversation(self, inbound: InboundMessage) -> bool: ...


def as_json(user: str, message: OutboundMessage) -> str:
    return json.dumps({
        "user": user,
        "text": message.text,
        "buttons": [{"title": b.title, "payload": b.payload} for b in message.buttons],
        "lang": message.lang,
        "flow": message.flow,
        "step": message.step,
    }, ensure_ascii=False)


def parse_script_line(raw: bytes, default_user: str) -> tuple[str, Optional[InboundMessage]]:
    """One input line -> (user, message); None for a blank line. Never raises."""
    line = raw.decode("utf-8", errors="replace").strip()
    if not line:
        return default_user, None
    try:
        turn: Any = json.loads(line)
    except ValueError:
        turn = None
    if not isinstance(turn, dict):
        # Not a JSON object: answer as to unreadable input, losing nothing.
        return default_user, InboundMessage(CHANNEL, default_user, text="")
    user = str(turn.get("user") or default_user).encode("utf-8", "replace").decode("utf-8")
    button = turn.get("button")
    if button is not None:
        return user, InboundMessage(CHANNEL, user, payload=str(button))
    text = turn.get("text")
    return user, InboundMessage(CHANNEL, user, text=text if isinstance(text, str) else "")


class ScriptChannel(Channel):
    name = CHANNEL

    def __init__(self, out: IO[str]) -> None:
        self.out = out

    async def send(self, recipient: str, message: OutboundMessage) -> SendResult:
        self.out.write(as_json(recipient, message) + "\n")
        self.out.flush()
        return SENT


async def run_script(conversation: Conversation, lines: Iterable[bytes], out: IO[str],
                     lang: Optional[str] = None, default_user: str = DEFAULT_USER) -> None:
    seen: set[str] = set()
    async with ScriptChannel(out) as channel:
        for raw in lines:
            user, inbound = parse_script_line(raw, default_user)
            if inbound is None:
                continue
            if lang and user not in seen and not await conversation.has_conversation(inbound):
                start = InboundMessage(CHANNEL, user, text=f"/start {lang}")
                for reply in await conversation.handle(start):
                    await channel.send(user, reply)
            seen.add(user)
            for reply in await conversation.handle(inbound):
                await channel.send(user, reply)


class TerminalChannel(Channel):
    """Buttons as numbered choices; pick by number or by typing the title."""

    name = CHANNEL

    def __init__(self, out: IO[str] = sys.stdout) -> None:
        self.out = out
        self.last_buttons: list[tuple[str, str]] = []  # every button of the last reply, numbered
        self._fresh = True

    def begin_reply(self) -> None:
        """A new reply: its buttons replace the last reply's, numbered from 1 across all of
        its messages (the step's answers first, then "Stop waiting")."""
        self._fresh = True

    async def send(self, recipient: str, message: OutboundMessage) -> SendResult:
        if message.buttons and self._fresh:
            self.last_buttons, self._fresh = [], False
        self.out.write("\n" + numbered_text(message, len(self.last_buttons) + 1) + "\n")
        self.out.flush()
        self.last_buttons += [(b.title, b.payload) for b in message.buttons]
        return SENT

    def to_inbound(self, user: str, typed: str) -> InboundMessage:
        wanted = typed.strip()
        if wanted.isdecimal() and 1 <= int(wanted) <= len(self.last_buttons):
            return InboundMessage(CHANNEL, user, payload=self.last_buttons[int(wanted) - 1][1])
        for title, payload in self.last_buttons:
            if normalise(title) == normalise(wanted) and wanted:
                return InboundMessage(CHANNEL, user, payload=payload)
        return InboundMessage(CHANNEL, user, text=typed)


async def run_terminal(conversation: Conversation, lang: Optional[str], user: str = DEFAULT_USER,
                       stdin: IO[str] = sys.stdin, out: IO[str] = sys.stdout) -> None:
    async with TerminalChannel(out) as channel:
        first = InboundMessage(CHANNEL, user, text="")
        if await conversation.has_conversation(first):
            opening = f"/lang {lang}" if lang else "/resume"
        else:
            opening = f"/start {lang}" if lang else "/start"
        for reply in await conversation.handle(InboundMessage(CHANNEL, user, text=opening)):
            await channel.send(user, reply)
        while True:
            out.write("\n> ")
            out.flush()
            typed = stdin.readline()
            if not typed:
                out.write("\n")
                return
            replies = await conversation.handle(channel.to_inbound(user, typed.rstrip("\n")))
            channel.begin_reply()
            if not replies:  # a ticket is open: the line went to the hotline's transcript
                out.write("\n(kept for the hotline staff; in the terminal no one can answer. "
                          "/stop ends the wait)\n")
            for reply in replies:
                await channel.send(user, reply)
