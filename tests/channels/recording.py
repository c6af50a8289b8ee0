"""A channel test double for relay tests: records what would have gone to the resident."""

from __future__ import annotations

from typing import Optional

from bot.channels.base import Channel
from bot.core.delivery import SENT, Capabilities, SendResult, refused
from bot.core.messages import OutboundMessage


class RecordingChannel(Channel):
    def __init__(self, name: str, refuse: Optional[str] = None,
                 capabilities: Capabilities = Capabilities()) -> None:
        self.name = name
        self.capabilities = capabilities  # e.g. WhatsApp's 24-hour window
        self.refuse = refuse  # a reason to refuse every send with, like a platform would
        self.sent: list[tuple[str, str]] = []  # (recipient, text)
        self.messages: list[OutboundMessage] = []

    async def send(self, recipient: str, message: OutboundMessage) -> SendResult:
        if self.refuse is not None:
            return refused(self.refuse)
        self.sent.append((recipient, message.text))
        self.messages.append(message)
        return SENT
