"""Data crossing the suite's boundaries: garak's report rows, and the gate's own records.

garak's rows use `GarakRow` (frozen, unknown keys ignored): garak adds fields
between releases and the gate reads only what it needs, with strict types for
those. Everything the gate writes (details, cache entries, shard reports) is a
`StrictModel`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr, model_validator

from gate.models.base import StrictModel

RECORD_SCHEMA = "model-gate/redteam/v1"


class GarakRow(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    entry_type: StrictStr


class InitRow(GarakRow):
    entry_type: Literal["init"]
    garak_version: StrictStr
    start_time: StrictStr
    run: StrictStr


class AttemptRow(GarakRow):
    entry_type: Literal["attempt"]
    uuid: StrictStr
    seq: StrictInt = Field(ge=0)
    status: StrictInt
    probe_classname: StrictStr


class EvalRow(GarakRow):
    entry_type: Literal["eval"]
    probe: StrictStr
    detector: StrictStr
    passed: StrictInt = Field(ge=0)
    fails: StrictInt = Field(ge=0)
    nones: StrictInt = Field(0, ge=0)
    total_evaluated: StrictInt = Field(ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> EvalRow:
        if self.passed + self.fails != self.total_evaluated:
            raise ValueError(
                f"passed ({self.passed}) + fails ({self.fails}) != total_evaluated ({self.total_evaluated})"
            )
        return self


class CompletionRow(GarakRow):
    entry_type: Literal["completion"]
    end_time: StrictStr
    run: StrictStr


class PluginCacheRow(GarakRow):
    entry_type: Literal["plugin_cache"]
    plugin_cache: dict[str, Any]


class HitRow(BaseModel):
    """One line of garak's hitlog: a successful attack."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    probe: StrictStr
    detector: StrictStr
    score: StrictFloat | StrictInt
    prompt: Any = None
    output: Any = None
    attempt_id: StrictStr | None = None


# --- what the gate records -------------------------------------------------------------


class DetectorResult(StrictModel):
    detector: str
    passed: int = Field(ge=0)
    fails: int = Field(ge=0)
    nones: int = Field(ge=0)
    total_evaluated: int = Field(ge=0)


class Reproduction(StrictModel):
    """An attack that worked: the exact prompt and what the model answered."""

    probe: str
    detector: str
    prompt: str
    output: str
    score: float


class ProbeResult(StrictModel):
    """One probe's outcome; also the unit the cache stores."""

    probe: str
    detectors: tuple[DetectorResult, ...]
    reproductions: tuple[Reproduction, ...] = ()
    cached: bool = False

    @property
    def worst(self) -> DetectorResult:
        """The detector that saw the most attack successes (ties: the larger sample)."""
        return max(
            self.detectors,
            key=lambda d: (d.fails / d.total_evaluated if d.total_evaluated else 0.0, d.total_evaluated),
        )


class CategoryResult(StrictModel):
    category: str
    title: str
    probes: tuple[str, ...]
    fails: int
    total: int
    asr: float
    ci_low: float
    ci_high: float
    threshold: float | None  # None: measured and reported, not gated
    decide_on: Literal["lower", "point", "upper"]
    over_threshold: bool
    baseline_asr: float | None = None
    delta: float | None = None
    regression: bool = False
    improved: bool = False
    owasp: tuple[str, ...] = ()
    atlas: tuple[str, ...] = ()


class Settings(StrictModel):
    """Everything besides model, endpoint and probe that changes garak's results."""

    generations: int
    prompt_cap: int
    seed: int
    max_tokens: int
    extended_detectors: bool


class RedteamRecord(StrictModel):
    """The adversarial check's details: enough to re-judge, compare or merge a run."""

    schema_: Literal["model-gate/redteam/v1"] = Field("model-gate/redteam/v1", alias="schema")
    garak_version: str
    release_digest: str
    model_digest: str
    endpoint: str  # type and address, never a secret
    probe_set: str
    probes: tuple[str, ...]  # the whole set, before sharding
    shard: tuple[int, int] | None = None  # (i, n), 1-based
    settings: Settings
    skipped_offline: tuple[str, ...] = ()
    results: tuple[ProbeResult, ...]
    categories: tuple[CategoryResult, ...] = ()
    cache_hits: int = 0
    garak_seconds: float = 0.0

    @property
    def shard_probes(self) -> tuple[str, ...]:
        return tuple(r.probe for r in self.results)
