"""The one inbound and one outbound message type every channel speaks."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Button:
    title: str
    payload: str


@dataclass(frozen=True)
class OutboundMessage:
    text: str
    buttons: tuple[Button, ...] = ()
    lang: str = "en"
    flow: str | None = None
    step: str | None = None
    action: str | None = None  # a service to run after the turn, e.g. delete_my_data
    topic: str | None = None  # for action "handoff": the flow the resident asked for help in
    urgent: bool = False  # for action "handoff": someone is in danger now
    trail: tuple[str, ...] = ()  # for action "handoff": the steps that led here, for staff
    # For actions "subscribe" and "file_report": the area codes picked ("c24", "s-cicero")
    # and the answers collected by button (("what", "agents"), ("when", "now"), ...).
    areas: tuple[str, ...] = ()
    answers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class InboundMessage:
    """What a resident sent: free text, a button payload, or both absent (media)."""

    channel: str
    user: str  # the platform's id of the resident; hashed before it reaches the engine
    text: str | None = None
    payload: str | None = None
    lang_hint: str | None = None
    media: str | None = None  # "photo", "voice", "sticker", ...: something that is not text
    metadata: dict[str, str] = field(default_factory=dict)
