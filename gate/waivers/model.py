"""The waiver itself: what a reviewer signs (the predicate), and the three forms a waiver file takes.

A waiver is an in-toto Statement (predicate type `WAIVER_PREDICATE`) about one
release, bound to it by the release's subject digest, that names finding
fingerprints of one rule. Its file is an unsigned statement, a DSSE envelope
(key signatures) or a Sigstore bundle (a keyless signature); which one is told
from the outer JSON alone, and the statement is parsed only from bytes whose
signature holds (or to show a signer what they are about to sign).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, Field, ValidationError, field_validator, model_validator

from gate.errors import InputError
from gate.models.base import StrictModel
from gate.models.finding import RULE_CODE, Rule
from gate.saferead import read_bounded
from gate.signing.document import is_bundle
from gate.signing.dsse import Statement, Verified

WAIVER_PREDICATE = "https://model-gate.dev/waiver/v1"
MAX_WAIVER_BYTES = 1024 * 1024
MAX_WAIVER_FILES = 500
# Clocks of the reviewer's laptop and the CI runner disagree a little.
CLOCK_SKEW = dt.timedelta(minutes=5)
FINDING_ID = re.compile(r"^(GATE-[A-Z]{2}\d{3})-[0-9a-f]{16}$")


class Justification(StrEnum):
    """Why the risk is acceptable: the VEX status justifications, plus two of our own."""

    COMPONENT_NOT_PRESENT = "component_not_present"
    VULNERABLE_CODE_NOT_PRESENT = "vulnerable_code_not_present"
    VULNERABLE_CODE_NOT_IN_EXECUTE_PATH = "vulnerable_code_not_in_execute_path"
    VULNERABLE_CODE_CANNOT_BE_CONTROLLED_BY_ADVERSARY = "vulnerable_code_cannot_be_controlled_by_adversary"
    INLINE_MITIGATIONS_ALREADY_EXIST = "inline_mitigations_already_exist"
    FALSE_POSITIVE = "false_positive"  # the check is wrong about this release
    RISK_ACCEPTED = "risk_accepted"  # the risk is real and accepted with compensating controls


def identity_key(value: str) -> str:
    """The form in which two identities are compared: Unicode NFKC, surrounding space stripped,
    case folded. 'Alice@Example.com ', 'alice@example.com' and its fullwidth twin are one person."""
    return unicodedata.normalize("NFKC", value).strip().casefold()


def _no_control(value: str) -> str:
    """Identities are names, not text to render: control and invisible format characters are refused."""
    bad = next((c for c in value if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")), None)
    if bad is not None:
        raise ValueError(f"contains the control or invisible character U+{ord(bad):04X}")
    if not identity_key(value):
        raise ValueError("is empty once spaces are stripped")
    return value


Identity = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_no_control)]
KEY_ID = re.compile(r"^[0-9a-f]{64}$")


class ReleaseRef(StrictModel):
    name: str = Field(max_length=200)
    version: str = Field(max_length=100)


Text = Annotated[str, Field(min_length=1, max_length=1000)]


class WaiverPredicate(StrictModel):
    """What a reviewer signs. Times are RFC 3339 with a zone."""

    release: ReleaseRef | None = None  # for people reading the file; the subject digest binds
    rule: str
    findings: tuple[str, ...] = Field(min_length=1, max_length=100)
    justification: Justification
    reason: str = Field(min_length=1, max_length=4000)
    controls: tuple[Text, ...] = Field((), max_length=20)
    requester: Identity
    # sha256 of the requester's public key (DER SubjectPublicKeyInfo): a signature by that key
    # never counts as an approval, whatever reviewer id the key is listed under.
    requester_key: str | None = Field(None, pattern=KEY_ID.pattern)
    approvers: tuple[Identity, ...] = Field((), max_length=20)  # when set, only these may approve
    ticket: str | None = Field(None, min_length=1, max_length=500)
    created: AwareDatetime
    expires: AwareDatetime

    @field_validator("rule")
    @classmethod
    def _rule(cls, v: str) -> str:
        if not RULE_CODE.match(v):
            raise ValueError("must be a rule code like GATE-RI005")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> WaiverPredicate:
        for fid in self.findings:
            m = FINDING_ID.match(fid)
            if not m:
                raise ValueError(f"finding id '{fid[:80]}' is not a finding fingerprint")
            if m.group(1) != self.rule:
                raise ValueError(f"finding {fid} belongs to rule {m.group(1)}, not {self.rule}")
        if len(set(self.findings)) != len(self.findings):
            raise ValueError("findings are listed twice")
        if self.expires <= self.created:
            raise ValueError("expires must be after created")
        return self


# The rule catalogue, given by the caller (the engine or a command): rule code -> rule, or None.
RuleLookup = Callable[[str], Rule | None]


Kind = Literal["envelope", "bundle", "statement"]


def read_waiver(path: Path) -> bytes:
    return read_bounded(path, MAX_WAIVER_BYTES, "waiver")


def kind_of(raw: bytes, source: str) -> Kind:
    """Which of the three waiver file forms this is, judged from its outer JSON only."""
    if len(raw) > MAX_WAIVER_BYTES:
        raise InputError(f"{source}: larger than {MAX_WAIVER_BYTES} bytes; not a waiver")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise InputError(f"{source}: not JSON (a waiver is a JSON file)") from None
    if not isinstance(data, dict):
        raise InputError(f"{source}: not a waiver (expected a JSON object)")
    if "payload" in data or "signatures" in data:
        return "envelope"
    if is_bundle(data):
        return "bundle"
    if "predicateType" in data or "_type" in data:
        return "statement"
    raise InputError(f"{source}: not a waiver (neither a DSSE envelope, a Sigstore bundle nor a statement)")


def parse_waiver_statement(
    payload: bytes, payload_type: str, source: str
) -> tuple[Statement, WaiverPredicate]:
    """Parse a payload as a waiver Statement. Call only on verified bytes (or to show a signer)."""
    st = Verified(payload=payload, payload_type=payload_type, key_ids=()).statement(source)
    if st.predicateType != WAIVER_PREDICATE:
        raise InputError(
            f"{source}: predicateType is '{st.predicateType[:100]}', not a waiver ({WAIVER_PREDICATE})"
        )
    if not 1 <= len(st.subject) <= 2:
        raise InputError(
            f"{source}: subject: a waiver names one release (its digest, and its model's root digest) "
            f"(found {len(st.subject)} subjects)"
        )
    try:
        pred = WaiverPredicate.model_validate(st.predicate)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise InputError(f"{source}: predicate.{where}: {msg(err)}") from None
    return st, pred


def msg(err: Any) -> str:
    return str(err["msg"]).removeprefix("Value error, ")


def waiver_id(payload: bytes) -> str:
    """Names exactly what was signed: the same statement has the same id in every file."""
    return "WV-" + hashlib.sha256(payload).hexdigest()[:12]


@dataclass(frozen=True)
class WaiverFile:
    path: Path
    raw: bytes

    @property
    def sha256(self) -> str:
        return "sha256:" + hashlib.sha256(self.raw).hexdigest()
