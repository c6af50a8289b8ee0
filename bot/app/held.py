"""Typed answers a flow holds until it uses them, sealed: a report's cross streets.

The conversation state lives in the tracker row (bot.storage.tracker_store), which keeps
no typed text. A report's cross streets are typed at one step and filed two taps later,
so the state holds them in between only as a token sealed with a key of their own
(derived from KYR_SECRET_KEY); the report seals them again with the reports' key
(bot.network.reports) and the token goes with the state once the report is filed, the
flow is left or the conversation is deleted.
"""

from __future__ import annotations

from typing import Optional

from cryptography.fernet import InvalidToken

from bot.storage.addresses import sealer


class HeldAnswers:
    def __init__(self, secret: bytes) -> None:
        self.fernet = sealer(secret, b"kyr-held-answers-v1")

    def seal(self, text: str) -> str:
        return self.fernet.encrypt(text.encode()).decode()

    def open(self, token: Optional[str]) -> Optional[str]:
        """The text, or None: no token, or one this key did not seal (KYR_SECRET_KEY changed)."""
        if not token:
            return None
        try:
            return self.fernet.decrypt(token.encode()).decode() or None
        except (InvalidToken, ValueError):
            return None
