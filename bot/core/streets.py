"""Street text a resident types: the nearest cross streets of a report, never an address.

One place for what reads as a street address (alerts refuse one), what a report keeps of
cross streets (house numbers dropped, a length cap) and what the report flow refuses to
take at all: a home address ("2417 S Pulaski Rd", "apt 3"). Pure text rules; the sealing
of what is kept is the application's (bot.app.held, bot.network.reports).
"""

from __future__ import annotations

import re

MAX_LENGTH = 120  # the cross streets a report keeps, in characters
MAX_WORDS = 12  # a longer message at "nearest cross streets?" is read as any text
CROSS_STREETS = "cross_streets"  # the answer's name in what a flow collected
HOME_ADDRESS = "report_activity.home_address"  # the refusal, said with the step's buttons

# A house number and a street: "1234 W 18th St", "5 N Main Avenue". Alerts must never hold
# one, and reports keep cross streets only ("18th & Blue Island").
_STREET = (r"(?:st|street|ave|av|avenue|blvd|boulevard|rd|road|dr|drive|ct|court|pl|place|"
           r"way|ln|lane|pkwy|parkway|ter|terrace|hwy|highway|calle|avenida)")
_ADDRESS = re.compile(r"\b\d{1,6}[a-z]?\s+(?:[nsew]\.?\s+)?(?:\w+\.?\s+){0,3}" + _STREET + r"\b\.?",
                      re.IGNORECASE)
# A number of three or more digits standing alone is a house number on Chicago's grid;
# street names keep theirs ("18th", "Route 66" stays), and so does a block ("the 2400 block").
_HOUSE_NUMBER = re.compile(r"(?<![\w#])\d{3,6}[a-z]?\b(?!\s*(?:th|st|nd|rd)\b)(?!\s+(?:block|cuadra)\b)",
                           re.IGNORECASE)
# A home address: such a number followed by a street's name ("2417 S Pulaski", "4512 N
# Kedzie"; "the 2400 block of Pulaski" is a block, not a home), a small number with a
# direction and a street ("12 W Elm St"), or a flat ("apt 3", "unit B", "#2", "depto 4").
_HOME_NUMBER = re.compile(r"(?<![\w#])\d{3,6}[a-z]?(?!\s*(?:th|st|nd|rd)\b)\s+"
                          r"(?!block\b|cuadra\b)(?:[nsew]\.?\s+)?\w", re.IGNORECASE)
_SMALL_NUMBER = re.compile(r"(?<![\w#])\d{1,2}[a-z]?\s+[nsew]\.?\s+(?:\w+\.?\s+){0,3}" + _STREET
                           + r"\b", re.IGNORECASE)
_FLAT = re.compile(r"\b(?:apt|apto|apartment|apartamento|depto|departamento|unit|suite)\b\.?"
                   r"|#\s*\w", re.IGNORECASE)


def looks_like_address(text: str) -> bool:
    """Whether `text` holds what reads as a street address (a house number and a street)."""
    return bool(_ADDRESS.search(text))


def without_house_numbers(text: str) -> str:
    """Cross streets as kept: standalone house numbers dropped ("1234 W 18th St & Blue
    Island" -> "W 18th St & Blue Island"), so a report never keeps a home address."""
    return re.sub(r"\s{2,}", " ", _HOUSE_NUMBER.sub("", text)).strip(" ,;")


def is_home_address(text: str) -> bool:
    """Whether typed cross streets read as someone's home: the report flow refuses them
    whole (nothing of it is kept) instead of keeping what is left without the number."""
    return bool(_HOME_NUMBER.search(text) or _SMALL_NUMBER.search(text) or _FLAT.search(text))


def as_kept(text: str) -> str:
    """The cross streets a report keeps of typed text: no house numbers, one line, at most
    MAX_LENGTH characters; "" when nothing is left ("1234", "??")."""
    kept = without_house_numbers(" ".join(text.split()))[:MAX_LENGTH].strip(" ,;")
    return kept if any(c.isalnum() for c in kept) else ""
