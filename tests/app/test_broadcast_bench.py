"""The broadcast bench at a small size (make bench runs 10,000): 200 subscribers at scaled-
down limits, against the doubles in their own process, on SQLite and PostgreSQL."""

from __future__ import annotations

from tests.bench.broadcast import run


async def test_a_small_broadcast_is_whole_paced_and_leaves_replies_room(database_url: str) -> None:
    limits = {"telegram": 20.0, "whatsapp": 40.0}
    result = await run(database_url, 200, limits, share=0.8, timeout=120.0)
    assert (result.lost, result.duplicated, result.replies_lost) == (0, 0, 0)
    assert result.progress == {"sent": 200, "failed": 0, "queued": 0, "held": 0}
    for name, limit in limits.items():
        assert result.peak[name] <= limit and result.refused[name] == 0
        # paced at the share, not faster and not much slower (a loaded CI machine: 30%)
        assert result.floor_share[name] * 0.97 <= result.seconds[name] <= \
            result.floor_share[name] * 1.3 + 1.0
    assert result.replies and result.pct(99) < 1000
