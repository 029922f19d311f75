"""Check `provenance`: the model was built by a trusted pipeline, from pinned inputs.

Reads SLSA v1 provenance (an in-toto Statement with predicate type
https://slsa.dev/provenance/v1) in a DSSE envelope or a Sigstore bundle,
verifies who signed it (see `gate.signing`), then checks that

- its subject binds to this model: model-signing's root digest of the model
  directory, or every model file's digest;
- the builder, the source repository and ref are ones the policy allows, and
  the builder's SLSA build level meets the tier's minimum;
- the base model is pinned by digest and comes from an allowed source, the
  datasets are pinned by digest;
- what release.yaml says about the base model and datasets agrees.

Base model and datasets are found among `buildDefinition.resolvedDependencies`:
an entry whose `annotations.role` is `base-model` or `dataset`, or whose URI
(or name) is the one release.yaml declares.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gate.checks.interface import Check, CheckContext, CheckOutcome, utc_now
from gate.errors import CheckError
from gate.inventory import DigestRequest, Entry
from gate.models.base import StrictModel
from gate.models.finding import Finding, Severity, rule_maker
from gate.models.manifest import Manifest
from gate.models.policy import Stricter
from gate.release import Release
from gate.signing.document import MAX_DOCUMENT_BYTES, unverified_statement, verify_document
from gate.signing.dsse import Statement
from gate.signing.model_format import GIT_PATHS, candidate_roots, digest_requests, model_scope
from gate.signing.trust import (
    Problem,
    ProblemKind,
    Signer,
    TrustSettings,
    VerifyContext,
    only_untrusted,
    problem_finding,
)
from gate.wording import count

CHECK = "provenance"
SLSA_V1 = "https://slsa.dev/provenance/v1"
TECHNIQUE = ("LLM03:2025", "AML.T0010")
ROLE_BASE_MODEL = "base-model"
ROLE_DATASET = "dataset"
TRAINING_ROLES = frozenset({"fine-tuning", "pre-training"})


_rule = rule_maker(CHECK, technique=TECHNIQUE)


RULES = (
    _rule(
        "GATE-PV001",
        "provenance-missing",
        Severity.HIGH,
        "The release has no build provenance (release.yaml declares none, or the file is absent).",
        "Without provenance nobody can tell which pipeline built the model, from which code, "
        "base model and data: a model trained on a laptop from unknown data looks the same.",
        "A release.yaml without `provenance:`.",
        "Have the training pipeline emit SLSA v1 provenance (e.g. actions/attest-build-provenance, "
        "or a DSSE envelope signed by the pipeline's key) and declare it as `provenance:`.",
    ),
    _rule(
        "GATE-PV002",
        "provenance-malformed",
        Severity.HIGH,
        "The provenance file is not a readable SLSA v1 provenance statement.",
        "Provenance that cannot be read proves nothing.",
        "A truncated .intoto.jsonl, or a statement with predicate type slsa.dev/provenance/v0.2.",
        "Emit SLSA v1 provenance (predicate type https://slsa.dev/provenance/v1) and ship it unchanged.",
    ),
    _rule(
        "GATE-PV003",
        "provenance-signature-invalid",
        Severity.CRITICAL,
        "The provenance's signature does not verify: it was altered after signing.",
        "Edited provenance can claim any builder, source or inputs.",
        "A provenance envelope whose payload was edited to name another builder.",
        "Find out who changed it; take the provenance from the build system again.",
        always_blocks=True,
        waivable=False,
    ),
    _rule(
        "GATE-PV004",
        "provenance-signer-not-trusted",
        Severity.HIGH,
        "The provenance is signed, but not by a key or identity the policy trusts.",
        "Anyone can sign a statement that claims a trusted builder: only the build "
        "platform's own key or identity makes the claim worth anything. Where the tier does not "
        "require trusted provenance this is an informational note, and the subject is still compared "
        "with the model: provenance of another model blocks.",
        "Provenance signed keyless by a personal account instead of the release workflow.",
        "Sign provenance in the build platform with a key or workload identity listed in the policy.",
    ),
    _rule(
        "GATE-PV005",
        "provenance-subject-mismatch",
        Severity.CRITICAL,
        "The provenance's subject is not this model.",
        "Provenance of another artifact says nothing about these weights: reusing a good "
        "model's provenance for a different model is the obvious forgery.",
        "Provenance whose subject digest is the root digest of last month's model.",
        "Use the provenance produced by the build of exactly these files (subject: the "
        "model-signing root digest of the model directory, or each model file's digest).",
        always_blocks=True,
    ),
    _rule(
        "GATE-PV006",
        "builder-not-allowed",
        Severity.HIGH,
        "The provenance names a builder the policy does not allow.",
        "The builder is what vouches for the build: an unknown builder may be a developer "
        "machine or a compromised runner.",
        "runDetails.builder.id `https://example.com/my-laptop`.",
        "Build on an allowed builder, or add the builder to `allowed_builders` after review.",
    ),
    _rule(
        "GATE-PV007",
        "source-repository-not-allowed",
        Severity.HIGH,
        "The model was built from a source repository the policy does not allow.",
        "Training code from a fork or an unknown repository can poison the model or the data.",
        "externalParameters.workflow.repository `https://github.com/someone/fork`.",
        "Build from an allowed repository, or allow the repository in `allowed_sources`.",
    ),
    _rule(
        "GATE-PV008",
        "source-ref-not-allowed",
        Severity.HIGH,
        "The model was built from a branch or tag the policy does not allow.",
        "Feature branches skip review: releases come from protected refs.",
        "externalParameters.workflow.ref `refs/heads/experiment`.",
        "Build from an allowed ref (e.g. refs/heads/main or a release tag).",
    ),
    _rule(
        "GATE-PV009",
        "build-level-too-low",
        Severity.HIGH,
        "The builder's SLSA build level is below what the tier requires.",
        "Higher-risk models need builds that resist tampering by the people who run them "
        "(SLSA Build L3: hardened, isolated builders).",
        "A high-tier model built by a builder the policy rates at Build L1.",
        "Build on a builder rated at the required level.",
    ),
    _rule(
        "GATE-PV010",
        "base-model-unpinned",
        Severity.HIGH,
        "The base model is not pinned by a digest in the provenance.",
        "A base model referenced by name or branch can change under the same name: the "
        "fine-tune may start from a different (or poisoned) checkpoint next time.",
        "resolvedDependencies entry `hf://org/base` with no digest, or only a git commit.",
        "Record the base model's weights digest (sha256) in the provenance.",
    ),
    _rule(
        "GATE-PV011",
        "base-model-source-not-allowed",
        Severity.HIGH,
        "The base model comes from a source the policy does not allow.",
        "Public hubs host typosquatted and backdoored models; base models come from vetted organisations.",
        "A base model from `hf://random-user/llama-3-8b`.",
        "Start from a base model of an allowed organisation, or allow it in `allowed_base_model_sources`.",
    ),
    _rule(
        "GATE-PV012",
        "dataset-unpinned",
        Severity.HIGH,
        "A training dataset in the provenance is not pinned by a digest.",
        "Without a digest nobody can tell which data the model was trained on, or re-check it for poisoning.",
        "resolvedDependencies entry `s3://bucket/data/` with role dataset and no digest.",
        "Record each dataset's digest (sha256 of the file, or of its manifest) in the provenance.",
    ),
    _rule(
        "GATE-PV013",
        "provenance-disagrees-with-release",
        Severity.HIGH,
        "release.yaml and the provenance disagree about the base model or the datasets.",
        "One of them is wrong: reviewers and the model card read release.yaml, the build "
        "used what the provenance says.",
        "release.yaml names dataset `support-tickets-v3`, the provenance was built from `v2`.",
        "Correct release.yaml, or rebuild from the inputs release.yaml declares.",
    ),
    _rule(
        "GATE-PV014",
        "provenance-certificate-invalid",
        Severity.HIGH,
        "The provenance's signing certificate is expired, not yet valid, or not for code signing.",
        "A certificate outside its validity or purpose does not vouch for the signer.",
        "Provenance signed with a certificate that expired.",
        "Re-sign with a current code-signing certificate from the pinned CA.",
    ),
)


# ---------------------------------------------------------------------------
# Policy


class BuilderRule(StrictModel):
    id: str = Field(min_length=1, description="Builder id, exact or a glob (`*`).")
    level: int = Field(ge=0, le=3, description="The SLSA build level the organisation rates this builder at.")


class SourceRule(StrictModel):
    repository: str = Field(min_length=1, description="Repository URL, exact or a glob.")
    refs: tuple[str, ...] = Field(min_length=1, description="Allowed refs (globs), e.g. refs/heads/main.")


class ProvenanceConfig(TrustSettings):
    allowed_builders: Annotated[tuple[BuilderRule, ...], Stricter.SUBSET] = Field(
        (), description="Builders allowed to produce releases, with their SLSA build level."
    )
    allowed_sources: Annotated[tuple[SourceRule, ...], Stricter.SUBSET] = Field(
        (), description="Source repositories and refs releases may be built from."
    )
    min_build_level: Annotated[int, Stricter.MAX] = Field(
        1, ge=0, le=3, description="Lowest SLSA build level accepted (set per tier)."
    )
    allowed_base_model_sources: Annotated[tuple[str, ...], Stricter.INTERSECTION] = Field(
        (), description="URI globs base models may come from, e.g. hf://meta-llama/*."
    )
    pin_algorithms: Annotated[tuple[str, ...], Stricter.INTERSECTION] = Field(
        ("sha256", "sha384", "sha512"), description="Digest algorithms that count as pinning."
    )
    allowed_ignore_paths: Annotated[tuple[str, ...], Stricter.INTERSECTION] = Field(
        GIT_PATHS,
        description="Model-relative paths left out of the model's root digest (as model-signature allows).",
    )


# ---------------------------------------------------------------------------
# SLSA v1 (the spec lets producers add fields: unknown ones are ignored)


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class ResourceDescriptor(_Spec):
    uri: str | None = None
    name: str | None = None
    digest: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, Any] = Field(default_factory=dict)


class BuildDefinition(_Spec):
    buildType: str
    externalParameters: dict[str, Any]
    internalParameters: Any = None
    resolvedDependencies: tuple[ResourceDescriptor, ...] = ()


class Builder(_Spec):
    id: str


class RunDetails(_Spec):
    builder: Builder
    metadata: dict[str, Any] | None = None


class SlsaProvenance(_Spec):
    buildDefinition: BuildDefinition
    runDetails: RunDetails


def parse_provenance(st: Statement) -> SlsaProvenance:
    """The SLSA v1 predicate of a verified statement; ValueError when it is not one."""
    if st.predicateType != SLSA_V1:
        raise ValueError(f"predicate type '{st.predicateType}' is not {SLSA_V1}")
    try:
        return SlsaProvenance.model_validate(st.predicate)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ValueError(f"predicate.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}") from None


def normalise_repo(uri: str) -> str:
    text = uri.strip().removeprefix("git+").rstrip("/")
    return text.removesuffix(".git")


def split_git_uri(uri: str) -> tuple[str, str | None]:
    """'git+https://github.com/o/r@refs/heads/main' -> ('https://github.com/o/r', 'refs/heads/main')."""
    text = uri.strip().removeprefix("git+")
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "", text
    repo, at, ref = rest.rpartition("@")
    if not at or "/" not in repo:
        repo, ref = rest, ""
    repo = f"{scheme}://{repo}" if scheme else repo
    return normalise_repo(repo), (ref or None)


def source_of(p: SlsaProvenance) -> tuple[str | None, str | None, str]:
    """(repository, ref, where it was found) of the build's source."""
    ext = p.buildDefinition.externalParameters
    wf = ext.get("workflow")
    if isinstance(wf, dict) and isinstance(wf.get("repository"), str):
        ref = wf.get("ref") if isinstance(wf.get("ref"), str) else None
        return normalise_repo(wf["repository"]), ref, "buildDefinition.externalParameters.workflow"
    src = ext.get("source")
    if isinstance(src, str):
        repo, ref = split_git_uri(src)
        return repo, ref, "buildDefinition.externalParameters.source"
    for i, dep in enumerate(p.buildDefinition.resolvedDependencies):
        if dep.uri and dep.uri.startswith("git+"):
            repo, ref = split_git_uri(dep.uri)
            return repo, ref, f"buildDefinition.resolvedDependencies[{i}]"
    return None, None, "(not recorded)"


def _role(dep: ResourceDescriptor) -> str | None:
    role = dep.annotations.get("role")
    return role if isinstance(role, str) else None


def _same_uri(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.strip().rstrip("/") == b.strip().rstrip("/")


def base_model_dep(p: SlsaProvenance, manifest: Manifest | None) -> tuple[int, ResourceDescriptor] | None:
    declared = manifest.base_model.source if manifest and manifest.base_model else None
    for i, dep in enumerate(p.buildDefinition.resolvedDependencies):
        if _role(dep) == ROLE_BASE_MODEL or _same_uri(dep.uri, declared):
            return i, dep
    return None


def dataset_deps(p: SlsaProvenance, manifest: Manifest | None) -> list[tuple[int, ResourceDescriptor]]:
    declared = [(d.name, d.source) for d in manifest.datasets] if manifest else []
    out = []
    for i, dep in enumerate(p.buildDefinition.resolvedDependencies):
        if _role(dep) == ROLE_DATASET or any(
            _same_uri(dep.uri, src) or (dep.name is not None and dep.name == name) for name, src in declared
        ):
            out.append((i, dep))
    return out


def pinned_digest(dep: ResourceDescriptor, algorithms: tuple[str, ...]) -> str | None:
    """'alg:hex' of the first accepted algorithm the dependency is pinned with, or None."""
    for alg in algorithms:
        value = dep.digest.get(alg)
        if value and all(c in "0123456789abcdef" for c in value.lower()):
            return f"{alg}:{value.lower()}"
    return None


def dataset_key(dep: ResourceDescriptor) -> str:
    name = dep.annotations.get("name") if isinstance(dep.annotations.get("name"), str) else None
    return dep.name or name or dep.uri or "(unnamed)"


def dataset_digests(p: SlsaProvenance, manifest: Manifest | None = None) -> dict[str, str]:
    """Dataset name (or URI) -> 'alg:hex' for every dataset the provenance pins."""
    out: dict[str, str] = {}
    for _i, dep in dataset_deps(p, manifest):
        digest = pinned_digest(dep, ("sha256", "sha384", "sha512"))
        if digest:
            out[dataset_key(dep)] = digest
    return out


# ---------------------------------------------------------------------------
# Verification shared with other checks


@dataclass(frozen=True)
class VerifiedProvenance:
    statement: Statement
    provenance: SlsaProvenance
    signer: Signer


@dataclass(frozen=True)
class ProvenanceLoad:
    """The result of reading and verifying a release's provenance."""

    verified: VerifiedProvenance | None
    problems: tuple[Problem, ...] = ()
    declared: bool = True
    rel: str | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    # What a signer the policy does not trust claims: compared with the model, never trusted.
    claimed: Statement | None = None


def load_provenance(
    release: Release,
    config: ProvenanceConfig,
    *,
    policy_dir: Path | None,
    offline: bool,
    clock: Callable[[], dt.datetime],
) -> ProvenanceLoad:
    m = release.manifest
    if not m.provenance:
        return ProvenanceLoad(None, declared=False)
    rel = PurePosixPath(m.provenance).as_posix()
    entry = release.inventory.by_path().get(rel)
    if entry is None or entry.kind != "file":
        return ProvenanceLoad(None, rel=rel, notes={"absent": True})
    try:
        with open(release.path(m.provenance), "rb") as fh:
            raw = fh.read(MAX_DOCUMENT_BYTES + 1)
    except OSError as exc:
        raise CheckError(f"{rel}: cannot read: {exc.strerror or exc}") from None
    vctx = VerifyContext(config, policy_dir, offline, clock, f"checks.{CHECK}")
    outcome = verify_document(raw, rel, vctx)
    if outcome.statement is None or outcome.signer is None:
        claimed = unverified_statement(raw, rel) if only_untrusted(outcome) else None
        return ProvenanceLoad(None, outcome.problems, rel=rel, claimed=claimed)
    try:
        prov = parse_provenance(outcome.statement)
    except ValueError as exc:
        return ProvenanceLoad(None, (Problem(ProblemKind.MALFORMED, f"{rel}: {exc}"),), rel=rel)
    return ProvenanceLoad(VerifiedProvenance(outcome.statement, prov, outcome.signer), rel=rel)


def provenance_dataset_digests(
    release: Release,
    config: ProvenanceConfig,
    *,
    policy_dir: Path | None,
    offline: bool = True,
    clock: Callable[[], dt.datetime] = utc_now,
) -> dict[str, str]:
    """Dataset name -> 'alg:hex' from the release's verified, trusted provenance.

    For other checks (training data) to compare with. Empty when the release
    declares no provenance; CheckError when it declares one that does not
    verify or whose signer the policy does not trust (never unverified data).
    """
    loaded = load_provenance(release, config, policy_dir=policy_dir, offline=offline, clock=clock)
    if not loaded.declared:
        return {}
    if loaded.verified is None:
        why = loaded.problems[0].message if loaded.problems else f"{loaded.rel}: missing"
        raise CheckError(f"provenance not usable: {why}")
    return dataset_digests(loaded.verified.provenance, release.manifest)


# ---------------------------------------------------------------------------


PROVENANCE_PROBLEMS = {
    ProblemKind.MALFORMED: "provenance-malformed",
    ProblemKind.INVALID: "provenance-signature-invalid",
    ProblemKind.UNTRUSTED: "provenance-signer-not-trusted",
    ProblemKind.CERT_INVALID: "provenance-certificate-invalid",
}


class ProvenanceCheck(Check):
    id = CHECK
    title = "Build provenance"
    description = (
        "SLSA v1 provenance signed by a trusted key or identity binds to this model, names an "
        "allowed builder (at the tier's SLSA build level), source repository and ref, and pins "
        "the base model and datasets that release.yaml declares."
    )
    rules = RULES
    Config = ProvenanceConfig

    def digest_requests(self, manifest: Manifest, root: Path, config: Any) -> list[DigestRequest]:
        # The subject may be the root digest under the signature's serialization:
        # ask for the same digests model-signature asks for (merged, computed once).
        return digest_requests(manifest, root)

    def run(self, ctx: CheckContext) -> CheckOutcome:
        cfg: ProvenanceConfig = ctx.config
        loaded = load_provenance(
            ctx.release, cfg, policy_dir=ctx.policy_dir, offline=ctx.offline, clock=ctx.clock
        )
        if not loaded.declared and not ctx.required:
            return CheckOutcome(skipped=True, summary="no provenance declared (not required at this tier)")
        if not loaded.declared:
            f = self.finding(
                "provenance-missing",
                "release.yaml declares no provenance",
                path="release.yaml",
                key="undeclared",
            )
            return CheckOutcome(findings=[f], summary="no provenance declared")
        rel = loaded.rel or ""
        if loaded.notes.get("absent"):
            f = self.finding(
                "provenance-missing",
                f"the declared provenance '{rel}' is not a file in the release",
                path="release.yaml",
                line=ctx.release.line_of("provenance"),
                key="absent",
            )
            return CheckOutcome(findings=[f], summary="provenance file missing")
        if loaded.verified is None:
            problems = [self._problem(p, rel, ctx.required) for p in loaded.problems]
            if loaded.claimed is None:
                return CheckOutcome(
                    findings=problems, summary=problems[0].title if problems else "not verified"
                )
            # Declared provenance is always checked against the model, whoever signed it.
            compared: dict[str, Any] = {"trusted": False}
            problems += self._subject(ctx, cfg, loaded.claimed, rel, compared)
            return CheckOutcome(
                findings=problems,
                summary="signer not trusted; subject compared with the model",
                details=compared,
            )
        v = loaded.verified
        findings: list[Finding] = []
        details: dict[str, Any] = {"signer": v.signer.summary, "method": v.signer.method, "trusted": True}
        findings += self._subject(ctx, cfg, v.statement, rel, details)
        findings += self._builder(cfg, v.provenance, rel, details)
        findings += self._source(cfg, v.provenance, rel, details)
        findings += self._inputs(ctx, cfg, v.provenance, rel, details)
        details["datasets"] = dataset_digests(v.provenance, ctx.manifest)
        summary = (
            f"built by {details.get('builder')} (SLSA L{details.get('build_level', '?')}) from "
            f"{details.get('source_repository')}@{details.get('source_ref')}; signed by {v.signer.summary}"
            if not findings
            else f"signed by {v.signer.summary}; {count(len(findings), 'problem')}"
        )
        return CheckOutcome(findings=findings, summary=summary, details=details)

    def _problem(self, p: Problem, rel: str, required: bool = True) -> Finding:
        return problem_finding(self.finding, p, PROVENANCE_PROBLEMS, rel, required, "trusted provenance")

    # -- subject ---------------------------------------------------------------

    def _subject(
        self, ctx: CheckContext, cfg: ProvenanceConfig, st: Statement, rel: str, details: dict[str, Any]
    ) -> list[Finding]:
        m = ctx.manifest
        scope = model_scope(m)
        exclude = [PurePosixPath(x).as_posix() for x in (m.signature, m.provenance) if x]
        roots, base = candidate_roots(ctx.release, scope, exclude, cfg.allowed_ignore_paths)
        details["model_root_digests"] = {k: f"sha256:{v}" for k, v in roots.items()}
        subject_digests = {d.lower() for s in st.subject for alg, d in s.digest.items() if alg == "sha256"}
        if any(r in subject_digests for r in roots.values()):
            details["subject_binding"] = "root digest"
            return []
        if base and _all_files_named(st, base, scope):
            details["subject_binding"] = "every model file"
            return []
        found = [{"name": s.name, "digest": dict(s.digest)} for s in st.subject[:20]]
        expected_roots = ", ".join("sha256:" + v[:16] + "…" for v in roots.values())
        return [
            self.finding(
                "provenance-subject-mismatch",
                f"{rel}: the provenance's subject is not this model: expected the model's root digest "
                f"({expected_roots or 'no model files'}) or every model file's digest, found "
                f"{', '.join(_subject_text(s) for s in found[:3])}",
                path=rel,
                evidence={
                    "expected": {
                        "root_digest": [f"sha256:{v}" for v in roots.values()],
                        "files": {r: e.sha256 for r, e in list(base.items())[:20]},
                    },
                    "found": found,
                },
            )
        ]

    # -- builder, source -------------------------------------------------------

    def _builder(
        self, cfg: ProvenanceConfig, p: SlsaProvenance, rel: str, details: dict[str, Any]
    ) -> list[Finding]:
        bid = p.runDetails.builder.id
        details["builder"] = bid
        levels = [r.level for r in cfg.allowed_builders if fnmatch.fnmatchcase(bid, r.id)]
        allowed = ", ".join(r.id for r in cfg.allowed_builders) or "none: the policy allows no builder"
        if not levels:
            return [
                self.finding(
                    "builder-not-allowed",
                    f"{rel}: builder '{bid}' is not allowed (expected one of: {allowed})",
                    path=rel,
                    detail="runDetails.builder.id",
                    key=bid,
                    evidence={"expected": [r.id for r in cfg.allowed_builders], "found": bid},
                )
            ]
        level = max(levels)
        details["build_level"] = level
        if level < cfg.min_build_level:
            return [
                self.finding(
                    "build-level-too-low",
                    f"{rel}: builder '{bid}' is rated SLSA Build L{level}; this tier requires "
                    f"L{cfg.min_build_level} or higher",
                    path=rel,
                    detail="runDetails.builder.id",
                    evidence={"expected": f">= {cfg.min_build_level}", "found": level, "builder": bid},
                )
            ]
        return []

    def _source(
        self, cfg: ProvenanceConfig, p: SlsaProvenance, rel: str, details: dict[str, Any]
    ) -> list[Finding]:
        repo, ref, where = source_of(p)
        details.update(source_repository=repo, source_ref=ref)
        matching = [
            r for r in cfg.allowed_sources if repo and fnmatch.fnmatchcase(repo, normalise_repo(r.repository))
        ]
        if not matching:
            allowed = ", ".join(r.repository for r in cfg.allowed_sources) or "none"
            return [
                self.finding(
                    "source-repository-not-allowed",
                    f"{rel}: built from repository '{repo or '(none recorded)'}', which the policy does "
                    f"not allow (expected one of: {allowed})",
                    path=rel,
                    detail=where,
                    key=repo or "",
                    evidence={"expected": [r.repository for r in cfg.allowed_sources], "found": repo},
                )
            ]
        refs = sorted({x for r in matching for x in r.refs})
        if ref is None or not any(fnmatch.fnmatchcase(ref, x) for x in refs):
            return [
                self.finding(
                    "source-ref-not-allowed",
                    f"{rel}: built from ref '{ref or '(none recorded)'}' of {repo}; "
                    f"allowed refs: {', '.join(refs)}",
                    path=rel,
                    detail=where,
                    key=ref or "",
                    evidence={"expected": refs, "found": ref, "repository": repo},
                )
            ]
        return []

    # -- base model and datasets ----------------------------------------------

    def _inputs(
        self, ctx: CheckContext, cfg: ProvenanceConfig, p: SlsaProvenance, rel: str, details: dict[str, Any]
    ) -> list[Finding]:
        m = ctx.manifest
        out: list[Finding] = []
        base = base_model_dep(p, m)
        if base is not None:
            i, dep = base
            where = f"buildDefinition.resolvedDependencies[{i}]"
            pin = pinned_digest(dep, cfg.pin_algorithms)
            details["base_model"] = {"uri": dep.uri, "digest": pin}
            if pin is None:
                out.append(
                    self.finding(
                        "base-model-unpinned",
                        f"{rel}: base model '{dep.uri or dep.name}' is not pinned by a digest "
                        f"(expected one of {', '.join(cfg.pin_algorithms)}; found "
                        f"{', '.join(dep.digest) or 'no digest'})",
                        path=rel,
                        detail=where,
                        key=dep.uri or "",
                        evidence={"expected": list(cfg.pin_algorithms), "found": dict(dep.digest)},
                    )
                )
            if not any(fnmatch.fnmatchcase(dep.uri or "", g) for g in cfg.allowed_base_model_sources):
                out.append(
                    self.finding(
                        "base-model-source-not-allowed",
                        f"{rel}: base model '{dep.uri or dep.name}' is not from an allowed source (expected: "
                        f"{', '.join(cfg.allowed_base_model_sources) or 'none allowed'})",
                        path=rel,
                        detail=where,
                        key=dep.uri or "",
                        evidence={"expected": list(cfg.allowed_base_model_sources), "found": dep.uri},
                    )
                )
        out += self._base_agreement(ctx, base, rel)
        datasets = dataset_deps(p, m)
        for i, dep in datasets:
            if pinned_digest(dep, cfg.pin_algorithms) is None:
                out.append(
                    self.finding(
                        "dataset-unpinned",
                        f"{rel}: dataset '{dataset_key(dep)}' is not pinned by a digest (expected one of "
                        f"{', '.join(cfg.pin_algorithms)}; found {', '.join(dep.digest) or 'no digest'})",
                        path=rel,
                        detail=f"buildDefinition.resolvedDependencies[{i}]",
                        key=dataset_key(dep),
                        evidence={"expected": list(cfg.pin_algorithms), "found": dict(dep.digest)},
                    )
                )
        out += self._dataset_agreement(ctx, datasets, rel)
        return out

    def _disagree(
        self, ctx: CheckContext, field: str, title: str, expected: Any, found: Any, key: str
    ) -> Finding:
        return self.finding(
            "provenance-disagrees-with-release",
            title,
            path="release.yaml",
            line=ctx.release.line_of(field),
            detail=field,
            key=key,
            evidence={"field": field, "expected": expected, "found": found},
        )

    def _base_agreement(
        self, ctx: CheckContext, base: tuple[int, ResourceDescriptor] | None, rel: str
    ) -> list[Finding]:
        declared = ctx.manifest.base_model
        if declared is None:
            if base is None:
                return []
            uri = base[1].uri or base[1].name
            return [
                self._disagree(
                    ctx,
                    "base_model",
                    f"the provenance names base model '{uri}', release.yaml declares none",
                    None,
                    uri,
                    "undeclared",
                )
            ]
        if base is None:
            return [
                self._disagree(
                    ctx,
                    "base_model.source",
                    f"release.yaml declares base model '{declared.source}', {rel} records no base model",
                    declared.source,
                    None,
                    "absent",
                )
            ]
        dep = base[1]
        out = []
        if not _same_uri(dep.uri, declared.source):
            out.append(
                self._disagree(
                    ctx,
                    "base_model.source",
                    f"base model: release.yaml says '{declared.source}', {rel} says '{dep.uri}'",
                    declared.source,
                    dep.uri,
                    "source",
                )
            )
        if declared.digest:
            alg, _, hexd = declared.digest.partition(":")
            found = dep.digest.get(alg)
            if found is None or found.lower() != hexd:
                out.append(
                    self._disagree(
                        ctx,
                        "base_model.digest",
                        f"base model digest: release.yaml says {declared.digest}, {rel} says "
                        f"{f'{alg}:{found}' if found else 'no ' + alg + ' digest'}",
                        declared.digest,
                        f"{alg}:{found}" if found else None,
                        "digest",
                    )
                )
        recorded = _revision(dep)
        if declared.revision and recorded and recorded != declared.revision:
            out.append(
                self._disagree(
                    ctx,
                    "base_model.revision",
                    f"base model revision: release.yaml says {declared.revision}, {rel} says {recorded}",
                    declared.revision,
                    recorded,
                    "revision",
                )
            )
        return out

    def _dataset_agreement(
        self, ctx: CheckContext, datasets: list[tuple[int, ResourceDescriptor]], rel: str
    ) -> list[Finding]:
        out = []
        matched: set[int] = set()
        for j, d in enumerate(ctx.manifest.datasets):
            field = f"datasets[{j}]"
            hit = next(
                (
                    (i, dep)
                    for i, dep in datasets
                    if _same_uri(dep.uri, d.source) or (dep.name is not None and dep.name == d.name)
                ),
                None,
            )
            if hit is None:
                if d.role in TRAINING_ROLES:
                    out.append(
                        self._disagree(
                            ctx,
                            field,
                            f"release.yaml declares {d.role} dataset '{d.name}', {rel} does not list it",
                            d.name,
                            None,
                            f"absent:{d.name}",
                        )
                    )
                continue
            i, dep = hit
            matched.add(i)
            if d.digest:
                alg, _, hexd = d.digest.partition(":")
                found = dep.digest.get(alg)
                if found is None or found.lower() != hexd:
                    out.append(
                        self._disagree(
                            ctx,
                            f"{field}.digest",
                            f"dataset '{d.name}': release.yaml says {d.digest}, {rel} says "
                            f"{f'{alg}:{found}' if found else 'no ' + alg + ' digest'}",
                            d.digest,
                            f"{alg}:{found}" if found else None,
                            f"digest:{d.name}",
                        )
                    )
        for i, dep in datasets:
            if i not in matched:
                out.append(
                    self._disagree(
                        ctx,
                        "datasets",
                        f"{rel} lists dataset '{dataset_key(dep)}', which release.yaml does not declare",
                        None,
                        dataset_key(dep),
                        f"undeclared:{dataset_key(dep)}",
                    )
                )
        return out


def _revision(dep: ResourceDescriptor) -> str | None:
    rev = dep.annotations.get("revision")
    if isinstance(rev, str):
        return rev
    commit = dep.digest.get("gitCommit")
    return commit.lower() if commit else None


def _all_files_named(st: Statement, files: dict[str, Entry], scope: str) -> bool:
    by_name = {s.name: s.digest for s in st.subject}
    for rel, e in files.items():
        digest = by_name.get(rel) or by_name.get(f"{scope}/{rel}" if scope else rel)
        if digest is None or digest.get("sha256", "").lower() != e.sha256:
            return False
    return True


def _subject_text(s: dict[str, Any]) -> str:
    d = s["digest"]
    alg = "sha256" if "sha256" in d else next(iter(d), "")
    return f"'{s['name']}' {alg}:{str(d.get(alg, ''))[:16]}…"
