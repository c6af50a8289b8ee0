"""The places an alert or a report names: Chicago's 77 community areas and nearby suburbs.

Never a street address: an area is as precise as the network gets. Community areas keep
the City of Chicago's numbers (1 Rogers Park ... 77 Edgewater; the "Boundaries - Community
Areas" dataset of the Chicago Data Portal, `content/sources.yml` id `chicago_community_areas`),
so a resident can answer "24" or "West Town". A few neighbourhood names residents use
more than the official ones ("Pilsen", "La Villita") are aliases of the area they lie in.
No ZIP table is shipped: ZIP codes cross area lines and no sourced ZIP-to-area table is in
the content yet (a resident who types a ZIP is asked for the area's name or number).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

COMMUNITY_AREAS: tuple[str, ...] = (
    "Rogers Park", "West Ridge", "Uptown", "Lincoln Square", "North Center", "Lake View",
    "Lincoln Park", "Near North Side", "Edison Park", "Norwood Park", "Jefferson Park",
    "Forest Glen", "North Park", "Albany Park", "Portage Park", "Irving Park", "Dunning",
    "Montclare", "Belmont Cragin", "Hermosa", "Avondale", "Logan Square", "Humboldt Park",
    "West Town", "Austin", "West Garfield Park", "East Garfield Park", "Near West Side",
    "North Lawndale", "South Lawndale", "Lower West Side", "Loop", "Near South Side",
    "Armour Square", "Douglas", "Oakland", "Fuller Park", "Grand Boulevard", "Kenwood",
    "Washington Park", "Hyde Park", "Woodlawn", "South Shore", "Chatham", "Avalon Park",
    "South Chicago", "Burnside", "Calumet Heights", "Roseland", "Pullman", "South Deering",
    "East Side", "West Pullman", "Riverdale", "Hegewisch", "Garfield Ridge", "Archer Heights",
    "Brighton Park", "McKinley Park", "Bridgeport", "New City", "West Elsdon", "Gage Park",
    "Clearing", "West Lawn", "Chicago Lawn", "West Englewood", "Englewood",
    "Greater Grand Crossing", "Ashburn", "Auburn Gresham", "Beverly", "Washington Heights",
    "Mount Greenwood", "Morgan Park", "O'Hare", "Edgewater",
)

# Suburbs where Chicago's rapid-response networks take reports (Cook, DuPage, Lake, Kane,
# Will counties), by name. A deployment adds its own here.
SUBURBS: tuple[str, ...] = (
    "Aurora", "Berwyn", "Blue Island", "Bridgeview", "Broadview", "Cicero", "Des Plaines",
    "Elgin", "Evanston", "Franklin Park", "Harvey", "Joliet", "Melrose Park", "Northlake",
    "Oak Park", "Schaumburg", "Skokie", "Stone Park", "Summit", "Waukegan",
)

# Names residents use for a part of a community area: alias -> area number.
ALIASES: dict[str, int] = {
    "Pilsen": 31, "La Villita": 30, "Little Village": 30, "Back of the Yards": 61,
    "Chinatown": 34, "Wicker Park": 24, "Ukrainian Village": 24, "Bucktown": 22,
    "Andersonville": 77, "Streeterville": 8, "River North": 8, "Gold Coast": 8,
    "South Loop": 33, "Little Italy": 28, "Belmont Central": 19, "Marquette Park": 66,
    "Lakeview": 6, "Ohare": 76, "Brainerd": 71, "Little Saigon": 3,
}


@dataclass(frozen=True)
class Area:
    code: str  # "c24" (community area 24) or "s-cicero" (a suburb): what is stored
    name: str  # "West Town", "Cicero"
    number: int | None = None  # the community area's number

    @property
    def label(self) -> str:
        return f"{self.number} {self.name}" if self.number else self.name


def _slug(name: str) -> str:
    return "s-" + "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")


AREAS: tuple[Area, ...] = tuple(
    Area(f"c{n}", name, n) for n, name in enumerate(COMMUNITY_AREAS, start=1)
) + tuple(Area(_slug(name), name) for name in SUBURBS)
BY_CODE: dict[str, Area] = {area.code: area for area in AREAS}


def fold(text: str) -> str:
    """Lower case, no accents or punctuation, single spaces: "O'Hare" ~ "ohare" ~ "O Hare"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    kept = "".join(c for c in decomposed if not unicodedata.combining(c))
    kept = kept.replace("'", "").replace("\u2019", "")
    return " ".join("".join(c if c.isalnum() else " " for c in kept).split())


_NAMES: dict[str, Area] = {fold(area.name): area for area in AREAS}
_NAMES.update({fold(alias): BY_CODE[f"c{n}"] for alias, n in ALIASES.items()})
_NAMES["lakeview"] = BY_CODE["c6"]


def area(code: str) -> Area | None:
    return BY_CODE.get(code)


def find(text: str) -> Area | None:
    """The one area a typed answer names: "24", "west town", "Pilsen", "Cicero"; None when
    it names none (or is a ZIP code, or a street address: nothing is guessed)."""
    wanted = fold(text)
    if not wanted:
        return None
    if wanted.isdecimal():
        n = int(wanted)
        return BY_CODE.get(f"c{n}") if 1 <= n <= len(COMMUNITY_AREAS) and len(wanted) <= 2 else None
    if wanted in _NAMES:
        return _NAMES[wanted]
    for prefix in ("the ", "in ", "en ", "near "):  # "in Pilsen", "en la villita"
        if wanted.startswith(prefix) and wanted[len(prefix):] in _NAMES:
            return _NAMES[wanted[len(prefix):]]
    return None


def counting_slug(code: str) -> str:
    """How the transparency counts name an area: "c30" -> "south_lawndale", "c76" ->
    "ohare", a suburb by its name ("s-cicero" -> "cicero"); a slug stays as it is."""
    found = BY_CODE.get(code)
    name = found.name if found is not None else code
    return re.sub(r"[^a-z0-9]+", "_", name.lower().replace("'", "")).strip("_")


def looks_like_zip(text: str) -> bool:
    wanted = text.strip()
    return len(wanted) == 5 and wanted.isdecimal() and wanted.startswith("6")
