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


def test_the_index_finds_what_trying_every_phrase_finds(services) -> None:  # type: ignore[no-untyped-def]
    """The first-word index (bot.core.danger._Index) against the plain loop over every
    phrase, on messages made of the real lexicons' words of every live language, with
    typos, swaps, missing and extra letters, and other words between."""
    from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

    from bot.core.danger import KEYS, Lexicons, detect_slowly

    dialogue = services.renderer.dialogue
    lexicons = {code: Lexicon({kind: tuple(dialogue.phrases(code, key)) for kind, key in KEYS.items()})
                for code in dialogue.languages}
    vocabulary = sorted({w for lexicon in lexicons.values() for phrases in lexicon.phrases.values()
                         for p in phrases for w in p.split()} | {"the", "my", "door", "ahora", "y"})

    def typo(word: str, how: int, at: int) -> str:
        at %= max(len(word), 1)
        return [word, word[:at] + word[at + 1:], word[:at] + "x" + word[at:],
                word[:at] + "e" + word[at + 1:],
                word[:at] + word[at + 1:at + 2] + word[at:at + 1] + word[at + 2:]][how]

    words = st.tuples(st.sampled_from(vocabulary), st.integers(0, 4), st.integers(0, 20)).map(
        lambda t: typo(*t))

    every = Lexicons(lexicons)  # what Dialogue.danger_in asks: all languages in one index

    @hsettings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(words, min_size=1, max_size=9))
    def same(message: list[str]) -> None:
        text = " ".join(message)
        each = every.detect_each(text)
        for code, lexicon in lexicons.items():
            slowly = detect_slowly([lexicon], text)
            assert detect([lexicon], text) == slowly, (code, text)
            assert each.get(code) == slowly, (code, text)

    same()
