"""Load policy files, compose them through `extends:` (the stricter setting wins),
select the section for a tier, and lint them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from gate.errors import InputError, PolicyError
from gate.models.base import describe_validation_error, validate_doc
from gate.models.finding import Severity
from gate.models.policy import (
    PEM_PUBLIC_KEY,
    PolicyFile,
    RuleOverride,
    Stricter,
    TierPolicy,
    TierSection,
    TrustFile,
    WaiverSection,
)
from gate.risk import Tier
from gate.yamlsafe import YamlDoc, load_file, load_text

MAX_EXTENDS_DEPTH = 8
POLICY_MAX_BYTES = 1024 * 1024
KEY_MAX_BYTES = 64 * 1024


@dataclass(frozen=True)
class PolicySource:
    name: str  # what the user gave, or the packaged name
    path: str  # file path, or "package:gate/policies/NAME.yaml"
    directory: Path | None  # for relative paths inside the policy (extends, trust roots)
    doc: YamlDoc
    raw_sha256: str


@dataclass(frozen=True)
class Policy:
    """A composed policy: every tier's effective section, its sources and its digest."""

    name: str
    sources: tuple[PolicySource, ...]
    tiers: dict[Tier, TierPolicy]
    sha256: str
    notes: tuple[str, ...] = ()  # shown in the report, e.g. the policy was read from a protected ref

    @property
    def source(self) -> str:
        return self.sources[-1].path

    @property
    def directory(self) -> Path | None:
        return self.sources[-1].directory

    def for_tier(self, tier: Tier) -> TierPolicy:
        return self.tiers[tier]


def packaged_policies() -> list[str]:
    root = resources.files("gate").joinpath("policies")
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".yaml"))


def _is_name(ref: str) -> bool:
    return "/" not in ref and "\\" not in ref and not ref.endswith((".yaml", ".yml"))


def _read(ref: str, base: Path | None) -> PolicySource:
    if _is_name(ref):
        if ref not in packaged_policies():
            raise PolicyError(
                f"policy '{ref}': no such packaged policy",
                hint=f"Packaged policies: {', '.join(packaged_policies())}; or give a path.",
            )
        text = resources.files("gate").joinpath("policies").joinpath(f"{ref}.yaml").read_text("utf-8")
        src = f"package:gate/policies/{ref}.yaml"
        doc = load_text(text, src)
        return PolicySource(ref, src, None, doc, hashlib.sha256(text.encode()).hexdigest())
    path = Path(ref)
    if base is not None and not path.is_absolute():
        path = base / path
    if not path.exists():
        raise PolicyError(f"{path}: policy file not found")
    doc = load_file(path, max_bytes=POLICY_MAX_BYTES)
    raw = path.read_bytes()
    return PolicySource(ref, str(path), path.parent.resolve(), doc, hashlib.sha256(raw).hexdigest())


def _parse(src: PolicySource) -> PolicyFile:
    return validate_doc(PolicyFile, src.doc)


def _overlay(base: TierSection, top: TierSection | None) -> TierSection:
    """Within one file: `tiers.X` overrides `defaults`; rules and checks merge by key."""
    if top is None:
        return base
    data = base.model_dump(exclude_none=True)
    for key, value in top.model_dump(exclude_none=True).items():
        if key == "rules":
            data["rules"] = {**data.get("rules", {}), **value}
        elif key == "checks":
            merged = dict(data.get("checks", {}))
            for cid, cfg in value.items():
                merged[cid] = {**merged.get(cid, {}), **cfg}
            data["checks"] = merged
        elif key == "waivers":
            data["waivers"] = {**data.get("waivers", {}), **value}
        else:
            data[key] = value
    return TierSection.model_validate(data)


def _stricter_value(kind: Stricter, a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    if isinstance(a, dict) and isinstance(b, dict):
        # Per key (e.g. a lifetime per severity): a key set on one side only is taken as is.
        return {k: _stricter_value(kind, a.get(k), b.get(k)) for k in dict.fromkeys([*a, *b])}
    if kind is Stricter.MIN:
        return min(a, b)
    if kind is Stricter.MAX:
        return max(a, b)
    if kind is Stricter.ANY_TRUE:
        return bool(a) or bool(b)
    if kind is Stricter.ALL_TRUE:
        return bool(a) and bool(b)
    if kind is Stricter.UNION:
        return list(dict.fromkeys([*a, *b]))
    if kind is Stricter.INTERSECTION:
        return [x for x in a if x in b]
    raise AssertionError(kind)  # pragma: no cover


def _stricter_of(model: type[BaseModel], field: str) -> Stricter | None:
    info = model.model_fields.get(field)
    if info is None:
        return None
    for meta in info.metadata:
        if isinstance(meta, Stricter):
            return meta
    return None


def merge_check_config(
    model: type[BaseModel], parent: dict[str, Any], child: dict[str, Any]
) -> dict[str, Any]:
    """Compose one check's settings: fields marked `Stricter` take the stricter side."""
    out = dict(parent)
    for key, value in child.items():
        kind = _stricter_of(model, key)
        out[key] = _stricter_value(kind, out.get(key), value) if kind and key in out else value
    return out


def _merge_rules(a: dict[str, RuleOverride], b: dict[str, RuleOverride]) -> dict[str, RuleOverride]:
    out = dict(a)
    for code, ov in b.items():
        prev = out.get(code, RuleOverride())
        sev = max((s for s in (prev.severity, ov.severity) if s), default=None, key=lambda s: s.rank)
        # Unset means "by severity", so a lone `false` would loosen: only both agreeing counts.
        vals = (prev.blocking, ov.blocking)
        blocking = True if True in vals else (False if vals == (False, False) else None)
        out[code] = RuleOverride(severity=sev, blocking=blocking)
    return out


def _compose(parent: TierSection, child: TierSection) -> TierSection:
    """Across `extends:`: the stricter setting wins."""
    from gate.checks import CHECKS, load_check

    p = parent.model_dump(exclude_none=True)
    c = child.model_dump(exclude_none=True)
    out: dict[str, Any] = dict(p)
    for key in ("required", "optional", "fail_closed"):
        if key in c:
            out[key] = list(dict.fromkeys([*p.get(key, []), *c[key]]))
    if "allow_skip" in c or "allow_skip" in p:
        out["allow_skip"] = [x for x in p.get("allow_skip", []) if x in c.get("allow_skip", [])]
    for key in ("block_at", "warn_at"):
        vals = [Severity(v) for v in (p.get(key), c.get(key)) if v]
        if vals:
            out[key] = min(vals, key=lambda s: s.rank)
    if "rules" in c:
        out["rules"] = _merge_rules(parent.rules or {}, child.rules or {})
    if "checks" in c:
        merged = dict(p.get("checks", {}))
        for cid, cfg in c["checks"].items():
            if cid in merged and cid in CHECKS:
                merged[cid] = merge_check_config(load_check(cid).Config, merged[cid], cfg)
            else:
                merged[cid] = {**merged.get(cid, {}), **cfg}
        out["checks"] = merged
    if "waivers" in c:
        out["waivers"] = merge_check_config(WaiverSection, p.get("waivers", {}), c["waivers"])
        # Whoever trusts a Sigstore instance first keeps it: another root could mint any identity.
        parent_root = p.get("waivers", {}).get("sigstore_trust_root")
        if parent_root is not None:
            out["waivers"]["sigstore_trust_root"] = parent_root
    return TierSection.model_validate(out)


def _embed_keys(pf: PolicyFile, src: PolicySource) -> PolicyFile:
    """Replace reviewer key paths by the keys' PEM text.

    Paths are relative to the file that names them, which composition would
    lose; and with the keys inside, the composed policy's digest pins them.
    """
    sections: list[tuple[str, TierSection]] = [("defaults", pf.defaults)]
    sections += [(f"tiers.{t.value}", s) for t, s in pf.tiers.items()]
    if not any(s.waivers and (s.waivers.reviewers or s.waivers.sigstore_trust_root) for _, s in sections):
        return pf
    data = pf.model_dump(mode="json", exclude_none=True)
    for where, sec in sections:
        if not sec.waivers:
            continue
        target = data["defaults"] if where == "defaults" else data["tiers"][where.split(".", 1)[1]]
        if sec.waivers.sigstore_trust_root:
            field = f"{where}.waivers.sigstore_trust_root"
            target["waivers"]["sigstore_trust_root"] = _trust_root_text(
                sec.waivers.sigstore_trust_root, src, field
            )
        for i, reviewer in enumerate(sec.waivers.reviewers or ()):
            field = f"{where}.waivers.reviewers[{i}].keys"
            target["waivers"]["reviewers"][i]["keys"] = [
                _key_text(k, src, f"{field}[{j}]") for j, k in enumerate(reviewer.keys)
            ]
    return PolicyFile.model_validate(data)


def _trust_file(value: str, src: PolicySource, field: str, limit: int) -> str:
    """A trust file named by a policy, read relative to that policy file."""
    if src.directory is None:
        raise PolicyError(f"{src.path}: {field}: a packaged policy cannot name trust files")
    path = Path(value)
    if not path.is_absolute():
        path = src.directory / path
    try:
        if path.stat().st_size > limit:
            raise PolicyError(f"{src.path}: {field}: {path} is larger than {limit} bytes")
        return path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise PolicyError(f"{src.path}: {field}: cannot read {path}: {reason}") from None


def _trust_root_text(value: str, src: PolicySource, field: str) -> str:
    text = value if value.lstrip().startswith("{") else _trust_file(value, src, field, POLICY_MAX_BYTES)
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise PolicyError(f"{src.path}: {field}: not a JSON Sigstore trusted root") from None
    if not isinstance(data, dict) or "mediaType" not in data:
        raise PolicyError(f"{src.path}: {field}: not a Sigstore trusted root (no mediaType)")
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def _key_text(value: str, src: PolicySource, field: str) -> str:
    inline = value.lstrip().startswith("-----BEGIN")
    text = value if inline else _trust_file(value, src, field, KEY_MAX_BYTES)
    text = text.replace("\r\n", "\n").strip() + "\n"
    if not text.startswith(PEM_PUBLIC_KEY):
        raise PolicyError(f"{src.path}: {field}: not a PEM public key ('{PEM_PUBLIC_KEY}')")
    return text


def _trust_file_kind(model: type[BaseModel], field: str) -> TrustFile | None:
    info = model.model_fields.get(field)
    return next((m for m in info.metadata if isinstance(m, TrustFile)), None) if info else None


def _embed_trust_text(value: Any, kind: TrustFile, src: PolicySource, field: str) -> Any:
    if not isinstance(value, str):
        return value  # the check's own validation reports the wrong type
    inline = value.lstrip().startswith("-----BEGIN" if kind is TrustFile.PEM else "{")
    return value if inline else _trust_file(value, src, field, POLICY_MAX_BYTES)


def _embed_check_trust_files(pf: PolicyFile, src: PolicySource) -> PolicyFile:
    """Replace trust-file paths in check settings (fields marked `TrustFile`) by the files' text."""
    from gate.checks import CHECKS, load_check

    sections: list[tuple[str, TierSection]] = [("defaults", pf.defaults)]
    sections += [(f"tiers.{t.value}", s) for t, s in pf.tiers.items()]
    data: dict[str, Any] | None = None
    for where, sec in sections:
        for cid, cfg in (sec.checks or {}).items():
            if cid not in CHECKS or not isinstance(cfg, dict):
                continue
            model = load_check(cid).Config
            for key, value in cfg.items():
                kind = _trust_file_kind(model, key)
                if kind is None or value is None:
                    continue
                field = f"{where}.checks.{cid}.{key}"
                if isinstance(value, list):
                    new: Any = [_embed_trust_text(v, kind, src, f"{field}[{i}]") for i, v in enumerate(value)]
                else:
                    new = _embed_trust_text(value, kind, src, field)
                if data is None:
                    data = pf.model_dump(mode="json", exclude_none=True)
                target = data["defaults"] if where == "defaults" else data["tiers"][where.split(".", 1)[1]]
                target["checks"][cid][key] = new
    return pf if data is None else PolicyFile.model_validate(data)


def _chain(ref: str, base: Path | None, seen: tuple[str, ...]) -> list[tuple[PolicySource, PolicyFile]]:
    if len(seen) > MAX_EXTENDS_DEPTH:
        raise PolicyError(f"policy '{ref}': extends chain deeper than {MAX_EXTENDS_DEPTH}")
    src = _read(ref, base)
    if src.path in seen:
        raise PolicyError(f"{src.path}: extends cycle ({' → '.join([*seen, src.path])})")
    pf = _embed_check_trust_files(_embed_keys(_parse(src), src), src)
    out: list[tuple[PolicySource, PolicyFile]] = []
    for parent in pf.extends:
        out += _chain(parent, src.directory, (*seen, src.path))
    out.append((src, pf))
    return out


def _finalise(
    tier: Tier, section: TierSection, source: str, validate: Collection[str] | None = None
) -> TierPolicy:
    from gate.checks import CHECKS, load_check

    for name in ("required", "optional", "allow_skip", "fail_closed"):
        for cid in getattr(section, name) or ():
            if cid not in CHECKS:
                raise PolicyError(f"{source}: tiers.{tier.value}.{name}: unknown check '{cid}'")
    checks: dict[str, dict[str, Any]] = {}
    for cid, cfg in (section.checks or {}).items():
        if cid not in CHECKS:
            raise PolicyError(f"{source}: checks.{cid}: unknown check '{cid}'")
        if validate is None or cid in validate:
            try:
                load_check(cid).Config.model_validate(cfg)
            except ValidationError as exc:
                msg = describe_validation_error(exc, source, None, ("checks", cid))
                raise PolicyError(msg[0] + f" (tier {tier.value})") from None
        checks[cid] = cfg
    data = section.model_dump(exclude_none=True)
    data["checks"] = checks
    return TierPolicy(tier=tier, **data)


def load_policy(ref: str, validate: Collection[str] | None = None) -> Policy:
    """Load a policy by packaged name or path and compose its `extends:` chain.

    `validate` limits which checks' settings are validated (and their modules
    imported): a caller that runs one check need not pay for every other one.
    The digest covers the whole policy either way.
    """
    chain = _chain(ref, None, ())
    # A parent reached twice (diamond) counts once.
    unique: dict[str, tuple[PolicySource, PolicyFile]] = {}
    for src, pf in chain:
        unique.setdefault(src.path, (src, pf))
    files = list(unique.values())
    tiers: dict[Tier, TierPolicy] = {}
    for tier in Tier:
        composed: TierSection | None = None
        for _src, pf in files:
            own = _overlay(pf.defaults, pf.tiers.get(tier))
            composed = own if composed is None else _compose(composed, own)
        assert composed is not None
        tiers[tier] = _finalise(tier, composed, files[-1][0].path, validate)
    canonical = json.dumps({t.value: p.model_dump(mode="json") for t, p in tiers.items()}, sort_keys=True)
    return Policy(
        name=files[-1][1].name,
        sources=tuple(s for s, _ in files),
        tiers=tiers,
        sha256=hashlib.sha256(canonical.encode()).hexdigest(),
    )


def config_for(policy: TierPolicy, check_id: str) -> Any:
    from gate.checks import load_check

    return load_check(check_id).Config.model_validate(policy.checks.get(check_id, {}))


def lint(path: Path) -> list[str]:
    """Every problem in one policy file, each 'file:line: field: reason'. Empty when clean."""
    from gate.checks import CHECKS, find_rule, load_check

    try:
        doc = load_file(path, max_bytes=POLICY_MAX_BYTES)
    except InputError as exc:
        return [exc.message]
    src = str(path)
    if not isinstance(doc.data, dict):
        return [f"{src}: expected a mapping at the top level"]
    problems: list[str] = []
    try:
        pf = PolicyFile.model_validate(doc.data)
    except ValidationError as exc:
        return describe_validation_error(exc, src, doc)
    sections: list[tuple[tuple[str, ...], TierSection]] = [(("defaults",), pf.defaults)]
    sections += [(("tiers", t.value), s) for t, s in pf.tiers.items()]
    for prefix, sec in sections:
        for name in ("required", "optional", "allow_skip", "fail_closed"):
            for i, cid in enumerate(getattr(sec, name) or ()):
                if cid not in CHECKS:
                    line = doc.line_of((*prefix, name, i))
                    problems.append(f"{src}:{line}: {'.'.join(prefix)}.{name}[{i}]: unknown check '{cid}'")
        for code in sec.rules or {}:
            if find_rule(code) is None:
                line = doc.line_of((*prefix, "rules", code))
                problems.append(f"{src}:{line}: {'.'.join(prefix)}.rules.{code}: unknown rule")
        for cid, cfg in (sec.checks or {}).items():
            if cid not in CHECKS:
                line = doc.line_of((*prefix, "checks", cid))
                problems.append(f"{src}:{line}: {'.'.join(prefix)}.checks.{cid}: unknown check")
                continue
            try:
                load_check(cid).Config.model_validate(cfg)
            except ValidationError as exc:
                problems += describe_validation_error(exc, src, doc, (*prefix, "checks", cid))
    if not problems:
        try:
            load_policy(str(path))
        except InputError as exc:
            problems.append(exc.message)
    return problems
