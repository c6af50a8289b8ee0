"""The resident's side of alerts, as content: the alert texts, the STOP words, the areas.

The network's services (bot.network) store which template an alert uses; the texts are
content keys here, so every language gets the reviewed wording and staff choose a kind,
never write the sentence. Pure: no storage, no catalogs (the renderer translates).
"""

from __future__ import annotations

import hashlib

from bot.core import areas

# The alert templates in content/alerts.yml, one per kind of alert the network sends.
# The console offers these keys; the broadcaster renders them per language.
ALERT_TEMPLATES: tuple[str, ...] = (
    "alerts.template_agents", "alerts.template_vehicles", "alerts.template_checkpoint",
    "alerts.template_arrest", "alerts.template_all_clear", "alerts.template_correction",
)
# What a template may name: the areas, when the activity was seen, when the alert ends.
TEMPLATE_FIELDS = frozenset({"area", "time", "expires"})
STOP_WORDS = "alerts.stop_words"  # whole messages that stop a subscriber's alerts
UNKNOWN_AREA = "alerts.unknown_area"  # an answer to "which area?" that names none
ZIP_CODE = "alerts.zip_code"  # ... that is a ZIP code (no sourced ZIP table is shipped)
NOT_SAVED = "alerts.not_saved"  # a subscription or report the application could not write
AREAS_FIELD = "areas"  # {areas} in a text said where areas were picked: their names
MAX_AREAS = 10  # areas one subscription holds: a neighbourhood and where one works, not a city


def area_names(codes: tuple[str, ...] | list[str]) -> str:
    """'24 West Town, Cicero': the labels of known codes, in the order they were picked."""
    found = (areas.area(code) for code in codes)
    return ", ".join(a.label for a in found if a is not None)


def consent_version(english: str) -> str:
    """The version of the wording a resident agreed to: a hash of the English
    confirmation text as written in content (before its placeholders are filled)."""
    return hashlib.sha256(english.encode("utf-8")).hexdigest()[:16]
