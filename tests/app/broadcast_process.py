"""A process that starts an alert and is SIGKILLed mid-start by the test:
`python -m tests.app.broadcast_process URL ALERT_ID`. Batches of 20, a pause in each
transaction, `batch` printed after each commit."""

from __future__ import annotations

import sys
import time
from typing import Any

from bot.app.broadcast import Broadcaster
from bot.app.outbox import Outbox
from bot.network.alerts import AlertService
from bot.network.subscriptions import Subscriptions
from bot.storage.db import make_engine
from tests.app.broadcast_helpers import SECRET, Words


def main(url: str, alert_id: int) -> None:
    engine = make_engine(url)
    box = Outbox(engine, SECRET)
    sender = Broadcaster(engine, SECRET, box, AlertService(engine, SECRET), Subscriptions(engine),
                         Words(), tier=None, batch=20)
    real = sender._write_once

    def slow(alert: Any, batch: list[Any]) -> int:
        written = real(alert, batch)
        print("batch", flush=True)
        time.sleep(0.05)
        return written

    original_add = box.add

    def add(connection: Any, draft: Any) -> int:  # the kill lands inside transactions too
        time.sleep(0.002)
        return original_add(connection, draft)

    box.add = add  # type: ignore[method-assign]
    sender._write_once = slow  # type: ignore[method-assign]
    print("ready", flush=True)
    sender.start(alert_id)
    print("done", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
