"""Label conflicts only where near-duplicate rows really say the same thing."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from gate.datacheck.duplicates import says_the_same
from tests.datacheck.test_training_data import by_rule, check, make_release
from tests.support.training_data_gen import jsonl

N = 3000
PRODUCTS = ["running shoes", "rain jacket", "coffee grinder", "desk lamp", "travel mug", "yoga mat"]
OPENINGS = [
    "I ordered these for my sister before our hiking holiday in the northern mountains and after using them"
    " daily for three weeks on rocky trails, muddy paths and city streets I can honestly say that the",
    "Bought this last spring from the outlet store downtown after reading many online comparisons, watching"
    " video reviews and asking friends at work for advice, and so far the",
    "After a full month of heavy everyday use at home, at the office and while travelling between cities by"
    " train and bus with a crowded backpack, I must report that the",
]
POSITIVE = [
    "was friendly and fast",
    "works great every day",
    "exceeded what I hoped",
    "is sturdy and well made",
]
NEGATIVE = ["keeps getting worse", "broke within a week", "is flimsy and cheap", "stopped working quickly"]
WHEN = ["in March", "in June", "last year", "this winter", "on sale", "for a gift", "at full price", "online"]


def templated(n: int, seed: int) -> list[dict[str, Any]]:
    """Reviews that share openings and closings and differ in the words that carry the sentiment."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        pos = rng.random() < 0.5
        text = (
            f"{rng.choice(OPENINGS)} the {rng.choice(PRODUCTS)} bought {rng.choice(WHEN)} "
            f"{rng.choice(POSITIVE if pos else NEGATIVE)}. Would {'' if pos else 'not '}buy again."
        )
        rows.append({"text": text, "label": "positive" if pos else "negative"})
    return rows


def conflicts(tmp_path: Path, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rel = make_release(tmp_path, [{"name": "r", "path": "d.jsonl"}], {"d.jsonl": jsonl(rows)})
    return by_rule(check(rel)[1], "near-duplicate-label-conflict")


def test_templated_clean_reviews_give_no_conflict(tmp_path: Path) -> None:
    assert conflicts(tmp_path / "c", templated(N, 4)) == []


def test_same_text_with_another_label_is_a_conflict(tmp_path: Path) -> None:
    rows = templated(N, 4)
    rng = random.Random(1)
    planted = []
    for k in range(6):
        src = rows[k * 11]
        twin = {
            "text": src["text"].upper().replace(".", "!", 1),  # same after normalisation
            "label": "negative" if src["label"] == "positive" else "positive",
        }
        pos = rng.randrange(N // 2, len(rows))
        rows.insert(pos, twin)
    found = conflicts(tmp_path / "p", rows)
    assert len(found) == 1 and found[0]["evidence"]["sets"] >= 5
    assert found[0]["evidence"]["rows_total"] == 12  # each twin and the row it copies, not the whole set
    planted = [i + 1 for i, r in enumerate(rows) if r["text"].isupper()]
    assert len(planted) == 6


def test_says_the_same_bounds_the_difference_and_spares_label_words() -> None:
    carriers = frozenset({"great", "awful", "not"})
    a = "After a month of use the yoga mat bought in June works great every day. Would buy again."
    assert says_the_same(a, a.upper().replace(".", "!"), carriers)
    assert says_the_same(a, a.replace("June", "March"), carriers)  # a neutral word
    assert not says_the_same(a, a.replace("great", "awful"), carriers)  # the word that carries the label
    b = "After a month of use the yoga mat bought in June keeps getting worse. Would not buy again."
    assert not says_the_same(a, b, frozenset())  # too many words differ, whatever they are
