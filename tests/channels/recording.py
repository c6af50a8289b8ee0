"""A channel test double for relay tests: records what would have gone to the resident,
serves the photos and voice notes a test puts in `files`, records typing indicators."""

from __future__ import annotations

from typing import Optional

from bot.channels.base import Channel
from bot.core.delivery import SENT, Capabilities, SendResult, refused
from bot.core.media import MAX_BYTES, Fetched, Unavailable, check_size
from bot.core.messages import OutboundMessage


class RecordingChannel(Channel):
    def __init__(self, name: str, refuse: Optional[str] = None,
                 capabilities: Capabilities = Capabilities()) -> None:
        self.name = name
        self.capabilities = capabilities  # e.g. WhatsApp's 24-hour window
        self.refuse = refuse  # a reason to refuse every send with, like a platform would
        self.sent: list[tuple[str, str]] = []  # (recipient, text)
        self.messages: list[OutboundMessage] = []
        self.files: dict[str, Fetched | Exception] = {}  # media ref -> what fetching it gives
        self.fetched: list[str] = []
        self.typed: list[tuple[str, Optional[str]]] = []  # (recipient, message id)

    async def send(self, recipient: str, message: OutboundMessage) -> SendResult:
        if self.refuse is not None:
            return refused(self.refuse)
        self.sent.append((recipient, message.text))
        self.messages.append(message)
        return SENT

    async def fetch_media(self, ref: str, limit: int = MAX_BYTES) -> Fetched:
        self.fetched.append(ref)
        found = self.files.get(ref)
        if found is None:
            raise Unavailable("not on the test platform")
        if isinstance(found, Exception):
            raise found
        check_size(len(found.data), limit)
        return found

    async def typing(self, recipient: str, message_id: Optional[str] = None) -> bool:
        self.typed.append((recipient, message_id))
        return True
