"""The serving bench's counting (tests.bench.serving.tally) on hand-made replies, no servers:
a message answered twice is dup, a reply to a webhook whose ack the client never saw is
late (not dup), a missing reply is lost."""

from __future__ import annotations

from tests.bench.serving import Tally, tally

# the baseline's replies to each message of a four-message script
ANSWERS = [["hello", "menu"], ["menu"], ["langue: fr"], ["menu fr"]]
EVERY = [0, 1, 2, 3]
WHOLE = ["hello", "menu", "menu", "langue: fr", "menu fr"]


def test_every_message_answered_once_counts_nothing() -> None:
    assert tally(ANSWERS, EVERY, WHOLE) == Tally()


def test_a_message_answered_twice_is_dup() -> None:
    texts = ["hello", "menu", "menu", "langue: fr", "langue: fr", "menu fr"]
    assert tally(ANSWERS, EVERY, texts) == Tally(dup=1)


def test_a_reply_to_an_unacknowledged_webhook_is_late_not_dup() -> None:
    assert tally(ANSWERS, [0, 1, 3], WHOLE) == Tally(late=1)
    assert tally(ANSWERS, [], WHOLE) == Tally(late=5)


def test_an_unacknowledged_webhook_answered_twice_is_late_once_and_dup_once() -> None:
    texts = ["hello", "menu", "menu", "langue: fr", "langue: fr", "menu fr"]
    assert tally(ANSWERS, [0, 1, 3], texts) == Tally(late=1, dup=1)


def test_a_missing_reply_is_lost_only_if_acknowledged() -> None:
    texts = ["hello", "menu", "menu", "langue: fr"]
    assert tally(ANSWERS, EVERY, texts) == Tally(lost=1)
    assert tally(ANSWERS, [0, 1, 2], texts) == Tally()  # the platform would redeliver it


def test_a_text_no_message_has_is_other_not_dup() -> None:
    assert tally(ANSWERS, EVERY, [*WHOLE, "sorry, something went wrong"]) == Tally(other=1)


def test_a_text_several_messages_have_is_counted_not_matched() -> None:
    # "menu" answers 0 and 1: 0 answered twice and 1 lost look like both answered once
    assert tally(ANSWERS, EVERY, WHOLE) == Tally()
    # the acknowledged one is counted first: one "menu" among 0 (acked) and 1 (not) is not lost
    assert tally(ANSWERS, [0, 2, 3], ["hello", "menu", "langue: fr", "menu fr"]) == Tally()
    assert tally(ANSWERS, [0, 2, 3], ["hello", "langue: fr", "menu fr"]) == Tally(lost=1)


def test_replies_out_of_the_baseline_order_are_reordered() -> None:
    texts = ["hello", "menu", "menu", "menu fr", "langue: fr"]
    assert tally(ANSWERS, EVERY, texts) == Tally(reordered=True)
