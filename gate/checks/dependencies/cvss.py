"""CVSS v3.x base scores computed from the vector string.

OSV records carry severity as a CVSS vector, not a score. The formula is short
and fully specified (FIRST, CVSS v3.1 specification, section 7), so the gate
computes it here rather than taking a dependency. v3.0 vectors use the same
metrics and weights; only the rounding helper differs, and the v3.1 helper is
the one the specification asks implementations to use for both (it removes
floating-point artefacts, e.g. 4.000000001 rounding up to 4.1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gate.models.finding import Severity

_AV = {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2}
_AC = {"L": 0.77, "H": 0.44}
_PR_UNCHANGED = {"N": 0.85, "L": 0.62, "H": 0.27}
_PR_CHANGED = {"N": 0.85, "L": 0.68, "H": 0.5}
_UI = {"N": 0.85, "R": 0.62}
_CIA = {"H": 0.56, "L": 0.22, "N": 0.0}
_BASE_VALUES = {
    "AV": set(_AV),
    "AC": set(_AC),
    "PR": set(_PR_UNCHANGED),
    "UI": set(_UI),
    "S": {"U", "C"},
    "C": set(_CIA),
    "I": set(_CIA),
    "A": set(_CIA),
}
# Temporal and environmental metrics may follow the base metrics; they do not change the base score.
_OTHER_METRICS = {
    "E": {"X", "U", "P", "F", "H"},
    "RL": {"X", "O", "T", "W", "U"},
    "RC": {"X", "U", "R", "C"},
    "CR": {"X", "L", "M", "H"},
    "IR": {"X", "L", "M", "H"},
    "AR": {"X", "L", "M", "H"},
    "MAV": {"X", "N", "A", "L", "P"},
    "MAC": {"X", "L", "H"},
    "MPR": {"X", "N", "L", "H"},
    "MUI": {"X", "N", "R"},
    "MS": {"X", "U", "C"},
    "MC": {"X", "N", "L", "H"},
    "MI": {"X", "N", "L", "H"},
    "MA": {"X", "N", "L", "H"},
}
MAX_VECTOR_LENGTH = 200


class CvssError(ValueError):
    """The text is not a valid CVSS v3.x vector."""


@dataclass(frozen=True)
class CvssScore:
    version: str  # "3.0" or "3.1"
    vector: str
    score: float

    @property
    def severity(self) -> Severity:
        return severity_of(self.score)


def roundup(value: float) -> float:
    """CVSS v3.1 Roundup: the smallest number with one decimal that is >= value."""
    as_int = round(value * 100_000)
    if as_int % 10_000 == 0:
        return as_int / 100_000.0
    return (math.floor(as_int / 10_000) + 1) / 10.0


def parse_vector(vector: str) -> tuple[str, dict[str, str]]:
    if not isinstance(vector, str) or len(vector) > MAX_VECTOR_LENGTH:
        raise CvssError("not a CVSS vector string")
    parts = vector.strip().split("/")
    head = parts[0]
    if head not in ("CVSS:3.0", "CVSS:3.1"):
        raise CvssError(f"not a CVSS v3 vector (starts with {head[:20]!r})")
    metrics: dict[str, str] = {}
    for part in parts[1:]:
        key, sep, value = part.partition(":")
        if not sep:
            raise CvssError(f"malformed metric {part[:20]!r}")
        allowed = _BASE_VALUES.get(key) or _OTHER_METRICS.get(key)
        if allowed is None:
            raise CvssError(f"unknown metric {key[:10]!r}")
        if value not in allowed:
            raise CvssError(f"invalid value {value[:10]!r} for {key}")
        if key in metrics:
            raise CvssError(f"metric {key} given twice")
        metrics[key] = value
    missing = [k for k in _BASE_VALUES if k not in metrics]
    if missing:
        raise CvssError(f"missing base metrics: {', '.join(missing)}")
    return head[5:], metrics


def base_score(vector: str) -> CvssScore:
    """The CVSS v3.x base score of a vector such as 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N'."""
    version, m = parse_vector(vector)
    changed = m["S"] == "C"
    iss = 1 - (1 - _CIA[m["C"]]) * (1 - _CIA[m["I"]]) * (1 - _CIA[m["A"]])
    impact = 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15 if changed else 6.42 * iss
    pr = (_PR_CHANGED if changed else _PR_UNCHANGED)[m["PR"]]
    exploitability = 8.22 * _AV[m["AV"]] * _AC[m["AC"]] * pr * _UI[m["UI"]]
    if impact <= 0:
        score = 0.0
    elif changed:
        score = roundup(min(1.08 * (impact + exploitability), 10.0))
    else:
        score = roundup(min(impact + exploitability, 10.0))
    return CvssScore(version=version, vector=vector.strip(), score=score)


def severity_of(score: float) -> Severity:
    """The CVSS qualitative rating (none is reported as info)."""
    if score >= 9.0:
        return Severity.CRITICAL
    if score >= 7.0:
        return Severity.HIGH
    if score >= 4.0:
        return Severity.MEDIUM
    if score > 0.0:
        return Severity.LOW
    return Severity.INFO


# Records that carry only a qualitative rating (GitHub's `database_specific.severity`) are placed
# at the top of their CVSS band, so a threshold never lets them through by rounding down.
QUALITATIVE_SCORE = {"LOW": 3.9, "MODERATE": 6.9, "MEDIUM": 6.9, "HIGH": 8.9, "CRITICAL": 10.0}
