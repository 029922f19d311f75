"""SLSA v1 build provenance: the predicate's shape, where it records the source, the base model and
the datasets, and a release's declared provenance read and verified through the trust policy.

The spec lets producers add fields: unknown ones are ignored. Used by the
`provenance` check, and by other checks that compare with the datasets the
provenance pins (never with unverified data).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gate.errors import CheckError
from gate.models.manifest import Manifest
from gate.release import Release
from gate.signing.document import MAX_DOCUMENT_BYTES, unverified_statement, verify_document
from gate.signing.dsse import Statement
from gate.signing.trust import Problem, ProblemKind, Signer, TrustSettings, VerifyContext, only_untrusted

SLSA_V1 = "https://slsa.dev/provenance/v1"
ROLE_BASE_MODEL = "base-model"
ROLE_DATASET = "dataset"
TRAINING_ROLES = frozenset({"fine-tuning", "pre-training"})


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


def role(dep: ResourceDescriptor) -> str | None:
    role = dep.annotations.get("role")
    return role if isinstance(role, str) else None


def same_uri(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.strip().rstrip("/") == b.strip().rstrip("/")


def base_model_dep(p: SlsaProvenance, manifest: Manifest | None) -> tuple[int, ResourceDescriptor] | None:
    declared = manifest.base_model.source if manifest and manifest.base_model else None
    for i, dep in enumerate(p.buildDefinition.resolvedDependencies):
        if role(dep) == ROLE_BASE_MODEL or same_uri(dep.uri, declared):
            return i, dep
    return None


def dataset_deps(p: SlsaProvenance, manifest: Manifest | None) -> list[tuple[int, ResourceDescriptor]]:
    declared = [(d.name, d.source) for d in manifest.datasets] if manifest else []
    out = []
    for i, dep in enumerate(p.buildDefinition.resolvedDependencies):
        if role(dep) == ROLE_DATASET or any(
            same_uri(dep.uri, src) or (dep.name is not None and dep.name == name) for name, src in declared
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
    config: TrustSettings,
    *,
    policy_dir: Path | None,
    offline: bool,
    clock: Callable[[], dt.datetime],
    setting: str = "checks.provenance",
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
    vctx = VerifyContext(config, policy_dir, offline, clock, setting)
    outcome = verify_document(raw, rel, vctx)
    if outcome.statement is None or outcome.signer is None:
        claimed = unverified_statement(raw, rel) if only_untrusted(outcome) else None
        return ProvenanceLoad(None, outcome.problems, rel=rel, claimed=claimed)
    try:
        prov = parse_provenance(outcome.statement)
    except ValueError as exc:
        return ProvenanceLoad(None, (Problem(ProblemKind.MALFORMED, f"{rel}: {exc}"),), rel=rel)
    return ProvenanceLoad(VerifiedProvenance(outcome.statement, prov, outcome.signer), rel=rel)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def provenance_dataset_digests(
    release: Release,
    config: TrustSettings,
    *,
    policy_dir: Path | None,
    offline: bool = True,
    clock: Callable[[], dt.datetime] = _utc_now,
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
