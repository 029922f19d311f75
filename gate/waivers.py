"""Signed waivers: create, sign, verify, match."""

from __future__ import annotations

from pathlib import Path

from gate.engine import WaiverApplier
from gate.errors import InputError


def load_waiver_applier(directory: Path) -> WaiverApplier:
    raise InputError(
        f"{directory}: signed waivers are not supported by this version of model-gate",
        hint="Remove --waivers; findings must be fixed until waiver support lands.",
    )
