"""Chicago's 77 community areas: the finest place the counters keep.

The names and numbers are the City of Chicago's official community areas (the 75 drawn
by the University of Chicago's Social Science Research Committee in the 1920s, with
O'Hare (76) and Edgewater (77) added later), as listed in the City's data portal dataset
"Boundaries - Community Areas". Only the names ship here, not the boundaries, so the
dashboard shows a table, not a map. A report names an area by its slug: "rogers_park".
"""

from __future__ import annotations

from bot.core.areas import COMMUNITY_AREAS, counting_slug

NAMES = COMMUNITY_AREAS  # one list of the 77, in bot/core/areas.py (alerts name them too)


def area_slug(name: str) -> str:
    return counting_slug(name)


AREAS: dict[str, tuple[int, str]] = {area_slug(n): (i + 1, n) for i, n in enumerate(NAMES)}
assert len(AREAS) == 77


def area_name(slug: str) -> str:
    """The area's name for a slug; "other" and unknown slugs are returned as they are."""
    found = AREAS.get(slug)
    return found[1] if found else slug
