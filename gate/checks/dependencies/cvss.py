"""CVSS base scores (v2, v3.0, v3.1, v4.0) from vector strings, scored by the `cvss` library.

OSV records carry severity as vectors, not scores. The library implements each version's
specification (v4's scoring is a lookup over macro-vectors, not a short formula), so the gate
only picks the version from the vector and bounds its input. It is part of the `sbom` extra,
imported on first use so that the core install stays small.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from gate.extras import needs
from gate.models.finding import Severity

MAX_VECTOR_LENGTH = 200
# OSV's severity types and the version prefixes their vectors carry (v2 vectors have none).
_V4_BASE = {"CVSS", "AV", "AC", "AT", "PR", "UI", "VC", "VI", "VA", "SC", "SI", "SA"}
OSV_TYPES = {"CVSS_V2": ("2.0",), "CVSS_V3": ("3.0", "3.1"), "CVSS_V4": ("4.0",)}


class CvssError(ValueError):
    """The text is not a valid CVSS vector."""


@dataclass(frozen=True)
class CvssScore:
    version: str  # "2.0", "3.0", "3.1" or "4.0"
    vector: str
    score: float

    @property
    def severity(self) -> Severity:
        return severity_of(self.score)


def version_of(vector: str) -> str:
    """The CVSS version a vector is written in ('2.0' for the unprefixed v2 form)."""
    head = vector.partition("/")[0]
    if head in ("CVSS:3.0", "CVSS:3.1", "CVSS:4.0"):
        return head[5:]
    if head.startswith("CVSS:"):
        raise CvssError(f"unsupported CVSS version (starts with {head[:20]!r})")
    if head.startswith("AV:"):
        return "2.0"
    raise CvssError(f"not a CVSS vector (starts with {head[:20]!r})")


def base_score(vector: str, osv_type: str | None = None) -> CvssScore:
    """The base score of a vector such as 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N'.

    With `osv_type` (CVSS_V2, CVSS_V3, CVSS_V4), a vector of another version is refused: a record
    that says v3 and carries something else is malformed, not reinterpreted.
    """
    if not isinstance(vector, str) or len(vector) > MAX_VECTOR_LENGTH:
        raise CvssError("not a CVSS vector string")
    text = vector.strip()
    version = version_of(text)
    if osv_type is not None and version not in OSV_TYPES.get(osv_type, ()):
        raise CvssError(f"{osv_type} severity holds a CVSS {version} vector")
    with needs("sbom", "scoring CVSS vectors"):
        import cvss
        from cvss.exceptions import CVSSError
    cls: Any = {"2.0": cvss.CVSS2, "4.0": cvss.CVSS4}.get(version, cvss.CVSS3)
    try:
        parsed = cls(text)
    except CVSSError as exc:
        raise CvssError(f"invalid CVSS {version} vector: {str(exc)[:80]}") from None
    if version == "4.0":
        # The library's v4 score includes any threat and environmental metrics the vector
        # carries (CVSS-BT, CVSS-BE); the gate compares base scores (CVSS-B), as for v2 and v3,
        # whose temporal metrics never change the base score either.
        parsed = cls("/".join(p for p in text.split("/") if p.partition(":")[0] in _V4_BASE))
    score = parsed.base_score
    if not isinstance(score, (Decimal, float, int)):  # pragma: no cover - the library's contract
        raise CvssError(f"CVSS {version} vector without a base score")
    return CvssScore(version=version, vector=text, score=float(score))


def severity_of(score: float) -> Severity:
    """The CVSS qualitative rating (v3 and v4 share the bands; none is reported as info)."""
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
