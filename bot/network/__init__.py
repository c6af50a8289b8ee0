"""The rapid-response network (issue 15): reports of enforcement activity and their
verification, alerts that two people agree on, and the residents subscribed to them.

Each state machine has one writer (ReportService, AlertService), as tickets have
(bot.handoff.tickets): a transition is one conditional UPDATE (WHERE state = what the
caller expects), so of two people acting at once exactly one wins and the other is told
why; every transition appends an event with its actor and time, and the newest event id
is the version the console watches. This package imports bot.core and bot.storage only:
the application layer (bot.app.services) composes it with the counters and residents.
"""

from __future__ import annotations

# Street text (an address refused in alerts, house numbers dropped from reports) and the
# actors of the event logs are the core's, shared with the ticket service and the console.
from bot.core.actors import same_person, staff_actor, staff_name
from bot.core.streets import looks_like_address, without_house_numbers

__all__ = ["staff_actor", "staff_name", "same_person", "looks_like_address", "without_house_numbers"]
