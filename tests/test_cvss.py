"""CVSS v3 base scores computed from vectors, against scores published for real advisories."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gate.checks.dependencies.cvss import CvssError, base_score, roundup, severity_of
from gate.models.finding import Severity

# (vector, base score as published by NVD / GitHub for the advisory named)
PUBLISHED = [
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", 7.5),  # GHSA-x84v-xcm2-53pg (requests)
    ("CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:C/C:H/I:N/A:N", 6.1),  # GHSA-j8r2-6x86-q33q (requests)
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),  # GHSA-47fc-vmwq-366v (torch)
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L", 5.3),  # GHSA-w596-4wvx-j9j6 (py)
    ("CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:N/I:N/A:H", 5.5),  # PYSEC-2022-43059 (aiohttp, withdrawn)
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1),  # the typical reflected XSS
    ("CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H", 8.8),  # scope change with low privileges
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0),
    ("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", 1.6),
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0),
    ("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H/E:P/RL:O/RC:C", 8.8),  # temporal metrics ignored
]


@pytest.mark.parametrize(("vector", "score"), PUBLISHED)
def test_base_score_matches_published_scores(vector: str, score: float) -> None:
    assert base_score(vector).score == score


def test_severity_bands() -> None:
    assert [severity_of(s) for s in (0.0, 0.1, 3.9, 4.0, 6.9, 7.0, 8.9, 9.0, 10.0)] == [
        Severity.INFO,
        Severity.LOW,
        Severity.LOW,
        Severity.MEDIUM,
        Severity.MEDIUM,
        Severity.HIGH,
        Severity.HIGH,
        Severity.CRITICAL,
        Severity.CRITICAL,
    ]


def test_roundup_avoids_floating_point_artefacts() -> None:
    assert roundup(4.000000001) == 4.0  # the v3.1 rounding removes the 4.1 the v3.0 one gave
    assert roundup(4.02) == 4.1
    assert roundup(5.0) == 5.0


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "CVSS:2.0/AV:N/AC:L/Au:N/C:P/I:P/A:P",
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
        "AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",  # no version prefix
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N",  # A missing
        "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",  # invalid value
        "CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",  # duplicate
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N/ZZ:1",  # unknown metric
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N" + "/E:X" * 100,  # huge
        "CVSS:3.1/AVN",
    ],
)
def test_invalid_vectors_raise_cvss_error(bad: str) -> None:
    with pytest.raises(CvssError):
        base_score(bad)


METRIC_VALUES = {
    "AV": "NALP",
    "AC": "LH",
    "PR": "NLH",
    "UI": "NR",
    "S": "UC",
    "C": "HLN",
    "I": "HLN",
    "A": "HLN",
}


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({k: st.sampled_from(list(v)) for k, v in METRIC_VALUES.items()}))
def test_every_valid_vector_scores_between_0_and_10_with_one_decimal(metrics: dict[str, str]) -> None:
    vector = "CVSS:3.1/" + "/".join(f"{k}:{v}" for k, v in metrics.items())
    s = base_score(vector).score
    assert 0.0 <= s <= 10.0
    assert round(s, 1) == s
    no_impact = metrics["C"] == metrics["I"] == metrics["A"] == "N"
    assert (s == 0.0) == no_impact


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_never_crashes(text: str) -> None:
    with contextlib.suppress(CvssError):
        base_score(text)
