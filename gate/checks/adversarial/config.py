"""The adversarial check's settings (`checks.adversarial` in the policy), with their only-tighten rules."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator

from gate.models.base import StrictModel
from gate.models.policy import Ordered, Stricter


class AdversarialConfig(StrictModel):
    probe_set: Annotated[str, Stricter.FIXED] = Field(
        "fast", description="Probe set for `check` (see gate/data/redteam/probesets.yaml)."
    )
    broad_probe_set: Annotated[str, Stricter.FIXED] = Field(
        "broad", description="Probe set for `redteam --broad`."
    )
    probes: Annotated[tuple[str, ...] | None, Stricter.FIXED] = Field(
        None, description="Explicit probe list (module.Class); replaces probe_set when given."
    )
    extra_probes: Annotated[tuple[str, ...], Stricter.UNION] = Field(
        (), description="Probes added to the set, as module.Class."
    )
    exclude_probes: Annotated[tuple[str, ...], Stricter.INTERSECTION] = Field(
        (), description="Probes removed from the set."
    )
    thresholds: Annotated[dict[str, Annotated[float, Field(ge=0, le=1)]], Stricter.MIN] = Field(
        default_factory=dict,
        description="Highest acceptable attack success rate per category; categories not listed are "
        "measured and reported but do not block.",
    )
    decide_on: Annotated[Literal["lower", "point", "upper"], Ordered(("lower", "point", "upper"))] = Field(
        "lower",
        description="Which end of the 95% Wilson interval is compared with the threshold: 'lower' "
        "blocks only when the rate is over the limit beyond reasonable noise; 'upper' blocks unless "
        "it is under beyond reasonable doubt.",
    )
    regression_tolerance: Annotated[float, Stricter.MIN] = Field(
        0.05, ge=0, le=1, description="Rise in a category's rate over the baseline that blocks."
    )
    max_failed_generations: Annotated[float, Stricter.MIN] = Field(
        0.1, ge=0, le=1, description="Largest share of failed generations (garak 'nones') accepted."
    )
    generations: Annotated[int, Stricter.MAX] = Field(1, ge=1, le=100, description="Outputs per prompt.")
    prompt_cap: Annotated[int, Stricter.MAX] = Field(
        16, ge=1, le=100000, description="Prompts per probe (garak's soft_probe_prompt_cap)."
    )
    seed: Annotated[int, Stricter.FIXED] = Field(
        7, description="garak's seed: the same prompts are chosen each run."
    )
    max_tokens: Annotated[int, Stricter.MAX] = Field(
        150, ge=1, le=32768, description="Most tokens the endpoint may generate per answer."
    )
    extended_detectors: Annotated[bool, Stricter.ANY_TRUE] = Field(
        False,
        description="Also run each probe's extended detectors, beyond its primary one.",
    )
    parallel_attempts: Annotated[int, Stricter.MIN] = Field(
        1, ge=1, le=64, description="Attempts sent to the endpoint at once."
    )
    timeout_s: Annotated[float, Stricter.MAX] = Field(
        1800, gt=0, le=86400, description="Wall-clock limit for one garak run."
    )
    max_reproductions: Annotated[int, Stricter.TUNING] = Field(
        3, ge=0, le=50, description="Reproductions kept per failing category."
    )
    cache: Annotated[bool, Stricter.ALL_TRUE] = Field(
        True, description="Reuse per-probe results for an unchanged model and endpoint."
    )
    cache_dir: Annotated[str | None, Stricter.FIXED] = Field(
        None, description="Cache directory; default ~/.cache/model-gate/redteam."
    )
    garak_command: Annotated[tuple[str, ...] | None, Stricter.FIXED] = Field(
        None, description="Command that runs garak; default: python -m garak of the gate's interpreter."
    )
    hub_offline: Annotated[bool, Stricter.ALL_TRUE] = Field(
        True, description="Set HF_HUB_OFFLINE=1 for garak even when not --offline."
    )
    max_report_mb: Annotated[int, Stricter.MAX] = Field(
        2048, ge=1, description="Largest garak report the gate reads."
    )
    credential_env: Annotated[str | None, Stricter.FIXED] = Field(
        None,
        description="Environment variable holding the endpoint's API key. Only the policy names it: "
        "release.yaml's `endpoint.api_key_env`, when set, must name the same variable.",
    )
    credential_hosts: Annotated[tuple[str, ...], Stricter.SUBSET] = Field(
        (),
        description="Hosts (`host` for any port, or `host:port`) the credential may be sent to; "
        "an endpoint elsewhere gets no key.",
    )

    # --- the runtime guard in the loop (release.yaml `guard:`) --------------------------------
    guard_bare_run: Annotated[bool, Stricter.ANY_TRUE] = Field(
        False,
        description="Also attack the bare model (without the guard) with the same probes, to measure "
        "what the guard removes (guard_min_reduction needs it).",
    )
    guard_probe_set: Annotated[str, Stricter.FIXED] = Field(
        "guard-bypass",
        description="Probes that target filters rather than models (encodings, other languages, "
        "obfuscation), added to the run through the guard.",
    )
    guard_max_asr: Annotated[float | None, Stricter.MIN] = Field(
        None, ge=0, le=1, description="Highest attack success rate through the guard, in every category."
    )
    guard_min_reduction: Annotated[float | None, Stricter.MAX] = Field(
        None,
        ge=0,
        le=1,
        description="Smallest drop in attack success rate (bare minus guarded, points as a fraction) "
        "the guard must bring in each category whose bare rate is at least this high.",
    )
    guard_max_false_refusal: Annotated[float | None, Stricter.MIN] = Field(
        None,
        ge=0,
        le=1,
        description="Highest share of the gate's benign prompts the guard may refuse.",
    )
    guard_allow_python_actions: Annotated[bool, Stricter.ALL_TRUE] = Field(
        False,
        description="Run a NeMo Guardrails config that holds Python (actions.py, config.py): that is "
        "code from the release, run in a child process without secrets. Off: such a config is refused.",
    )
    guard_llm_url: Annotated[str | None, Stricter.FIXED] = Field(
        None,
        description="OpenAI-compatible base URL for the guard's own LLM calls (self-check rails and "
        "models the config declares besides `main`). Unset: those calls go to the release's endpoint.",
    )
    guard_llm_model: Annotated[str | None, Stricter.FIXED] = Field(
        None, description="Model name sent to guard_llm_url."
    )
    guard_url: Annotated[str | None, Stricter.FIXED] = Field(
        None,
        description="URL of the Lakera-Guard-compatible screening API (POST, `messages` in, "
        "`flagged` out) used when release.yaml declares a `lakera-compatible` guard.",
    )
    guard_credential_env: Annotated[str | None, Stricter.FIXED] = Field(
        None, description="Environment variable holding guard_url's API key (sent as a bearer token)."
    )
    guard_start_timeout_s: Annotated[float, Stricter.TUNING] = Field(
        120, gt=0, le=3600, description="How long the guard may take to start and answer."
    )
    # --- live endpoint controls (read-only, bounded) ----------------------------------------
    live_controls: Annotated[bool, Stricter.ANY_TRUE] = Field(
        False,
        description="Probe the release's endpoint itself: an unauthenticated request is refused, the "
        "rate limit monitoring.yaml declares is enforced, responses carry no more than declared.",
    )
    live_hosts: Annotated[tuple[str, ...], Stricter.SUBSET] = Field(
        (),
        description="Hosts (`host` or `host:port`) the live probes may contact; an endpoint elsewhere "
        "is never probed (the check errors).",
    )
    live_max_requests: Annotated[int, Stricter.MAX] = Field(
        120, ge=3, le=2000, description="Most requests the live probes send in one run."
    )
    live_rate_slack: Annotated[float, Stricter.MIN] = Field(
        0.1,
        ge=0,
        le=1,
        description="Requests beyond the declared limit (as a fraction of it) tolerated before a 429.",
    )

    @field_validator("credential_env")
    @classmethod
    def _credential_env(cls, v: str | None) -> str | None:
        if v is not None:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", v):
                raise ValueError("must be an environment variable name")
            if v.upper().startswith("MODEL_GATE_"):
                raise ValueError("the gate's own variables (MODEL_GATE_*) are never sent to an endpoint")
        return v

    @field_validator("guard_credential_env")
    @classmethod
    def _guard_env(cls, v: str | None) -> str | None:
        return cls._credential_env(v)

    @field_validator("guard_url", "guard_llm_url")
    @classmethod
    def _guard_urls(cls, v: str | None) -> str | None:
        from gate.redteam.credential import endpoint_host

        if v is not None:
            endpoint_host(v)
        return v

    @field_validator("credential_hosts", "live_hosts")
    @classmethod
    def _hosts(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        from gate.redteam.credential import host_entry

        for entry in v:
            host_entry(entry)
        return v
