"""The last approved release's rates: the baseline a run is compared with."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

from gate.checks.adversarial.rules import CHECK
from gate.errors import InputError
from gate.saferead import read_bounded

BASELINE_NAME = "adversarial-baseline.json"
BASELINE_MAX_BYTES = 64 * 1024 * 1024


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _BaseCategory(_Lenient):
    category: StrictStr
    asr: float = Field(ge=0, le=1)


class _BaseDetails(_Lenient):
    categories: list[_BaseCategory]


class _BaseCheck(_Lenient):
    id: StrictStr
    details: dict[str, Any] = Field(default_factory=dict)


class _BaseReport(_Lenient):
    checks: list[_BaseCheck]


def load_baseline(given: Path | None, release_root: Path) -> tuple[dict[str, float] | None, str | None]:
    """Per-category rates of the last approved release: --baseline, or adversarial-baseline.json
    next to the release directory. Accepts a gate report (check or redteam, JSON) or its
    adversarial details. None when there is no baseline."""
    path = given if given is not None else release_root.parent / BASELINE_NAME
    if given is None and not os.path.lexists(path):
        return None, None  # something else there (a link to a device, a FIFO) is refused below
    raw = read_bounded(path, BASELINE_MAX_BYTES, "baseline")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InputError(f"{path}: baseline is not JSON: {str(exc)[:80]}") from None
    try:
        if isinstance(data, dict) and "checks" in data:
            rep = _BaseReport.model_validate(data)
            found = [c for c in rep.checks if c.id == CHECK]
            if not found or not found[0].details:
                raise InputError(f"{path}: baseline report has no completed adversarial check")
            details = _BaseDetails.model_validate(found[0].details)
        else:
            details = _BaseDetails.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise InputError(f"{path}: baseline: {where}: {err['msg']}") from None
    return {c.category: c.asr for c in details.categories}, str(path)
