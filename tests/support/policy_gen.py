"""Random policy sections for the composition property tests, and what "looser" means per rule."""

from __future__ import annotations

import functools
from typing import Any

from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from gate.checks import CHECKS, all_rules, load_check
from gate.models.policy import Ordered, Stricter, TierPolicy, WaiverPolicy, WaiverSection
from gate.policy_merge import jsonable, merge_rule

SEVERITIES = ["info", "low", "medium", "high", "critical"]
PEM_A = "-----BEGIN PUBLIC KEY-----\nQUFBQQ==\n-----END PUBLIC KEY-----\n"
PEM_B = "-----BEGIN PUBLIC KEY-----\nQkJCQg==\n-----END PUBLIC KEY-----\n"
ROOT_A = '{"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1", "n": 1}'
ROOT_B = '{"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1", "n": 2}'

# Values a field may take beyond its default and the generic perturbations, by field name.
EXTRA: dict[str, list[Any]] = {
    "trusted_keys": [[PEM_A], [PEM_A, PEM_B], [PEM_B]],
    "certificate_authorities": [[PEM_A], [PEM_B]],
    "leaf_fingerprints": [None, ["sha256:" + "a" * 64], ["sha256:" + "a" * 64, "sha256:" + "b" * 64]],
    "sigstore_identities": [[{"identity": "a@example.com", "issuer": "https://issuer.example"}]],
    "trust_root": [None, ROOT_A, ROOT_B],
    "allowed_builders": [[{"id": "https://builder.example/a", "level": 2}]],
    "allowed_sources": [[{"repository": "https://git.example/r", "refs": ["refs/heads/main"]}]],
    "osv_url": [None, "http://127.0.0.1:1", "http://127.0.0.1:2"],
    "service": ["osv", "pypi"],
    "allow_pickle_callables": [["statistics.NormalDist"], ["statistics.NormalDist", "array.array"]],
    "required_controls": [["input-drift"], ["input-drift", "oncall-routing"]],
    "thresholds": [{"prompt-injection": 0.1}, {"prompt-injection": 0.5, "jailbreak": 0.2}],
    "probes": [None, ["dan.Dan_11_0"]],
    "garak_command": [None, ["python3", "-m", "garak"]],
    "cache_dir": [None, "/nonexistent/cache"],
    "probe_set": ["fast", "broad"],
    "broad_probe_set": ["fast", "broad"],
    "fields": [{"text": ["body"]}],
}


def _numbers(d: float) -> list[Any]:
    if isinstance(d, int):
        return [d, d + 1, d * 2, max(d - 1, 0), d // 2, 1, 0]
    return [d, d * 2, d / 2, d + 0.05, max(d - 0.05, 0.0), 0.5, 1.0]


def _valid(model: type[BaseModel], name: str, value: Any) -> bool:
    try:
        model.model_validate({name: value})
    except ValidationError:
        return False
    return True


@functools.cache
def candidates(model: type[BaseModel]) -> dict[str, tuple[Any, ...]]:
    """Valid values for each field of a check's settings, as a policy file would write them."""
    out: dict[str, tuple[Any, ...]] = {}
    for name, info in model.model_fields.items():
        d = jsonable(info.get_default(call_default_factory=True))
        raw: list[Any] = [d, *EXTRA.get(name, [])]
        rule = merge_rule(model, name)
        if isinstance(rule, Ordered):
            raw += list(rule.values)
        elif isinstance(d, bool):
            raw.append(not d)
        elif isinstance(d, int | float):
            raw += _numbers(d)
        elif isinstance(d, list) and name not in EXTRA:
            raw += [d[:1], d[1:], [*d, "x-extra"], ["x-other"], []]
        seen: list[Any] = []
        for v in raw:
            if v not in seen and _valid(model, name, v):
                seen.append(v)
        out[name] = tuple(seen)
    return out


def check_config(cid: str) -> st.SearchStrategy[dict[str, Any]]:
    cands = candidates(load_check(cid).Config)
    names = sorted(n for n, c in cands.items() if c)
    return st.sets(st.sampled_from(names), max_size=4).flatmap(
        lambda chosen: st.fixed_dictionaries({n: st.sampled_from(cands[n]) for n in sorted(chosen)})
    )


CONFIGURABLE = [cid for cid in CHECKS if load_check(cid).Config.model_fields]
RULE_CODES = sorted({r.code for r in all_rules()})[::7]  # a spread of rules, kept small


def waivers() -> st.SearchStrategy[dict[str, Any]]:
    reviewer = {
        "a": {"id": "a@example.com", "keys": [PEM_A]},
        "b": {"id": "b@example.com", "keys": [PEM_B]},
    }
    fields: dict[str, st.SearchStrategy[Any]] = {
        "enabled": st.booleans(),
        "reviewers": st.sampled_from([[], [reviewer["a"]], [reviewer["a"], reviewer["b"]], [reviewer["b"]]]),
        "approvers": st.sampled_from([["a@example.com"], ["a@example.com", "b@example.com"], []]),
        "approvals": st.integers(1, 3),
        "max_days": st.dictionaries(st.sampled_from(SEVERITIES), st.integers(1, 400), max_size=3),
        "warn_days": st.integers(0, 60),
        "distinct_requester": st.booleans(),
        "require_ticket": st.booleans(),
        "unwaivable_rules": st.lists(st.sampled_from(RULE_CODES), max_size=2, unique=True),
        "sigstore_trust_root": st.sampled_from([ROOT_A, ROOT_B]),
    }
    return st.sets(st.sampled_from(sorted(fields)), max_size=4).flatmap(
        lambda chosen: st.fixed_dictionaries({n: fields[n] for n in sorted(chosen)})
    )


def tier_section() -> st.SearchStrategy[dict[str, Any]]:
    ids = sorted(CHECKS)
    override = st.fixed_dictionaries(
        {}, optional={"severity": st.sampled_from(SEVERITIES), "blocking": st.booleans()}
    )
    fields: dict[str, st.SearchStrategy[Any]] = {
        "required": st.lists(st.sampled_from(ids), max_size=3, unique=True),
        "optional": st.lists(st.sampled_from(ids), max_size=3, unique=True),
        "allow_skip": st.lists(st.sampled_from(ids), max_size=3, unique=True),
        "block_at": st.sampled_from(SEVERITIES),
        "warn_at": st.sampled_from(SEVERITIES),
        "rules": st.dictionaries(st.sampled_from(RULE_CODES), override, max_size=3),
        "checks": st.lists(st.sampled_from(CONFIGURABLE), max_size=3, unique=True).flatmap(
            lambda cids: st.fixed_dictionaries({c: check_config(c) for c in cids})
        ),
        "waivers": waivers(),
    }
    return st.sets(st.sampled_from(sorted(fields)), max_size=5).flatmap(
        lambda chosen: st.fixed_dictionaries({n: fields[n] for n in sorted(chosen)})
    )


DELEGABLE = [
    "checks.dependencies.osv_url",
    "checks.provenance.trusted_keys",
    "checks.model-signature.trust_root",
    "checks.model-files.allow_pickle_callables",
    "waivers.reviewers",
    "waivers.sigstore_trust_root",
]


def parent_doc() -> st.SearchStrategy[dict[str, Any]]:
    """A parent policy, sometimes delegating settings to the policies that extend it."""
    delegate = st.lists(st.sampled_from(DELEGABLE), max_size=3, unique=True)
    return st.tuples(policy_doc(), delegate).map(lambda t: {**t[0], "delegate": t[1]})


def policy_doc() -> st.SearchStrategy[dict[str, Any]]:
    tiers = st.dictionaries(
        st.sampled_from(["low", "medium", "high", "critical", "prohibited"]), tier_section(), max_size=2
    )
    return st.fixed_dictionaries({"defaults": tier_section(), "tiers": tiers})


# ---------------------------------------------------------------------------------------------
# "Looser", per rule: the composed value `c` against the parent's effective value `p`.


def _rank(rule: Ordered, v: Any) -> int:
    return rule.values.index(str(v))


def looser(rule: Any, p: Any, c: Any) -> bool:
    if rule is Stricter.TUNING:
        return False
    if isinstance(rule, Ordered):
        return _rank(rule, c) < _rank(rule, p)
    if isinstance(p, dict):
        # Per key: a limit the parent sets must stay, at most as loose.
        return any(k not in c or looser(rule, v, c[k]) for k, v in p.items() if v is not None)
    if rule is Stricter.MIN:
        return p is not None and (c is None or c > p)
    if rule is Stricter.MAX:
        return p is not None and (c is None or c < p)
    if rule is Stricter.ANY_TRUE:
        return bool(p) and not c
    if rule is Stricter.ALL_TRUE:
        return not p and bool(c)
    if rule is Stricter.UNION:
        return any(x not in (c or []) for x in p or [])
    if rule in (Stricter.INTERSECTION, Stricter.SUBSET, Stricter.INTERSECTION_OF_SET):
        return p is not None and (c is None or any(x not in p for x in c))
    if rule is Stricter.FIXED:
        return bool(c != p)
    raise AssertionError(rule)


def looser_fields(
    model: type[BaseModel], p: BaseModel, c: BaseModel, skip: set[str], where: str
) -> list[str]:
    out = []
    for name in model.model_fields:
        if f"{where}.{name}" in skip:
            continue
        rule = merge_rule(model, name)
        if looser(rule, jsonable(getattr(p, name)), jsonable(getattr(c, name))):
            out.append(f"{where}.{name}: {getattr(p, name)!r} -> {getattr(c, name)!r}")
    return out


def loosenings(
    parent: TierPolicy, composed: TierPolicy, parent_sets_allow_skip: bool, skip: set[str]
) -> list[str]:
    """Every axis on which `composed` is looser than `parent` (delegated settings in `skip` aside)."""
    from gate.checks import find_rule

    out: list[str] = []
    if not set(parent.required) <= set(composed.required):
        out.append("required")
    if not set(parent.optional) <= set(composed.optional) | set(composed.required):
        out.append("optional")
    if parent_sets_allow_skip and not set(composed.allow_skip) <= set(parent.allow_skip):
        out.append("allow_skip")
    sev = Ordered(tuple(reversed(SEVERITIES)))
    for name in ("block_at", "warn_at"):
        if looser(sev, getattr(parent, name).value, getattr(composed, name).value):
            out.append(name)
    up = Ordered(tuple(SEVERITIES))
    for code in {*parent.rules, *composed.rules}:
        rule = find_rule(code)
        assert rule is not None
        po, co = parent.rules.get(code), composed.rules.get(code)
        ps = (po.severity if po and po.severity else rule.severity).value
        cs = (co.severity if co and co.severity else rule.severity).value
        if looser(up, ps, cs):
            out.append(f"rules.{code}.severity")
        pb, cb = (po.blocking if po else None), (co.blocking if co else None)
        if (pb is True and cb is not True) or (pb is None and cb is False):
            out.append(f"rules.{code}.blocking")
    for cid in CHECKS:
        model = load_check(cid).Config
        p = model.model_validate(parent.checks.get(cid, {}))
        c = model.model_validate(composed.checks.get(cid, {}))
        out += looser_fields(model, p, c, skip, f"checks.{cid}")
    out += _waiver_loosenings(parent.waivers, composed.waivers, skip)
    return out


def _waiver_loosenings(p: WaiverPolicy, c: WaiverPolicy, skip: set[str]) -> list[str]:
    out = []
    for name in WaiverSection.model_fields:
        if f"waivers.{name}" in skip:
            continue
        rule = merge_rule(WaiverSection, name)
        if looser(rule, jsonable(getattr(p, name)), jsonable(getattr(c, name))):
            out.append(f"waivers.{name}")
    return out
