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

import fnmatch
from pathlib import Path, PurePosixPath
from typing import Any

from gate.checks.interface import Check, CheckContext, CheckOutcome
from gate.checks.provenance.config import ProvenanceConfig
from gate.checks.provenance.rules import CHECK, PROVENANCE_PROBLEMS, RULES
from gate.inventory import DigestRequest, Entry
from gate.models.finding import Finding
from gate.models.manifest import Manifest
from gate.signing.dsse import Statement
from gate.signing.model_format import candidate_roots, digest_requests, model_scope
from gate.signing.slsa import (
    TRAINING_ROLES,
    ResourceDescriptor,
    SlsaProvenance,
    base_model_dep,
    dataset_deps,
    dataset_digests,
    dataset_key,
    load_provenance,
    normalise_repo,
    pinned_digest,
    same_uri,
    source_of,
)
from gate.signing.trust import (
    Problem,
    problem_finding,
)
from gate.wording import count


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
        if not same_uri(dep.uri, declared.source):
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
                    if same_uri(dep.uri, d.source) or (dep.name is not None and dep.name == d.name)
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
