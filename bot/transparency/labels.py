"""Words of the report: table titles, notes and the names of every column value."""

from __future__ import annotations

from babel import Locale, UnknownLocaleError

from bot.transparency.areas import area_name
from bot.transparency.i18n import N_, Translator

TITLES = {
    "topics": N_("Topics residents opened, by week"),
    "conversations": N_("Conversations started, by language and week"),
    "tickets": N_("Requests to talk to a person, by topic and week"),
    "urgent": N_("Urgent requests (someone in danger now), by week"),
    "waits": N_("How long residents waited for a person, by week"),
    "dispositions": N_("How requests to a person ended, by week"),
    "deletions": N_("Residents who deleted their data, by channel and week"),
    "deliveries_failed": N_("Messages that could not be delivered, by channel and week"),
    "reports": N_("Reports of enforcement activity, by community area and verification"),
    "alerts": N_("Alerts sent to subscribers, by community area"),
}

CHART_TITLES = {
    "topics": TITLES["topics"],
    "conversations": N_("Conversations started, by language"),
    "waits": N_("How long residents waited for a person"),
    "reports": N_("Reports of enforcement activity: verified or not, by community area"),
    "alerts": TITLES["alerts"],
}

NOTES = {
    "topics": N_("Each time a resident opened a topic's first screen."),
    "conversations": N_("A conversation starts with a resident's first message, or their first "
                        "after their data was deleted."),
    "tickets": N_("A request opens when a resident asks for a person, or a rights script "
                  "offers one."),
    "urgent": N_("Urgent from the start, or made urgent while the resident waited."),
    "waits": N_("From the request to a person taking it; requests made while the hotline "
                "was closed are counted apart."),
    "dispositions": N_("As chosen by staff when closing, or the resident stopping the wait."),
    "deletions": N_("A resident can erase everything about them with one command."),
    "deliveries_failed": N_("Refused by the platform, or reported failed by it afterwards."),
    "reports": N_("Reports are verified by people before any alert is sent. Areas with few "
                  "reports are merged into \"other\"."),
    "alerts": N_("Areas with few alerts are merged into \"other\"."),
}

VALUES = {
    "topic": {
        "ice_at_door": N_("Agents at the door"), "stopped_in_public": N_("Stopped in public"),
        "workplace_raid": N_("Workplace raid"), "arrest_detention": N_("Arrest or detention"),
        "warrant_check": N_("Checking a warrant"), "remain_silent": N_("Right to remain silent"),
        "legal_help": N_("Finding legal help"), "report_activity": N_("Reporting activity"),
        "talk_to_person": N_("Talk to a person"), "safety_plan": N_("Family safety plan"),
        "local_protections": N_("Local protections"), "change_language": N_("Change language"),
        "delete_my_data": N_("Delete my data"),
    },
    "channel": {"telegram": N_("Telegram"), "whatsapp": N_("WhatsApp"),
                "console": N_("Terminal (testing)")},
    "how": {"opened": N_("Urgent from the start"), "escalated": N_("Made urgent while waiting")},
    "wait": {"under_5m": N_("Under 5 minutes"), "5_15m": N_("5 to 15 minutes"),
             "15_60m": N_("15 to 60 minutes"), "1_4h": N_("1 to 4 hours"),
             "over_4h": N_("Over 4 hours"), "after_hours": N_("Asked while the hotline was closed")},
    "disposition": {"resolved": N_("Resolved"), "referred_legal_help": N_("Referred to legal help"),
                    "rapid_response_sent": N_("Rapid response sent"),
                    "no_reply": N_("No reply from the resident"),
                    "information_only": N_("Information only"),
                    "resident_stopped": N_("The resident stopped waiting")},
    "outcome": {"verified": N_("Verified"), "unverified": N_("Could not be verified"),
                "not_confirmed": N_("Not confirmed by a verifier"), "pending": N_("Being verified")},
    "": {"count": N_("Count")},
}
HIDDEN_NOTE = N_("Gaps and missing bars: counts hidden to protect residents (fewer than {n}, "
                 "or able to reveal one).")
OTHER = N_("Other")
TOTAL = N_("Total")


def value_label(_: Translator, dimension: str, value: str) -> str:
    if value == "other":
        return _.of(OTHER)
    if dimension == "language":
        # In the report's language and script (charts are drawn with a Latin font).
        code = {"zh_hans": "zh_Hans"}.get(value, value)
        try:
            name = str(Locale.parse(code).get_display_name(_.lang))
            return name[:1].upper() + name[1:]
        except (ValueError, UnknownLocaleError):
            return value
    known = VALUES.get(dimension, {}).get(value)
    return _.of(known) if known else value


def row_label(_: Translator, axis: str, value: str) -> str:
    if axis == "area":
        return _.of(OTHER) if value == "other" else area_name(value)
    return value  # a block's first day, ISO: the same in every language
