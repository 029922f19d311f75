"""Every registered check keeps the plug-in contract.

One test per property, parametrized over the registry (`gate.checks.CHECKS`), so a new
check is held to the same rules the day it is registered: its rules have codes and names
no other rule has, one code prefix of its own and the four sections of their
documentation; every setting it takes is described; the packaged policies name it at
every tier; and a docs page carries its generated rule table. The registry itself refuses
duplicate rule codes and names instead of letting the first one shadow the other.
"""

from __future__ import annotations

import re
import sys
import types
from collections import Counter
from collections.abc import Iterator
from typing import get_args

import pytest
from pydantic import BaseModel

from gate.checks import (
    CHECKS,
    DuplicateRuleError,
    all_rules,
    find_rule,
    index_rules,
    load_check,
    rule_index,
)
from gate.checks.interface import Check, CheckContext, CheckOutcome
from gate.docs import DOC_RULES, rule_table
from gate.models.finding import Rule, Severity
from gate.policy import load_policy, packaged_policies
from gate.risk import Tier
from tests.support import ROOT

CHECK_IDS = list(CHECKS)
DOCS = sorted((ROOT / "docs").glob("*.md"))
ENGINE_CHECKS = ("gate", "waivers")  # the `check` of the rules the engine raises itself
SECTIONS = ("summary", "why", "example", "fix")
PLACEHOLDER = re.compile(r"\b(TODO|TBD|FIXME|XXX)\b|lorem ipsum", re.IGNORECASE)


def prefix(rule: Rule) -> str:
    return rule.code.removeprefix("GATE-")[:2]


def tabled_checks() -> dict[str, list[str]]:
    """Check -> the docs pages whose generated rule tables list it."""
    pages: dict[str, list[str]] = {}
    for doc in DOCS:
        for m in DOC_RULES.finditer(doc.read_text("utf-8")):
            for check in (c.strip() for c in m.group(2).split(",")):
                pages.setdefault(check, []).append(doc.name)
    return pages


def test_rule_codes_and_names_are_unique_across_every_check() -> None:
    rules = all_rules()
    codes = Counter(r.code for r in rules)
    names = Counter(r.name for r in rules)
    assert [c for c, n in codes.items() if n > 1] == []
    assert [c for c, n in names.items() if n > 1] == []
    assert len(rule_index()) == 2 * len(rules)


@pytest.mark.parametrize("check_id", CHECK_IDS)
def test_the_check_declares_itself(check_id: str) -> None:
    cls = load_check(check_id)
    assert cls.id == check_id
    assert cls.title.strip() and cls.description.strip().endswith(".")
    assert cls.rules, f"{check_id} declares no rules: it could never report anything"
    assert {r.check for r in cls.rules} == {check_id}


@pytest.mark.parametrize("check_id", CHECK_IDS)
def test_one_code_prefix_per_check_and_no_one_elses(check_id: str) -> None:
    own = {prefix(r) for r in load_check(check_id).rules}
    assert len(own) == 1, f"{check_id} uses several code prefixes: {sorted(own)}"
    others = {prefix(r) for r in all_rules() if r.check != check_id}
    assert not own & others, f"{check_id}'s prefix {own} is used by another check"


@pytest.mark.parametrize("check_id", [*CHECK_IDS, *ENGINE_CHECKS])
def test_every_rule_says_what_why_example_and_fix(check_id: str) -> None:
    rules = [r for r in all_rules() if r.check == check_id]
    assert rules
    for r in rules:
        texts = {s: getattr(r, s).strip() for s in SECTIONS}
        for section, text in texts.items():
            assert len(text) >= 15, f"{r.code}: {section} is empty or a stub: {text!r}"
            # Quoted text (`TODO ...`) may name placeholders; the prose around it may not be one.
            prose = re.sub(r"`[^`]*`", "", text)
            assert not PLACEHOLDER.search(prose), f"{r.code}: {section} holds a placeholder"
        assert texts["summary"].endswith("."), f"{r.code}: the summary is one sentence, ending with '.'"
        assert len(set(texts.values())) == len(SECTIONS), f"{r.code}: two sections say the same thing"
        assert r.code in rule_table([check_id]) and f"`{r.name}`" in rule_table([check_id])


def _fields(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, str | None]]:
    """(dotted name, description) of every field of `model` and of the models nested in it."""
    for name, info in model.model_fields.items():
        yield prefix + name, info.description
        stack: list[object] = [info.annotation]
        while stack:
            ann = stack.pop()
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                yield from _fields(ann, f"{prefix}{name}.")
            else:
                stack.extend(get_args(ann))


@pytest.mark.parametrize("check_id", CHECK_IDS)
def test_every_setting_is_described(check_id: str) -> None:
    undocumented = [
        name for name, text in _fields(load_check(check_id).Config) if not (text and text.strip())
    ]
    assert undocumented == [], f"checks.{check_id}: fields without a description: {undocumented}"


@pytest.mark.parametrize("policy", packaged_policies())
@pytest.mark.parametrize("check_id", CHECK_IDS)
def test_every_packaged_policy_names_the_check_at_every_tier(check_id: str, policy: str) -> None:
    loaded = load_policy(policy)
    for tier in Tier:
        section = loaded.for_tier(tier)
        assert check_id in {*section.required, *section.optional}, (
            f"policy '{policy}' does not name {check_id} at tier {tier.value}: it never runs there"
        )


@pytest.mark.parametrize("check_id", [*CHECK_IDS, *ENGINE_CHECKS])
def test_a_docs_page_carries_the_generated_rule_table(check_id: str) -> None:
    pages = tabled_checks().get(check_id, [])
    assert len(pages) == 1, (
        f"{check_id}: expected one docs page with <!-- BEGIN GENERATED: rules {check_id} -->, found {pages}"
    )
    text = (ROOT / "docs" / pages[0]).read_text("utf-8")
    for r in all_rules():
        if r.check == check_id:
            assert f"| `{r.code}` | `{r.name}` |" in text, f"{r.code} is missing from docs/{pages[0]}"


def test_every_docs_rule_table_names_a_known_check() -> None:
    known = {*CHECK_IDS, *ENGINE_CHECKS}
    assert set(tabled_checks()) <= known
    with pytest.raises(KeyError, match="no-such-check"):
        rule_table(["no-such-check"])


def test_the_generated_table_shows_what_no_policy_can_change() -> None:
    base = find_rule("GATE-RT001")
    assert base is not None and base.always_blocks and not base.waivable
    table = rule_table(["risk-tier"])
    assert "| `GATE-RT001` | `prohibited-ai-practice` | critical (always blocks, cannot be waived) |" in table
    assert "| `GATE-RT002` | `high-risk-ai-use` | info |" in table


# -- the registry refuses duplicates -------------------------------------------------------


def _rule(code: str, name: str, check: str = "plugin") -> Rule:
    return Rule(
        code=code,
        name=name,
        check=check,
        severity=Severity.LOW,
        summary="A summary.",
        why="Why it matters.",
        example="An example.",
        fix="A fix.",
    )


def test_index_rules_refuses_a_code_or_a_name_declared_twice() -> None:
    with pytest.raises(DuplicateRuleError, match="GATE-ZZ001 is declared twice"):
        index_rules([_rule("GATE-ZZ001", "first-rule"), _rule("GATE-ZZ001", "second-rule", "other")])
    with pytest.raises(DuplicateRuleError, match="same-name is declared twice"):
        index_rules([_rule("GATE-ZZ001", "same-name"), _rule("GATE-ZZ002", "same-name")])
    index = index_rules([_rule("GATE-ZZ001", "first-rule"), _rule("GATE-ZZ002", "second-rule")])
    assert index["GATE-ZZ002"].name == "second-rule" and index["first-rule"].code == "GATE-ZZ001"


def _plugin(check_id: str, rules: tuple[Rule, ...]) -> type[Check]:
    class Plugin(Check):
        id = check_id
        title = description = "A plug-in."

        def run(self, ctx: CheckContext) -> CheckOutcome:  # pragma: no cover - never run
            return CheckOutcome()

    Plugin.rules = rules
    return Plugin


class _Registered:
    """Registers a plug-in check for one test, and leaves the registry as it found it."""

    def __init__(self, check_id: str, cls: type[Check]) -> None:
        self.check_id, self.module = check_id, types.ModuleType(f"_conformance_{check_id.replace('-', '_')}")
        self.module.Plugin = cls  # type: ignore[attr-defined]

    def __enter__(self) -> None:
        sys.modules[self.module.__name__] = self.module
        CHECKS[self.check_id] = f"{self.module.__name__}:Plugin"

    def __exit__(self, *exc: object) -> None:
        del CHECKS[self.check_id]
        del sys.modules[self.module.__name__]
        load_check.cache_clear()


def test_a_plugin_reusing_a_code_makes_lookups_fail_instead_of_shadowing() -> None:
    taken = find_rule("GATE-MF001")
    assert taken is not None
    shadow = _rule("GATE-MF001", "shadowing-rule", "shadow-check")
    with _Registered("shadow-check", _plugin("shadow-check", (shadow,))):
        with pytest.raises(
            DuplicateRuleError, match=r"GATE-MF001 is declared twice.*model-files.*shadow-check"
        ):
            find_rule("GATE-MF001")
        with pytest.raises(DuplicateRuleError):
            all_rules()
    assert find_rule("GATE-MF001") == taken  # and the registry is whole again


def test_a_plugin_reusing_a_name_makes_lookups_fail() -> None:
    twin = _rule("GATE-QQ001", "unsafe-pickle-import", "twin-check")
    with (
        _Registered("twin-check", _plugin("twin-check", (twin,))),
        pytest.raises(DuplicateRuleError, match="unsafe-pickle-import is declared twice"),
    ):
        find_rule("unsafe-pickle-import")


def test_a_check_repeating_its_own_code_or_claiming_anothers_rules_does_not_register() -> None:
    own = (_rule("GATE-QQ001", "one-rule", "dup-check"), _rule("GATE-QQ001", "two-rule", "dup-check"))
    with (
        _Registered("dup-check", _plugin("dup-check", own)),
        pytest.raises(DuplicateRuleError, match="GATE-QQ001"),
    ):
        load_check("dup-check")
    foreign = (_rule("GATE-QQ001", "one-rule", "model-files"),)
    with (
        _Registered("foreign-check", _plugin("foreign-check", foreign)),
        pytest.raises(RuntimeError, match="rules of another check: GATE-QQ001"),
    ):
        load_check("foreign-check")
