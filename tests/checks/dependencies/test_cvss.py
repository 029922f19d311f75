"""CVSS v2, v3.0, v3.1 and v4.0 base scores (the `cvss` library), against published scores."""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gate.checks.dependencies.audit import OsvRecord, score_vuln
from gate.checks.dependencies.cvss import CvssError, base_score, severity_of
from gate.models.finding import Severity
from gate.osv_mirror import running
from tests.checks.dependencies.test_dependencies_check import by_vuln, check, make_release
from tests.support import OSV_RECORDS

# Tests here start a server on 127.0.0.1 (and stop it).
pytestmark = pytest.mark.server

# (vector, base score as published by NVD / GitHub / FIRST for it)
PUBLISHED = [
    # CVSS v2 (no prefix, as OSV's CVSS_V2 and NVD write them)
    ("AV:N/AC:L/Au:N/C:P/I:N/A:N", 5.0),  # CVE-2014-0160 (Heartbleed)
    ("AV:N/AC:L/Au:N/C:C/I:C/A:C", 10.0),  # CVE-2014-6271 (Shellshock)
    ("AV:N/AC:M/Au:N/C:N/I:P/A:N", 4.3),  # the typical reflected XSS
    ("AV:N/AC:L/Au:N/C:P/I:P/A:P", 7.5),
    # CVSS v3.1 and v3.0
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", 7.5),  # GHSA-x84v-xcm2-53pg (requests)
    ("CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:C/C:H/I:N/A:N", 6.1),  # GHSA-j8r2-6x86-q33q (requests)
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),  # GHSA-47fc-vmwq-366v (torch)
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L", 5.3),  # GHSA-w596-4wvx-j9j6 (py)
    ("CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:N/I:N/A:H", 5.5),  # PYSEC-2022-43059 (aiohttp, withdrawn)
    ("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0),  # CVE-2017-5638 (Struts)
    ("CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H", 8.8),
    ("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", 1.6),
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0),
    ("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H/E:P/RL:O/RC:C", 8.8),  # temporal metrics ignored
    # CVSS v4.0
    ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 9.3),
    ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H", 10.0),
    ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:H/SC:N/SI:N/SA:N", 8.7),  # the usual DoS
    ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:L/SC:N/SI:N/SA:N", 6.9),
    ("CVSS:4.0/AV:L/AC:L/AT:N/PR:L/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 8.5),
    ("CVSS:4.0/AV:P/AC:H/AT:P/PR:H/UI:A/VC:L/VI:N/VA:N/SC:N/SI:N/SA:N", 1.0),
    ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N", 0.0),
    # threat and environmental metrics do not change the base score (CVSS-B), as for v3
    ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:U/CR:L", 9.3),
]
V4_LOW = "CVSS:4.0/AV:P/AC:H/AT:P/PR:H/UI:A/VC:L/VI:N/VA:N/SC:N/SI:N/SA:N"


@pytest.mark.parametrize(("vector", "score"), PUBLISHED)
def test_base_score_matches_published_scores(vector: str, score: float) -> None:
    result = base_score(vector)
    assert result.score == score
    assert result.version == (vector.partition("/")[0][5:] if vector.startswith("CVSS:") else "2.0")


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


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "CVSS:2.0/AV:N/AC:L/Au:N/C:P/I:P/A:P",  # v2 has no prefix
        "CVSS:5.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N",  # SA missing
        "AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",  # v3 metrics without the version prefix
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N",  # A missing
        "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",  # invalid value
        "CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",  # duplicate
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N/ZZ:1",  # unknown metric
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N" + "/E:X" * 100,  # huge
        "CVSS:3.1/AVN",
        "cvss:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",
    ],
)
def test_invalid_vectors_raise_cvss_error(bad: str) -> None:
    with pytest.raises(CvssError):
        base_score(bad)


@pytest.mark.parametrize(
    ("osv_type", "vector"),
    [
        ("CVSS_V3", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"),
        ("CVSS_V4", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"),
        ("CVSS_V2", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"),
        ("Ubuntu", "AV:N/AC:L/Au:N/C:P/I:P/A:P"),
    ],
)
def test_a_vector_of_another_version_than_its_osv_type_is_refused(osv_type: str, vector: str) -> None:
    base_score(vector)  # valid on its own
    with pytest.raises(CvssError, match="holds a CVSS"):
        base_score(vector, osv_type)


def _record(severity: list[dict[str, str]], rid: str = "GHSA-test-test-test") -> OsvRecord:
    return OsvRecord.model_validate({"id": rid, "severity": severity})


def test_v4_only_and_v2_only_records_are_scored_not_assumed_worst() -> None:
    score, vector, source = score_vuln([_record([{"type": "CVSS_V4", "score": V4_LOW}])])
    assert (score, vector, source) == (1.0, V4_LOW, "CVSS_V4 of GHSA-test-test-test")
    score, _, source = score_vuln([_record([{"type": "CVSS_V2", "score": "AV:N/AC:M/Au:N/C:N/I:P/A:N"}])])
    assert (score, source) == (4.3, "CVSS_V2 of GHSA-test-test-test")


def test_the_worst_score_across_versions_and_records_counts() -> None:
    records = [
        _record([{"type": "CVSS_V4", "score": V4_LOW}], "GHSA-aaaa-aaaa-aaaa"),
        _record(
            [
                {"type": "CVSS_V2", "score": "AV:N/AC:L/Au:N/C:P/I:N/A:N"},
                {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"},
            ],
            "CVE-2099-0001",
        ),
    ]
    assert score_vuln(records)[0] == 7.5
    assert score_vuln(records)[2] == "CVSS_V3 of CVE-2099-0001"


def test_malformed_vectors_are_skipped_and_an_unscored_vulnerability_stays_unscored() -> None:
    bad = _record([{"type": "CVSS_V4", "score": "CVSS:4.0/AV:N"}, {"type": "CVSS_V3", "score": V4_LOW}])
    assert score_vuln([bad]) == (None, None, "none")


def test_a_v4_only_advisory_is_tolerated_by_its_real_score(tmp_path: Path) -> None:
    """Through the real pip-audit and an OSV server: the v4 record scores 1.0 and is not blocking."""
    records = tmp_path / "records"
    records.mkdir()
    record = json.loads((OSV_RECORDS / "PYSEC-2018-28.json").read_text("utf-8"))
    record["severity"] = [{"type": "CVSS_V4", "score": V4_LOW}]
    (records / "PYSEC-2018-28.json").write_text(json.dumps(record), "utf-8")
    root = make_release(tmp_path / "r", "requests==2.19.0\n")
    with running(records) as server:
        found = by_vuln(check(root, osv_url=server.url))["PYSEC-2018-28"]
    assert found.rule.name == "vulnerable-dependency-tolerated"
    assert found.evidence["cvss_score"] == 1.0
    assert found.evidence["cvss_vector"] == V4_LOW
    assert found.evidence["severity_source"] == "CVSS_V4 of PYSEC-2018-28"
    # the same record without its vector is the fail-closed "assumed 10" (the benign twin above)
    shutil.copy(OSV_RECORDS / "PYSEC-2018-28.json", records / "PYSEC-2018-28.json")
    with running(records) as server:
        unscored = by_vuln(check(root, osv_url=server.url))["PYSEC-2018-28"]
    assert unscored.rule.name == "vulnerable-dependency"


METRICS_V4 = {
    "AV": "NALP",
    "AC": "LH",
    "AT": "NP",
    "PR": "NLH",
    "UI": "NPA",
    "VC": "HLN",
    "VI": "HLN",
    "VA": "HLN",
    "SC": "HLN",
    "SI": "HLN",
    "SA": "HLN",
}


@settings(max_examples=200, deadline=None)
@given(st.fixed_dictionaries({k: st.sampled_from(list(v)) for k, v in METRICS_V4.items()}))
def test_every_valid_v4_vector_scores_between_0_and_10_with_one_decimal(metrics: dict[str, str]) -> None:
    vector = "CVSS:4.0/" + "/".join(f"{k}:{v}" for k, v in metrics.items())
    s = base_score(vector).score
    assert 0.0 <= s <= 10.0
    assert round(s, 1) == s
    no_impact = all(metrics[k] == "N" for k in ("VC", "VI", "VA", "SC", "SI", "SA"))
    assert (s == 0.0) == no_impact


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=300),
        st.sampled_from(["CVSS:2.0/", "CVSS:3.0/", "CVSS:3.1/", "CVSS:4.0/", "AV:"]).flatmap(
            lambda head: st.text(alphabet="AVCLNHPRUISTEMX:/", max_size=120).map(lambda t: head + t)
        ),
    )
)
def test_arbitrary_text_never_crashes(text: str) -> None:
    with contextlib.suppress(CvssError):
        base_score(text)
