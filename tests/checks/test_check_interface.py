"""The check interface: settings named once as the type parameter, and typed command-line options."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import pytest
from pydantic import ValidationError

from gate.checks.interface import Check, CheckContext, CheckOutcome, NoConfig, RedteamOptions, RunOptions
from gate.models.base import StrictModel
from gate.release import load_release
from gate.risk import score
from tests.support import DEMO

C = TypeVar("C", bound=StrictModel)


class _Settings(StrictModel):
    limit: int = 3


class _Other(StrictModel):
    limit: int = 3


def _ctx(config: C) -> CheckContext[C]:
    release = load_release(DEMO)
    return CheckContext(release=release, tier=score(release.manifest), config=config, options=RunOptions())


def test_the_type_parameter_is_the_config_model() -> None:
    class Typed(Check[_Settings]):
        id = "typed"
        title = description = "typed"
        rules = ()

        def run(self, ctx: CheckContext[_Settings]) -> CheckOutcome:
            return CheckOutcome(summary=f"limit {ctx.config.limit}")

    assert Typed.Config is _Settings
    assert Typed().run(_ctx(Typed.Config.model_validate({"limit": 5}))).summary == "limit 5"


def test_a_config_that_is_not_the_parameter_is_refused() -> None:
    with pytest.raises(TypeError, match="Config _Other is not its parameter _Settings"):

        class Wrong(Check[_Settings]):  # pragma: no cover - the class statement raises
            id = "wrong"
            Config = _Other

            def run(self, ctx: CheckContext[_Settings]) -> CheckOutcome:
                return CheckOutcome()


def test_an_unparametrised_check_keeps_working() -> None:
    class Legacy(Check):
        id = "legacy"
        title = description = "legacy"
        rules = ()
        Config = _Settings

        def run(self, ctx: CheckContext) -> CheckOutcome:
            cfg: _Settings = ctx.config
            return CheckOutcome(summary=str(cfg.limit))

    class Bare(Check):
        id = "bare"

        def run(self, ctx: CheckContext) -> CheckOutcome:
            return CheckOutcome()

    assert Legacy.Config is _Settings and Bare.Config is NoConfig
    assert Legacy().run(_ctx(_Settings(limit=7))).summary == "7"


def test_every_registered_check_declares_its_settings_once() -> None:
    from gate.checks import all_checks
    from gate.checks.interface import _config_parameter

    for cls in all_checks():
        param = _config_parameter(cls)
        if param is not None:
            assert cls.Config is param, cls.id


def test_redteam_options_are_typed() -> None:
    opts = RunOptions(redteam=RedteamOptions(shard=(2, 4), cache_dir=Path("/var/cache/x")))
    assert opts.redteam.shard == (2, 4) and opts.redteam.probe_set is None


def test_redteam_options_are_validated() -> None:
    opts = RedteamOptions.model_validate(
        {"probe_set": "broad", "shard": [1, 3], "cache_dir": "/c", "parallel_attempts": 4}
    )
    assert opts == RedteamOptions(probe_set="broad", shard=(1, 3), cache_dir=Path("/c"), parallel_attempts=4)
    # A misspelt option is an error, never ignored silently.
    with pytest.raises(ValidationError, match="no_cahce"):
        RedteamOptions.model_validate({"no_cahce": True})
    with pytest.raises(ValidationError):
        RedteamOptions(parallel_attempts=0)


def test_run_options_take_the_redteam_options_typed_only() -> None:
    """The untyped mapping the red-team options were once also given as is gone."""
    with pytest.raises(TypeError, match="extra"):
        RunOptions(extra={"shard": (1, 2)})  # type: ignore[call-arg]
    assert RunOptions(redteam=RedteamOptions(no_cache=True)).redteam.no_cache


def test_the_check_command_passes_its_redteam_options_typed() -> None:
    from gate.commands.check import _redteam_options
    from gate.errors import InputError

    assert _redteam_options("broad", "2/4") == RedteamOptions(probe_set="broad", shard=(2, 4))
    assert _redteam_options(None, None) == RedteamOptions()
    with pytest.raises(InputError, match="--shard '5/4'"):
        _redteam_options(None, "5/4")
