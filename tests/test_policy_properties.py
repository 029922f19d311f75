"""Property tests of composition: a child never loosens its parent, and `extends: [X]` alone is X.

Parents and children are random tier sections and check settings (tests/support/policy_gen.py); "looser"
is defined per merge rule there. Bounded: a few dozen examples each, no deadline per example.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gate.errors import PolicyError
from gate.policy import load_policy, packaged_policies
from gate.risk import Tier
from tests.support.policy_gen import loosenings, parent_doc, policy_doc, tier_section

SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
# What a conflict is allowed to be about: a source of truth the child changed.
CONFLICT_REASONS = ("changes the value", "adds ", "lifts the parent's restriction")


def _write(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(json.dumps(doc, indent=1), "utf-8")  # JSON is YAML, and never uses aliases
    return path


def _sets_allow_skip(doc: dict[str, Any], tier: Tier) -> bool:
    own = (doc.get("tiers") or {}).get(tier.value) or {}
    return "allow_skip" in own or "allow_skip" in (doc.get("defaults") or {})


def _assert_never_looser(parent_ref: str, child: Path) -> None:
    parent = load_policy(parent_ref)
    try:
        composed = load_policy(str(child))
    except PolicyError as exc:
        # Only a source of truth may refuse to compose, and the message names the setting.
        assert any(r in exc.message for r in CONFLICT_REASONS), exc.message
        return
    skip = _delegated(parent)
    for tier in Tier:
        # allow_skip: unset means "no opinion", so only a parent that sets it bounds the child.
        sets_skip = any(_sets_allow_skip(src.doc.data, tier) for src in parent.sources)
        problems = loosenings(parent.for_tier(tier), composed.for_tier(tier), sets_skip, skip)
        assert not problems, (tier, problems)


def _delegated(policy: Any) -> set[str]:
    from gate.policy import _parse

    out: set[str] = set()
    for src in policy.sources:
        out |= set(_parse(src).delegate)
    return out


@SETTINGS
@given(parent=parent_doc(), child=policy_doc())
def test_random_child_never_loosens_random_parent(
    tmp_path: Path, parent: dict[str, Any], child: dict[str, Any]
) -> None:
    p = _write(tmp_path / "parent.yaml", {"version": 1, "name": "p", **parent})
    c = _write(tmp_path / "child.yaml", {"version": 1, "name": "c", "extends": ["parent.yaml"], **child})
    _assert_never_looser(str(p), c)


@SETTINGS
@pytest.mark.parametrize("name", packaged_policies())
@given(child=st.fixed_dictionaries({"defaults": tier_section()}))
def test_random_child_never_loosens_a_packaged_policy(
    tmp_path: Path, name: str, child: dict[str, Any]
) -> None:
    # The packaged policies delegate who is trusted (their `delegate:`): those settings are the
    # child's; everything else must hold.
    c = _write(tmp_path / "child.yaml", {"version": 1, "name": "c", "extends": [name], **child})
    _assert_never_looser(name, c)


@SETTINGS
@given(doc=policy_doc())
def test_extends_x_alone_is_x_for_random_x(tmp_path: Path, doc: dict[str, Any]) -> None:
    x = _write(tmp_path / "x.yaml", {"version": 1, "name": "x", **doc})
    only = _write(tmp_path / "only.yaml", {"version": 1, "name": "x", "extends": ["x.yaml"]})
    a, b = load_policy(str(x)), load_policy(str(only))
    assert a.tiers == b.tiers
    assert a.sha256 == b.sha256


@pytest.mark.parametrize("name", packaged_policies())
def test_extends_x_alone_is_x_for_every_packaged_policy(tmp_path: Path, name: str) -> None:
    only = _write(tmp_path / "only.yaml", {"version": 1, "name": name, "extends": [name]})
    a, b = load_policy(name), load_policy(str(only))
    assert a.tiers == b.tiers
    assert a.sha256 == b.sha256
