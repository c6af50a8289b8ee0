"""The danger matcher: words in order, typos, gaps, and what must not match."""

from __future__ import annotations

from bot.core.danger import LIFE, NOW, Lexicon, detect, split_phrases, typo_distance

LEXICON = Lexicon.from_texts({
    LIFE: "someone is hurt, bleeding, gun, can't breathe",
    NOW: "breaking the door, taking him, 砸门, rompiendo la puerta",
})


def test_phrases_are_split_on_every_scripts_commas() -> None:
    assert split_phrases("my son, Mi Hijo；him、她，ابني، x") == ["my son", "mi hijo", "him", "她", "ابني", "x"]


def test_typos_and_swaps_count_one() -> None:
    assert typo_distance("breaking", "braeking", 2) == 1
    assert typo_distance("breaking", "breakng", 2) == 1
    assert typo_distance("door", "window", 1) == 2  # stops counting above the limit


def test_danger_with_typos_gaps_and_other_scripts() -> None:
    for text in ("THEY ARE BREAKNG THE DOOR!!", "they are breaking down the door",
                 "estan rompiendo la puerts", "他们在砸门", "they are taking him away"):
        assert detect([LEXICON], text) == NOW, text
    for text in ("someone is hurt, they are breaking the door", "he is bleeding", "they have a gun"):
        assert detect([LEXICON], text) == LIFE, text  # danger to life wins


def test_what_must_not_match() -> None:
    for text in ("what are my rights at the door", "the door is closed", "can I take him to school",
                 "they shop on saturdays", "guns", "breaking news", "", "   "):
        assert detect([LEXICON], text) is None, text
