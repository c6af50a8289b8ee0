"""Chicago's 77 community areas: the finest place the counters keep.

The names and numbers are the City of Chicago's official community areas (the 75 drawn
by the University of Chicago's Social Science Research Committee in the 1920s, with
O'Hare (76) and Edgewater (77) added later), as listed in the City's data portal dataset
"Boundaries - Community Areas". Only the names ship here, not the boundaries, so the
dashboard shows a table, not a map. A report names an area by its slug: "rogers_park".
"""

from __future__ import annotations

import re

NAMES = (
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


def area_slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower().replace("'", "")).strip("_")


AREAS: dict[str, tuple[int, str]] = {area_slug(n): (i + 1, n) for i, n in enumerate(NAMES)}
assert len(AREAS) == 77


def area_name(slug: str) -> str:
    """The area's name for a slug; "other" and unknown slugs are returned as they are."""
    found = AREAS.get(slug)
    return found[1] if found else slug
