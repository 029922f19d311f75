"""How policies compose through `extends:`: every setting has a rule, and no rule loosens.

A policy is composed file by file, the first file of the chain first. Each later file is the
*child* of everything composed before it, and for every setting it gives, the setting's rule
(the `Stricter` or `Ordered` mark on its model field) decides the result against the parent's
*effective* value: what the parent sets, else the built-in default. So the composed policy is
never looser than its parent on any setting, and a child that sets nothing composes to exactly
its parent.

Sources of truth (trust roots, trusted signers and reviewers, the vulnerability source, the
tools and caches the gate uses) are FIXED or SUBSET: a child that changes one is an error
naming the setting and both files, unless the parent lists the setting in `delegate:`. A
delegated setting is the child's to set; the delegation ends where a child sets it, unless that
child delegates it again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python

from gate.models.policy import (
    HIGHER_SEVERITY_STRICTER,
    BaselinePolicy,
    BaselineSection,
    Ordered,
    Stricter,
    TierPolicy,
    TierSection,
    WaiverPolicy,
    WaiverSection,
)
from gate.yamlsafe import YamlDoc, format_path

Rule = Stricter | Ordered

# Tier-section settings that are sections of their own: (what a file may set, the effective model).
NESTED_SECTIONS: dict[str, tuple[type[BaseModel], type[BaseModel]]] = {
    "waivers": (WaiverSection, WaiverPolicy),
    "baseline": (BaselineSection, BaselinePolicy),
}


def merge_rule(model: type[BaseModel], name: str) -> Rule | None:
    """The composition rule a model field carries, or None (the test of rules forbids that)."""
    info = model.model_fields.get(name)
    if info is None:
        return None
    for meta in info.metadata:
        if isinstance(meta, Stricter | Ordered):
            return meta
    return None


class Conflict(Exception):
    """A child setting that would loosen its parent and that no rule can tighten."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _short(value: Any) -> str:
    if isinstance(value, str):
        text = value.strip().splitlines()[0] if value.strip() else value
        text = text if len(text) <= 50 else text[:47] + "..."
        return repr(text)
    if isinstance(value, dict):
        for key in ("id", "identity", "repository"):
            if key in value:
                return f"{key} {value[key]!r}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def stricter_value(rule: Rule, parent: Any, child: Any) -> Any:
    """The composed value of one setting: `parent` is the parent's effective value, `child` the child's.

    Raises Conflict where the child would loosen a setting whose rule cannot tighten it.
    """
    if isinstance(rule, Ordered):
        if parent is None or child is None:
            return child if parent is None else parent
        rank = {v: i for i, v in enumerate(rule.values)}
        return parent if rank.get(str(parent), len(rank)) >= rank.get(str(child), len(rank)) else child
    if rule is Stricter.TUNING:
        return child
    if rule is Stricter.FIXED:
        if child != parent:
            raise Conflict(f"changes the value ({_short(parent)} to {_short(child)})")
        return child
    if rule is Stricter.SUBSET:
        if parent is None:  # unrestricted (e.g. no leaf pins): any list narrows it
            return child
        if child is None:
            raise Conflict("lifts the parent's restriction")
        extra = [x for x in child if x not in parent]
        if extra:
            raise Conflict(f"adds {_short(extra[0])}, which the parent does not trust")
        return child
    if parent is None:
        return child
    if child is None:
        return parent
    if isinstance(parent, dict) and isinstance(child, dict):
        # Per key (a lifetime per severity, a threshold per category): a key on one side is kept.
        return {
            k: stricter_value(rule, parent.get(k), child.get(k)) for k in dict.fromkeys([*parent, *child])
        }
    if rule is Stricter.MIN:
        return min(parent, child)
    if rule is Stricter.MAX:
        return max(parent, child)
    if rule is Stricter.ANY_TRUE:
        return bool(parent) or bool(child)
    if rule is Stricter.ALL_TRUE:
        return bool(parent) and bool(child)
    if rule is Stricter.UNION:
        return list(dict.fromkeys([*parent, *child]))
    if rule in (Stricter.INTERSECTION, Stricter.INTERSECTION_OF_SET):
        return [x for x in parent if x in child]
    raise AssertionError(f"{rule} is not a value rule")  # pragma: no cover


def jsonable(value: Any) -> Any:
    return to_jsonable_python(value)


@dataclass
class Layer:
    """One file's section for one tier (its `defaults` overlaid with `tiers.<tier>`)."""

    source: str
    doc: YamlDoc
    tier: str
    section: dict[str, Any]  # TierSection, dumped in JSON mode without unset fields
    delegate: tuple[str, ...] = ()

    def where(self, path: tuple[str | int, ...]) -> str:
        """'file:line' of a setting: from `tiers.<tier>` when set there, else from `defaults`."""
        for full in (("tiers", self.tier, *path), ("defaults", *path)):
            if full in self.doc.lines:
                return f"{self.source}:{self.doc.lines[full]}"
        line = self.doc.line_of(("defaults", *path))
        return f"{self.source}:{line}" if line else self.source


@dataclass
class Composed:
    """The composition so far, for one tier."""

    section: dict[str, Any]
    owners: dict[str, str]  # setting path -> the file that set it last
    delegated: set[str]
    last: str  # the last file composed
    problems: list[str] = field(default_factory=list)


def _set_paths(section: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for key, value in section.items():
        if key == "checks":
            out += [f"checks.{cid}.{k}" for cid, cfg in value.items() for k in cfg]
        elif key in NESTED_SECTIONS:
            out += [f"{key}.{k}" for k in value]
        else:
            out.append(key)
    return out


def root(layer: Layer) -> Composed:
    """The first file of a chain: its settings stand as they are."""
    owners = dict.fromkeys(_set_paths(layer.section), layer.source)
    return Composed(dict(layer.section), owners, set(layer.delegate), layer.source)


def compose(parent: Composed, layer: Layer) -> Composed:
    """Compose one child file onto its parent; problems are collected, never silently dropped."""
    state = Composed(dict(parent.section), dict(parent.owners), set(parent.delegated), layer.source)
    state.problems = list(parent.problems)
    child = layer.section
    ctx = _Ctx(parent, state, layer)
    for key, value in child.items():
        rule = merge_rule(TierSection, key)
        if key in parent.delegated:  # a tier-section setting the parent handed on
            # Delegated rule overrides replace the parent's rule by rule; other settings whole.
            state.section[key] = {**parent.section.get(key, {}), **value} if key == "rules" else value
        elif rule is Stricter.PER_CHECK:
            state.section["checks"] = _merge_checks(ctx, parent.section.get("checks", {}), value)
        elif rule is Stricter.NESTED:
            section_model, effective_model = NESTED_SECTIONS[key]
            state.section[key] = ctx.fields(
                section_model, effective_model, parent.section.get(key, {}), value, key
            )
        elif rule is Stricter.PER_RULE:
            state.section["rules"] = merge_rules(parent.section.get("rules", {}), value)
        elif rule is Stricter.INTERSECTION_OF_SET:
            # Unset means "no opinion": only the policies that set the list narrow it.
            p = parent.section.get(key)
            state.section[key] = value if p is None else stricter_value(rule, p, value)
        else:
            eff = TierPolicy.model_fields[key].get_default(call_default_factory=True)
            ctx.one(
                rule or Stricter.FIXED,
                key,
                (key,),
                parent.section.get(key, jsonable(eff)),
                value,
                state.section,
            )
    if "required" in child or "optional" in child:
        # A check any policy in the chain requires stays required, never optional.
        required = set(state.section.get("required", ()))
        if "optional" in state.section:
            state.section["optional"] = [c for c in state.section["optional"] if c not in required]
    set_here = set(_set_paths(child))
    for path in set_here:
        state.owners[path] = layer.source
    # Delegation ends where a child sets the setting, unless the child passes it on.
    state.delegated = {d for d in parent.delegated if d not in set_here}
    for i, d in enumerate(layer.delegate):
        if d in parent.delegated:
            state.delegated.add(d)
        else:
            state.problems.append(
                f"{_line(layer, ('delegate', i))}: delegate[{i}]: {d}: {parent.last} does not delegate it, "
                "so a policy extending it cannot pass it on"
            )
    return state


def _line(layer: Layer, path: tuple[str | int, ...]) -> str:
    line = layer.doc.line_of(path)
    return f"{layer.source}:{line}" if line else layer.source


class _Ctx:
    def __init__(self, parent: Composed, state: Composed, layer: Layer) -> None:
        self.parent = parent
        self.state = state
        self.layer = layer

    def one(
        self,
        rule: Rule,
        path: str,
        yaml_path: tuple[str | int, ...],
        parent_value: Any,
        child_value: Any,
        out: dict[str, Any],
        child_raw: Any = None,
    ) -> None:
        """Compose one setting into `out` (which starts as the parent's settings).

        Where one side wins outright its own spelling is kept (1024, not 1024.0), so a policy
        that extends X and sets what X could have set has X's digest.
        """
        key = path.rsplit(".", 1)[-1]
        raw = child_value if child_raw is None else child_raw
        if path in self.parent.delegated:
            out[key] = raw
            return
        try:
            result = stricter_value(rule, parent_value, child_value)
            if result == child_value:
                out[key] = raw
            elif not (result == parent_value and key in out):
                out[key] = result
        except Conflict as exc:
            # `out` started as the parent's settings: leaving it untouched keeps the parent's value.
            owner = self.parent.owners.get(path)
            whose = f"{owner} sets it" if owner else f"{self.parent.last} leaves it at the built-in value"
            self.state.problems.append(
                f"{self.layer.where(yaml_path)}: {format_path(tuple(yaml_path))}: {exc.reason}; {whose} "
                f"and does not delegate it (a parent allows this with `delegate: [{path}]`)"
            )

    def fields(
        self,
        section_model: type[BaseModel],
        effective_model: type[BaseModel],
        parent: dict[str, Any],
        child: dict[str, Any],
        prefix: str,
    ) -> dict[str, Any]:
        """Compose one model's settings field by field against the parent's effective values."""
        eff = effective_model.model_validate(parent)
        given = section_model.model_validate(child)
        out = dict(parent)
        for key, raw in child.items():
            rule = merge_rule(section_model, key) or Stricter.FIXED
            yaml_path = (*prefix.split("."), key)
            self.one(
                rule,
                f"{prefix}.{key}",
                yaml_path,
                jsonable(getattr(eff, key)),
                jsonable(getattr(given, key)),
                out,
                raw,
            )
        return out


def _merge_checks(ctx: _Ctx, parent: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    from gate.checks import CHECKS, load_check

    merged = dict(parent)
    for cid, cfg in child.items():
        if cid not in CHECKS:  # reported as an unknown check when the file is read
            continue
        model = load_check(cid).Config
        try:
            merged[cid] = ctx.fields(model, model, parent.get(cid, {}), cfg, f"checks.{cid}")
        except ValidationError:  # invalid settings: reported (with their line) where the file is read
            continue
    return merged


def merge_override(rule_code: str, parent: dict[str, Any] | None, child: dict[str, Any]) -> dict[str, Any]:
    """One rule's override: the severity never drops below what the parent yields, nor does blocking."""
    from gate.checks import find_rule

    parent = parent or {}
    out: dict[str, Any] = {}
    rule = find_rule(rule_code)
    base = parent.get("severity") or (rule.severity.value if rule else None)
    sev = child.get("severity")
    if sev is not None:
        out["severity"] = stricter_value(HIGHER_SEVERITY_STRICTER, base, sev)
    elif parent.get("severity") is not None:
        out["severity"] = parent["severity"]
    if "blocking" not in child:
        if parent.get("blocking") is not None:
            out["blocking"] = parent["blocking"]
    elif True in (parent.get("blocking"), child["blocking"]):
        out["blocking"] = True
    elif parent.get("blocking") is False and child["blocking"] is False:
        out["blocking"] = False
    # else: unset means "by severity"; a lone `false` would loosen, so neither side's false counts.
    return out


def merge_rules(parent: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    out = dict(parent)
    for code, ov in child.items():
        out[code] = merge_override(code, out.get(code), ov)
    return out


# ---------------------------------------------------------------------------------------------
# Documentation, generated from the marks (docs/policy.md)

RULE_WORDS: dict[Stricter, str] = {
    Stricter.MIN: "lower wins",
    Stricter.MAX: "higher wins",
    Stricter.ANY_TRUE: "true wins",
    Stricter.ALL_TRUE: "false wins",
    Stricter.UNION: "union",
    Stricter.INTERSECTION: "intersection",
    Stricter.INTERSECTION_OF_SET: "intersection of the policies that set it (unset: no opinion)",
    Stricter.SUBSET: "source of truth: a child may drop entries; adding one is an error",
    Stricter.FIXED: "source of truth: a different value is an error",
    Stricter.TUNING: "the child's value (cost or presentation only)",
    Stricter.BLOCKING: "true wins; false only where every policy says false",
    Stricter.NESTED: "field by field, below",
    Stricter.PER_RULE: "rule by rule: higher severity wins, blocking as below",
    Stricter.PER_CHECK: "setting by setting, below",
    Stricter.PER_FILE: "not inherited",
}


def rule_words(rule: Rule | None) -> str:
    if isinstance(rule, Ordered):
        return "stricter wins (loosest to strictest: " + ", ".join(f"`{v}`" for v in rule.values) + ")"
    return RULE_WORDS[rule] if rule is not None else "(none)"


def composition_table() -> str:
    """Every policy setting and how it composes across `extends:`, from the models' marks."""
    from gate.checks import CHECKS, load_check
    from gate.models.policy import RuleOverride

    rows = [("`" + k + "`", merge_rule(TierSection, k)) for k in TierSection.model_fields]
    rows += [(f"`rules.*.{k}`", merge_rule(RuleOverride, k)) for k in RuleOverride.model_fields]
    for key, (model, _) in NESTED_SECTIONS.items():
        rows += [(f"`{key}.{k}`", merge_rule(model, k)) for k in model.model_fields]
    for cid in CHECKS:
        model = load_check(cid).Config
        rows += [(f"`checks.{cid}.{k}`", merge_rule(model, k)) for k in model.model_fields]
    lines = ["| Setting | Across `extends:` |", "|---|---|"]
    lines += [f"| {name} | {rule_words(rule)} |" for name, rule in rows]
    return "\n".join(lines)
