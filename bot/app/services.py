"""The composition root: every service of a running bot, built once, typed.

`kyr chat`, `kyr serve` and the tests build one `Services`; channels are added by the
caller (bot.web.app or the terminal), which knows the platforms; the app does not.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
from dataclasses import dataclass, field
from typing import Callable, cast

from sqlalchemy.engine import Engine as Database

from bot.app.conversation import ConversationService, staff_presence
from bot.app.counters import Counters
from bot.app.held import HeldAnswers
from bot.app.outbox import SEND_BUDGET, Outbox
from bot.app.relay import Outlet, Relay, delivery_marks
from bot.app.residents import Residents
from bot.catalogs.checks import live_languages
from bot.catalogs.passed import passed
from bot.core.content import require_content
from bot.core.dialogue import Dialogue
from bot.core.flows import require_flows
from bot.core.i18n import Catalogs
from bot.core.media import MediaSource
from bot.core.languages import NATIVE_NAMES
from bot.core.render import Renderer
from bot.engine.engine import Engine
from bot.handoff.tickets import TicketService
from bot.network.alerts import AlertService
from bot.network.reports import ReportService
from bot.network.subscriptions import Subscriptions
from bot.settings import Settings
from bot.storage.db import make_engine
from bot.storage.tracker_store import KyrTrackerStore

logger = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    db: Database
    renderer: Renderer
    engine: Engine
    tickets: TicketService
    residents: Residents
    conversation: ConversationService
    counters: Counters
    outbox: Outbox  # every message to a resident: replies, staff replies, alerts
    # The rapid-response network (issue 15): reports, alerts, who subscribed (bot.network).
    reports: ReportService
    alerts: AlertService
    subscriptions: Subscriptions
    channels: dict[str, Outlet] = field(default_factory=dict)  # set by whoever runs channels

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages offered to residents (configured, with a catalog that passes)."""
        return self.renderer.dialogue.languages

    def media_source(self, channel: str) -> MediaSource | None:
        """The running channel that fetches photos and voice notes, if it can."""
        outlet = self.channels.get(channel)
        if outlet is None or not callable(getattr(outlet, "fetch_media", None)):
            return None
        return cast(MediaSource, outlet)

    @property
    def relay(self) -> Relay:
        return Relay(self.tickets, self.residents, self.conversation, self.channels, self.outbox)

    def purge_expired(self) -> None:
        """What the retention settings say must go: at start, and hourly in `kyr serve`."""
        days, hours = self.settings.retention_days, self.settings.transcript_hours
        conversations, lines = self.residents.purge_expired(dt.timedelta(days=days),
                                                            dt.timedelta(hours=hours))
        if conversations:
            logger.warning("deleted %d conversation(s) idle for over %d days", conversations, days)
        if lines:
            logger.warning("deleted the text of %d transcript line(s) of tickets closed over "
                           "%d hours ago", lines, hours)

    def reload_catalogs(self) -> bool:
        """Recompiled catalogs go live only if every live language still passes the checks."""
        return self.renderer.reload_if_changed(self._catalogs_pass)

    def _catalogs_pass(self) -> bool:
        """Every live language's new `.mo` was stamped as passing by `kyr i18n compile`."""
        dropped = [lang for lang in self.languages if not passed(self.settings.home, lang)]
        if dropped:
            logger.warning("recompiled catalogs not loaded: %s fail the checks (run 'kyr content "
                           "check'); the previous ones stay live", ", ".join(sorted(dropped)))
        return not dropped


def load_renderer(settings: Settings, seal: Callable[[str], str] | None = None) -> Renderer:
    """Flows, content and the catalogs of every language that passes its checks; `seal`
    seals typed cross streets for the state (without it they are not kept)."""
    flows = require_flows(settings.flows_dir)
    content = require_content(settings.content_dir)
    languages, dropped = live_languages(settings.home, settings.languages)
    for lang, errors in dropped.items():
        logger.warning("language %s is not offered: %s", lang,
                       "no compiled catalog (run 'kyr i18n compile')" if errors < 0 else
                       f"{errors} catalog error(s) (run 'kyr content check')")
    catalogs = Catalogs(settings.locales_dir, languages)
    renderer: Renderer
    dialogue = Dialogue(flows, lambda lang, key: renderer.label(lang, key), languages, NATIVE_NAMES,
                        is_legal=lambda key: key in content.texts and content.texts[key].legal,
                        seal=seal)
    renderer = Renderer(content, catalogs, dialogue)
    renderer.warm()
    return renderer


def settle() -> None:
    """Called once a long-running process (`kyr serve`'s workers, `kyr chat`) has built its
    services: what startup loaded (the model, the libraries, the flows and catalogs) lives
    as long as the process, so it is moved out of the garbage collector's way. Every full
    collection walked those ~280,000 objects: 0.35 ms of a 3.6 ms button press in the
    bench, 0.1 ms after (gc.freeze). What a catalog reload leaves behind in reference
    cycles among frozen objects is not collected: reloads are rare, and small. The young
    generation is collected after YOUNG_GC net allocations of container objects rather than
    Python's 700: a turn makes thousands of short-lived objects, nearly all freed by their
    reference counts before a collection would look at them (in-process A/B, alternating
    rounds of the bench's button mode: 2.47 -> 2.35 ms CPU a press, 416 -> 437 a second).
    Not for tests, which build services again and again. Once per process."""
    global _settled
    if not _settled:
        _settled = True
        gc.collect()
        gc.freeze()
        gc.set_threshold(YOUNG_GC, *gc.get_threshold()[1:])


_settled = False
YOUNG_GC = 20_000  # net allocations between young collections (Python's default: 700)


def build(settings: Settings) -> Services:
    """Everything a running bot needs, once; old data purged as the settings say."""
    db = make_engine(settings.database_url)
    secret = settings.secret_key()
    held = HeldAnswers(secret)  # typed cross streets, sealed while the flow holds them
    renderer = load_renderer(settings, seal=held.seal)
    store = KyrTrackerStore(None, db)
    engine = Engine.load(settings, renderer, store)
    counters = Counters(db)  # the transparency report's counts, written by each effect
    tickets = TicketService(db, secret, observer=counters.ticket_changed)
    reports = ReportService(db, secret, counters=counters)  # decided reports are counted
    alerts = AlertService(db, secret)
    subscriptions = Subscriptions(db)
    residents = Residents(db, secret, tickets, store, reports=reports, subscriptions=subscriptions,
                          alerts=alerts)
    conversation = ConversationService(engine, tickets, residents, renderer, counters=counters,
                                       held=held)
    conversation.presence = staff_presence(db)
    # At least two sends long (SEND_BUDGET): a send never outlives the lease it started in.
    outbox = Outbox(db, secret, lease=max(settings.lease_seconds, 2 * SEND_BUDGET))
    outbox.observers.append(delivery_marks(tickets))  # staff replies' sent / failed marks
    # What the resident's alerts and report steps write (bot.network).
    conversation.subscriptions, conversation.reports = subscriptions, reports
    services = Services(settings, db, renderer, engine, tickets, residents, conversation,
                        counters, outbox, reports=reports, alerts=alerts,
                        subscriptions=subscriptions)
    conversation.reload = services.reload_catalogs
    conversation.media_source = services.media_source
    services.purge_expired()
    return services
