"""What a check is, what it receives and what it returns.

A check knows nothing about reporting, exit codes, waivers or other checks. It
receives a `CheckContext` and returns a `CheckOutcome`. A check that raises
becomes an `error` result in the engine, which blocks (fail closed). "Not
applicable" is a result (`CheckOutcome.skipped`), not an exception.

A check names its policy settings once, as its type parameter: `class
MonitoringCheck(Check[MonitoringConfig])` sets `Config` and types `ctx.config` in
`run`. A check declared without a parameter (`Check`, with `Config = ...` set by
hand) still works; its `ctx.config` is then untyped.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, get_args, get_origin

from pydantic import Field
from typing_extensions import TypeVar

from gate.inventory import DigestRequest
from gate.models.base import StrictModel
from gate.models.finding import Finding, Rule, new_finding
from gate.models.manifest import Manifest
from gate.models.report import CheckStatus
from gate.models.tier import TierResult
from gate.progress import Sink, ignore
from gate.release import Release

# A check reads the time only through its context's clock; both are part of this interface.
from gate.timefmt import Clock as Clock  # noqa: PLC0414
from gate.timefmt import utc_now as utc_now  # noqa: PLC0414


class NoConfig(StrictModel):
    """For checks that take no policy settings."""


ConfigT = TypeVar("ConfigT", bound=StrictModel, default=Any)
"""A check's policy settings model; `Any` for a check declared without a parameter."""


class RedteamOptions(StrictModel):
    """The adversarial check's command-line options; each one given overrides its policy setting."""

    probe_set: str | None = Field(None, description="Probe set to run instead of the policy's.")
    shard: tuple[int, int] | None = Field(
        None, description="Run slice I of N of the probe set (`--shard I/N`)."
    )
    cache_dir: Path | None = Field(None, description="Where garak results are cached, outside the release.")
    no_cache: bool = Field(False, description="Run every probe again, ignoring cached results.")
    parallel_attempts: int | None = Field(None, ge=1, description="Prompts garak sends at once.")


@dataclass(frozen=True)
class RunOptions:
    """What the user asked for on the command line that checks may need."""

    offline: bool = False
    baseline: Path | None = None  # previous release's report, for regression checks
    workdir: Path | None = None  # scratch space outside the release for tool outputs
    report_dir: Path | None = None  # where checks put their sidecar files (beside the report, or --rows-dir)
    redteam: RedteamOptions = field(default_factory=RedteamOptions)
    # How the report names report_dir in links: "" when the files lie beside the report file,
    # else the directory's path as given (a report on standard output, or --rows-dir elsewhere).
    sidecar_link: str = ""
    rows_not_written: str | None = None  # why no sidecar directory was chosen, for the details
    # Training data (`--shard I/N`): record this slice of the rows into a state file; or, for
    # `merge`, the shards' states (gate.datacheck.shard.ShardState) to judge instead of the rows.
    data_shard: tuple[int, int] | None = None
    data_states: tuple[Any, ...] | None = None


@dataclass(frozen=True)
class EarlierResult:
    """What a check that ran before this one in the same run found (before waivers)."""

    status: CheckStatus
    findings: tuple[Finding, ...] = ()

    @property
    def passed(self) -> bool:
        """Completed, and nothing it found blocks: a warning passes, a skip or an error does not."""
        return self.status in (CheckStatus.PASSED, CheckStatus.WARNED) and not any(
            f.effective_blocking for f in self.findings
        )


@dataclass(frozen=True)
class CheckContext(Generic[ConfigT]):
    release: Release
    tier: TierResult
    config: ConfigT  # an instance of the check's `Config` model, from the policy
    options: RunOptions
    clock: Clock = utc_now
    policy_dir: Path | None = None  # directory of the policy file, for relative trust roots
    required: bool = False  # the policy requires this check at the release's tier
    # Results of the checks that ran earlier in this run, by id (see `Check.runs_after`).
    earlier: Mapping[str, EarlierResult] = field(default_factory=dict)
    # Where a long check reports how far it got (gate.progress); what it says never changes findings.
    progress: Sink = ignore

    @property
    def manifest(self) -> Manifest:
        return self.release.manifest

    @property
    def offline(self) -> bool:
        return self.options.offline


@dataclass
class CheckOutcome:
    """What a check returns: its findings, a one-line summary and optional details."""

    findings: list[Finding] = field(default_factory=list)
    summary: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    skipped: bool = False  # the check did not apply (e.g. nothing to check); not a pass
    artifacts: dict[str, str] = field(default_factory=dict)  # name -> path of files written beside the report


class Check(ABC, Generic[ConfigT]):
    """One check. Subclasses set `id`, `title`, `description` and `rules`.

    The policy settings model is the type parameter (`Check[XConfig]`), which also becomes
    `Config`; a check without settings leaves it out (`Config` is then `NoConfig`).
    """

    id: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str]
    rules: ClassVar[tuple[Rule, ...]]
    Config: ClassVar[type[StrictModel]] = NoConfig
    # Checks that must have run and passed earlier in the same run before this one may start
    # (e.g. model files judged safe before a check executes a model). Enforced by the engine:
    # otherwise this check is skipped, or an error where the policy requires it.
    runs_after: ClassVar[tuple[str, ...]] = ()

    def applies(self, manifest: Manifest) -> bool:
        """Whether the release declares anything for this check; when not, `run` only reports a
        skip, so `runs_after` need not hold (the report then gives the check's own reason)."""
        return True

    def preflight(self, release: Release, config: Any) -> None:
        """Validate what this check will read before any check runs; raise InputError (exit 2)
        on bad input. Runs for the checks selected to run, after the inventory is built."""
        return None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        model = _config_parameter(cls)
        if model is None:
            return
        if "Config" not in cls.__dict__:
            cls.Config = model
        elif not issubclass(cls.Config, model):
            raise TypeError(
                f"{cls.__name__}: Config {cls.Config.__name__} is not its parameter {model.__name__}"
            )

    def digest_requests(self, manifest: Manifest, root: Path, config: ConfigT) -> list[DigestRequest]:
        """Digests beyond sha256 this check needs; computed in the inventory's single pass."""
        return []

    @abstractmethod
    def run(self, ctx: CheckContext[ConfigT]) -> CheckOutcome: ...

    # Helpers so that every check builds findings the same way.
    @classmethod
    def rule(cls, name_or_code: str) -> Rule:
        for r in cls.rules:
            if name_or_code in (r.code, r.name):
                return r
        raise KeyError(f"{cls.id}: no rule {name_or_code}")

    @classmethod
    def finding(
        cls,
        rule: str | Rule,
        title: str,
        *,
        path: str | None = None,
        line: int | None = None,
        detail: str | None = None,
        key: str = "",
        evidence: dict[str, Any] | None = None,
        reproduction: str | None = None,
        mitigation: str | None = None,
        technique: tuple[str, ...] | None = None,
        severity: Any = None,
    ) -> Finding:
        """Build a finding. `key` tells apart several findings of one rule in one file.

        Blocking is decided later by the engine from the policy; checks report
        what they found and how severe it is.
        """
        r = rule if isinstance(rule, Rule) else cls.rule(rule)
        return new_finding(
            r,
            title,
            check=cls.id,
            path=path,
            line=line,
            detail=detail,
            key=key,
            evidence=evidence,
            reproduction=reproduction,
            mitigation=mitigation,
            technique=technique,
            severity=severity,
        )


def _config_parameter(cls: type) -> type[StrictModel] | None:
    """The settings model `cls` names as its parameter in `class X(Check[Model])`, if any."""
    for base in getattr(cls, "__orig_bases__", ()):
        origin = get_origin(base)
        if isinstance(origin, type) and issubclass(origin, Check):
            args = get_args(base)
            if args and isinstance(args[0], type) and issubclass(args[0], StrictModel):
                return args[0]
    return None
