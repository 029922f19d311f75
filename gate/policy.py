"""Load policy files, compose them through `extends:` (by gate.policy_merge: no setting can loosen),
select the section for a tier, and lint them (every problem of a file in one pass, with file:line)."""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Collection
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from gate.errors import InputError, PolicyError
from gate.models.base import describe_validation_error
from gate.models.policy import (
    PEM_PUBLIC_KEY,
    PolicyFile,
    TierPolicy,
    TierSection,
    TrustFile,
)
from gate.models.tier import Tier
from gate.policy_merge import NESTED_SECTIONS, Composed, Layer, compose, merge_override, root
from gate.yamlsafe import YamlDoc, format_path, load_file, load_text, validate_doc

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
        path = (base / path).resolve()  # messages name the file itself, not 'team/../org/org.yaml'
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
        elif key in NESTED_SECTIONS:
            data[key] = {**data.get(key, {}), **value}
        else:
            data[key] = value
    return TierSection.model_validate(data)


def _embed_keys(pf: PolicyFile, src: PolicySource) -> PolicyFile:
    """Replace reviewer and baseline-signer key paths by the keys' PEM text.

    Paths are relative to the file that names them, which composition would
    lose; and with the keys inside, the composed policy's digest pins them.
    """
    sections: list[tuple[str, TierSection]] = [("defaults", pf.defaults)]
    sections += [(f"tiers.{t.value}", s) for t, s in pf.tiers.items()]
    # (section, its list of signers): waiver reviewers, and the signers of baseline verdicts.
    trusted = [
        (name, people, sub)
        for _, s in sections
        for name, people, sub in (
            ("waivers", "reviewers", s.waivers),
            ("baseline", "signers", s.baseline),
        )
        if sub is not None and (getattr(sub, people) or sub.sigstore_trust_root)
    ]
    if not trusted:
        return pf
    data = pf.model_dump(mode="json", exclude_none=True)
    for where, sec in sections:
        target = data["defaults"] if where == "defaults" else data["tiers"][where.split(".", 1)[1]]
        for name, people in (("waivers", "reviewers"), ("baseline", "signers")):
            sub = getattr(sec, name)
            if sub is None:
                continue
            if sub.sigstore_trust_root:
                field = f"{where}.{name}.sigstore_trust_root"
                target[name]["sigstore_trust_root"] = _trust_root_text(sub.sigstore_trust_root, src, field)
            for i, person in enumerate(getattr(sub, people) or ()):
                field = f"{where}.{name}.{people}[{i}].keys"
                target[name][people][i]["keys"] = [
                    _key_text(k, src, f"{field}[{j}]") for j, k in enumerate(person.keys)
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


def _suggest(name: str, known: Collection[str]) -> str:
    """' (did you mean 'x'?)' for a near miss among `known`, else ''."""
    by_key = {k.lower(): k for k in known}
    match = difflib.get_close_matches(name.lower(), list(by_key), n=1, cutoff=0.6)
    return f" (did you mean '{by_key[match[0]]}'?)" if match else ""


def _extends_problem(ref: str, directory: Path | None) -> str | None:
    if _is_name(ref):
        if ref in packaged_policies():
            return None
        return f"no such packaged policy '{ref}'{_suggest(ref, packaged_policies())}; or give a path"
    path = Path(ref)
    if directory is not None and not path.is_absolute():
        path = directory / path
    if path.is_file():
        return None
    siblings = [p.name for p in path.parent.glob("*.y*ml")] if path.parent.is_dir() else []
    return f"policy file '{ref}' not found{_suggest(path.name, siblings)}"


def delegable_paths() -> list[str]:
    """Every setting a policy can name in `delegate:`."""
    from gate.checks import CHECKS, load_check

    out = [k for k in TierSection.model_fields if k != "checks" and k not in NESTED_SECTIONS]
    for key, (model, _) in NESTED_SECTIONS.items():
        out += [f"{key}.{k}" for k in model.model_fields]
    out += [f"checks.{cid}.{k}" for cid in CHECKS for k in load_check(cid).Config.model_fields]
    return out


def _file_problems(source: str, directory: Path | None, doc: YamlDoc) -> list[str]:
    """The problems of one policy file that its schema cannot see: unknown extends targets, check
    names, rule codes and delegated settings, and each check's settings against its model.

    Works on the raw document, so `policy lint` reports them beside schema errors, in one pass.
    """
    from gate.checks import CHECKS, all_rules, find_rule, load_check

    data = doc.data if isinstance(doc.data, dict) else {}
    out: list[str] = []

    def at(path: tuple[str | int, ...], reason: str) -> None:
        line = doc.line_of(path)
        out.append(f"{source}:{line}: {format_path(path)}: {reason}" if line else f"{source}: {reason}")

    extends = data.get("extends")
    for i, ref in enumerate(extends if isinstance(extends, list) else ()):
        problem = _extends_problem(ref, directory) if isinstance(ref, str) else None
        if problem:
            at(("extends", i), problem)
    tiers = data.get("tiers")
    sections: list[tuple[tuple[str | int, ...], Any]] = [(("defaults",), data.get("defaults"))]
    sections += [(("tiers", str(t)), sec) for t, sec in (tiers.items() if isinstance(tiers, dict) else ())]
    for prefix, sec in sections:
        if not isinstance(sec, dict):
            continue
        for name in ("required", "optional", "allow_skip", "fail_closed"):
            names = sec.get(name)
            for i, cid in enumerate(names if isinstance(names, list) else ()):
                if isinstance(cid, str) and cid not in CHECKS:
                    at((*prefix, name, i), f"unknown check '{cid}'{_suggest(cid, CHECKS)}")
        rules = sec.get("rules")
        for code in rules if isinstance(rules, dict) else ():
            if find_rule(str(code)) is None:
                known = [k for r in all_rules() for k in (r.code, r.name)]
                at((*prefix, "rules", code), f"unknown rule '{code}'{_suggest(str(code), known)}")
        waivers = sec.get("waivers")
        unwaivable = waivers.get("unwaivable_rules") if isinstance(waivers, dict) else None
        for i, entry in enumerate(unwaivable if isinstance(unwaivable, list) else ()):
            if isinstance(entry, str) and not _names_a_rule(entry):
                known = [k for r in all_rules() for k in (r.code, r.name)]
                at(
                    (*prefix, "waivers", "unwaivable_rules", i),
                    f"unknown rule '{entry}'{_suggest(entry, known)}",
                )
        checks = sec.get("checks")
        for cid, cfg in checks.items() if isinstance(checks, dict) else ():
            if cid not in CHECKS:
                at((*prefix, "checks", cid), f"unknown check '{cid}'{_suggest(str(cid), CHECKS)}")
            elif isinstance(cfg, dict):
                try:
                    load_check(cid).Config.model_validate(cfg)
                except ValidationError as exc:
                    out.extend(describe_validation_error(exc, source, doc, (*prefix, "checks", cid)))
    delegate = data.get("delegate")
    if isinstance(delegate, list) and delegate:
        known = delegable_paths()
        for i, d in enumerate(delegate):
            if isinstance(d, str) and d not in known:
                at(("delegate", i), f"unknown setting '{d}'{_suggest(d, known)}")
    return out


def _names_a_rule(entry: str) -> bool:
    """An unwaivable_rules entry: a rule's code or name, or a code prefix ending in '*' that matches one."""
    from gate.checks import all_rules, find_rule

    e = entry.strip()
    if e.endswith("*"):
        return any(r.code.startswith(e[:-1].upper()) for r in all_rules())
    return find_rule(e) is not None


def _raise_first(problems: list[str]) -> None:
    if problems:
        more = (
            f" (and {len(problems) - 1} more; `model-gate policy lint` lists them)"
            if len(problems) > 1
            else ""
        )
        raise PolicyError(problems[0] + more)


def _chain(
    ref: str, base: Path | None, seen: tuple[str, ...], lenient: bool = False
) -> list[tuple[PolicySource, PolicyFile]]:
    """The files of an `extends:` chain, parents first. `lenient` (lint, for the file linted):
    its own problems are reported apart, so composition goes on past them."""
    if len(seen) > MAX_EXTENDS_DEPTH:
        raise PolicyError(f"policy '{ref}': extends chain deeper than {MAX_EXTENDS_DEPTH}")
    src = _read(ref, base)
    if src.path in seen:
        raise PolicyError(f"{src.path}: extends cycle ({' → '.join([*seen, src.path])})")
    parsed = _parse(src)
    if not lenient:
        _raise_first(_file_problems(src.path, src.directory, src.doc))
    pf = _embed_check_trust_files(_embed_keys(parsed, src), src)
    out: list[tuple[PolicySource, PolicyFile]] = []
    for parent in pf.extends:
        if lenient and _extends_problem(parent, src.directory):
            continue
        out += _chain(parent, src.directory, (*seen, src.path))
    out.append((src, pf))
    return out


def _layer(src: PolicySource, pf: PolicyFile, tier: Tier) -> Layer:
    from gate.checks import find_rule

    section = _overlay(pf.defaults, pf.tiers.get(tier)).model_dump(mode="json", exclude_none=True)
    if "rules" in section:
        # One key per rule (its code), so a parent's code and a child's name meet.
        rules: dict[str, Any] = {}
        for key, ov in section["rules"].items():
            rule = find_rule(key)
            code = rule.code if rule else key
            rules[code] = merge_override(code, rules.get(code), ov) if code in rules else ov
        section["rules"] = rules
    return Layer(src.path, src.doc, tier.value, section, pf.delegate)


def _finalise(
    tier: Tier, section: dict[str, Any], source: str, validate: Collection[str] | None = None
) -> TierPolicy:
    from gate.checks import CHECKS, load_check

    for cid in section.get("checks", {}):
        if cid not in CHECKS:  # pragma: no cover - reported when the file is read
            raise PolicyError(f"{source}: checks.{cid}: unknown check '{cid}'")
        if validate is None or cid in validate:
            try:
                load_check(cid).Config.model_validate(section["checks"][cid])
            except ValidationError as exc:
                msg = describe_validation_error(exc, source, None, ("checks", cid))
                raise PolicyError(msg[0] + f" (tier {tier.value})") from None
    return TierPolicy(tier=tier, **section)


def _compose_chain(
    ref: str, lenient: bool = False
) -> tuple[list[tuple[PolicySource, PolicyFile]], dict[Tier, Composed]]:
    chain = _chain(ref, None, (), lenient)
    # A parent reached twice (diamond) counts once.
    unique: dict[str, tuple[PolicySource, PolicyFile]] = {}
    for src, pf in chain:
        unique.setdefault(src.path, (src, pf))
    files = list(unique.values())
    composed: dict[Tier, Composed] = {}
    for tier in Tier:
        state: Composed | None = None
        for src, pf in files:
            layer = _layer(src, pf, tier)
            state = root(layer) if state is None else compose(state, layer)
        assert state is not None
        composed[tier] = state
    return files, composed


def composition_problems(ref: str, lenient: bool = False) -> list[str]:
    """Every setting in the chain that would loosen its parent (each once, in order)."""
    _files, composed = _compose_chain(ref, lenient)
    return list(dict.fromkeys(p for state in composed.values() for p in state.problems))


def load_policy(ref: str, validate: Collection[str] | None = None) -> Policy:
    """Load a policy by packaged name or path and compose its `extends:` chain.

    `validate` limits which checks' settings are validated again after composition: a caller
    that runs one check need not pay for every other one. Each file's own settings are always
    validated when it is read. The digest covers the whole policy either way.
    """
    files, composed = _compose_chain(ref)
    _raise_first(list(dict.fromkeys(p for state in composed.values() for p in state.problems)))
    tiers = {t: _finalise(t, state.section, files[-1][0].path, validate) for t, state in composed.items()}
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
    """Every problem in one policy file, each 'file:line: field: reason'. Empty when clean.

    Schema errors, unknown extends targets, check names, rule codes and delegated settings, and
    each check's settings, all in one pass; then, if the file itself is sound, what composing it
    with its parents finds (a setting that would loosen a parent, a problem in a parent).
    """
    try:
        doc = load_file(path, max_bytes=POLICY_MAX_BYTES)
    except InputError as exc:
        return [exc.message]
    src = str(path)
    if not isinstance(doc.data, dict):
        return [f"{src}: expected a mapping at the top level"]
    problems: list[str] = []
    try:
        PolicyFile.model_validate(doc.data)
    except ValidationError as exc:
        problems += describe_validation_error(exc, src, doc)
        return problems + _file_problems(src, path.parent.resolve(), doc)
    problems += _file_problems(src, path.parent.resolve(), doc)
    try:
        composed = composition_problems(str(path), lenient=True)
    except InputError as exc:  # a problem in a parent file
        composed = [exc.message]
    except ValidationError:  # the file's own settings are invalid: reported above
        composed = []
    # A setting already reported (an unknown delegated path, say) is not reported twice.
    seen = {tuple(p.split(": ", 2)[:2]) for p in problems}
    problems += [p for p in composed if tuple(p.split(": ", 2)[:2]) not in seen]
    return list(dict.fromkeys(problems))
