"""Signed waivers: what importers use, from the modules that hold each part.

- `model`: the waiver (what a reviewer signs) and the three forms of its file;
- `author`: writing and signing a waiver;
- `trust`: who signed it, against the reviewers the policy trusts;
- `decide`: whether one verified waiver applies;
- `apply`: the applier the engine calls.

A library: it never imports the engine, the checks or the command layer (the
rule catalogue and the blocking decision come from the caller).
"""

from __future__ import annotations

from gate.waivers.apply import WaiverSet, load_waiver_applier
from gate.waivers.author import (
    check_against_report,
    default_requester,
    new_waiver,
    open_for_signing,
    sign_waiver,
    sign_waiver_keyless,
)
from gate.waivers.decide import Decision
from gate.waivers.model import (
    WAIVER_PREDICATE,
    Justification,
    WaiverFile,
    WaiverPredicate,
    identity_key,
    parse_waiver_statement,
    read_waiver,
    waiver_id,
)

__all__ = [
    "WAIVER_PREDICATE",
    "Decision",
    "Justification",
    "WaiverFile",
    "WaiverPredicate",
    "WaiverSet",
    "check_against_report",
    "default_requester",
    "identity_key",
    "load_waiver_applier",
    "new_waiver",
    "open_for_signing",
    "parse_waiver_statement",
    "read_waiver",
    "sign_waiver",
    "sign_waiver_keyless",
    "waiver_id",
]
