"""The ML bill of materials: a CycloneDX 1.6 JSON document for a release.

What it holds:
- the model as `metadata.component` (type machine-learning-model) with one
  nested `file` component per model file, each with the digests the release
  inventory already computed (nothing is hashed again), and a `modelCard`;
- every other file of the release as a `file` component with its digests;
- the datasets as `data` components (digest from release.yaml or the inventory);
- the base model as a machine-learning-model component with its source and
  digest; the model depends on it, on its datasets and on its libraries;
- the serving dependencies as `library` components with purls, and the
  vulnerabilities the `dependencies` check found, with CVSS ratings, aliases,
  fixed versions and the finding ids waivers are bound to;
- the gate's verdict, tier and policy as properties when `check` produced it.

cyclonedx-python-lib has no model card and no `data` field on components, so
both are added to the serialized JSON; tests validate the result against the
CycloneDX 1.6 schema bundled with the library (`validate_bom`, also available
as `model-gate sbom --validate`; off by default because importing the schema
validator alone takes seconds).
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import ValidationError

from gate import __version__
from gate.checks.dependencies.audit import AuditDetails, AuditedDependency, VulnInfo
from gate.checks.dependencies.pins import PinSet, dependency_files, read_pins
from gate.errors import GateError
from gate.extras import need_installed
from gate.inventory import Entry
from gate.models.manifest import Manifest
from gate.models.report import CheckStatus, Report
from gate.release import Release
from gate.timefmt import Clock, utc_now

PREFIX = "model-gate:"
MODEL_REF = "model"
MODEL_CARD_REF = "model-card"
BASE_REF = "base-model"
DEPENDENCIES_CHECK = "dependencies"
# Inventory algorithm names (hashlib) -> CycloneDX hashAlg.
_HASH_ALGS = {
    "sha256": "SHA-256",
    "sha384": "SHA-384",
    "sha512": "SHA-512",
    "sha3_256": "SHA3-256",
    "sha3_384": "SHA3-384",
    "sha3_512": "SHA3-512",
    "blake2b": "BLAKE2b-512",
    "blake3": "BLAKE3",
}
_ADVISORY_SOURCES = (
    ("PYSEC-", "PyPA Advisory Database", "https://osv.dev/vulnerability/{id}"),
    ("GHSA-", "GitHub Advisory Database", "https://github.com/advisories/{id}"),
    ("CVE-", "NVD", "https://nvd.nist.gov/vuln/detail/{id}"),
)


@dataclass(frozen=True)
class AuditInput:
    """What the BOM knows about the serving dependencies."""

    status: str  # "completed", "error: ...", "not run", "skipped: ..."
    details: AuditDetails | None
    pins: PinSet | None  # when there are no audit details: the pins read from the release
    findings: dict[tuple[str, str, str], tuple[str, bool]]  # (vuln, pkg, version) -> (finding id, blocking)


def _need_lib() -> None:
    need_installed("cyclonedx", "the CycloneDX ML-BOM")


def _hashes(entry: Entry) -> list[Any]:
    from cyclonedx.model import HashAlgorithm, HashType

    out = []
    if entry.sha256:
        out.append(HashType(alg=HashAlgorithm.SHA_256, content=entry.sha256))
    for key, value in sorted(entry.digests.items()):
        alg = _HASH_ALGS.get(key)
        if alg and alg != "SHA-256":
            out.append(HashType(alg=HashAlgorithm(alg), content=value))
    return out


def _declared_hash(digest: str | None) -> list[Any]:
    from cyclonedx.model import HashAlgorithm, HashType

    if not digest:
        return []
    algo, _, hexd = digest.partition(":")
    return [HashType(alg=HashAlgorithm(_HASH_ALGS[algo]), content=hexd)]


def _props(pairs: Sequence[tuple[str, str | None]]) -> list[Any]:
    from cyclonedx.model import Property

    return [Property(name=PREFIX + k, value=v) for k, v in pairs if v not in (None, "")]


def _file_component(entry: Entry) -> Any:
    from cyclonedx.model.component import Component, ComponentType

    props: list[tuple[str, str | None]] = [("size", str(entry.size))] if entry.kind == "file" else []
    if entry.kind == "symlink":
        props += [("kind", "symlink"), ("symlink-target", entry.link_target)]
    elif entry.kind == "other":
        props.append(("kind", "special file"))
    return Component(
        type=ComponentType.FILE,
        name=entry.path,
        bom_ref=f"file:{entry.path}",
        hashes=_hashes(entry),
        properties=_props(props),
    )


def _uri(text: str) -> Any:
    from cyclonedx.model import XsUri

    return XsUri(text)


_HF = re.compile(r"^hf://(?:models/)?(?P<org>[A-Za-z0-9][\w.-]*)/(?P<name>[\w.-]+)/?$")


def _base_model(manifest: Manifest) -> Any | None:
    from cyclonedx.model import ExternalReference, ExternalReferenceType
    from cyclonedx.model.component import Component, ComponentType
    from packageurl import PackageURL

    base = manifest.base_model
    if base is None:
        return None
    m = _HF.match(base.source)
    purl = (
        PackageURL(type="huggingface", namespace=m.group("org"), name=m.group("name"), version=base.revision)
        if m
        else None
    )
    name = f"{m.group('org')}/{m.group('name')}" if m else base.source
    return Component(
        type=ComponentType.MACHINE_LEARNING_MODEL,
        name=name,
        version=base.revision,
        bom_ref=BASE_REF,
        hashes=_declared_hash(base.digest),
        purl=purl,
        external_references=[
            ExternalReference(type=ExternalReferenceType.DISTRIBUTION, url=_uri(base.source))
        ],
        properties=_props([("source", base.source), ("role", "base model")]),
    )


def _datasets(release: Release, taken: set[str]) -> list[tuple[Any, dict[str, Any]]]:
    """Data components and, for each, the `data` object added after serialization."""
    from cyclonedx.model import ExternalReference, ExternalReferenceType
    from cyclonedx.model.component import Component, ComponentType

    inv = release.inventory.by_path()
    out = []
    for i, d in enumerate(release.manifest.datasets):
        hashes = _declared_hash(d.digest)
        nested = []
        if d.path:
            norm = PurePosixPath(d.path).as_posix().rstrip("/")
            entry = inv.get(norm)
            if entry is not None and entry.kind == "file":
                if not hashes:
                    hashes = _hashes(entry)
            else:
                # A file is listed once (bom-refs are unique): under the model if it is there.
                nested = [_file_component(e) for e in release.inventory.under(norm) if e.path not in taken]
                taken.update(e.path for e in release.inventory.under(norm))
        refs = (
            [ExternalReference(type=ExternalReferenceType.DISTRIBUTION, url=_uri(d.source))]
            if d.source
            else []
        )
        comp = Component(
            type=ComponentType.DATA,
            name=d.name,
            bom_ref=f"dataset:{i}",
            hashes=hashes,
            external_references=refs,
            components=nested,
            properties=_props(
                [("role", d.role), ("format", d.format), ("path", d.path), ("source", d.source)]
            ),
        )
        data: dict[str, Any] = {"type": "dataset", "name": d.name}
        if d.source:
            data["contents"] = {"url": str(_uri(d.source))}  # escaped: the schema wants an IRI reference
        data["description"] = f"{d.role} dataset"
        out.append((comp, data))
    return out


def _model_card(manifest: Manifest, dataset_refs: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if manifest.model.task:
        params["task"] = manifest.model.task
    if manifest.model.architecture:
        params["architectureFamily"] = manifest.model.architecture
    if dataset_refs:
        params["datasets"] = [{"ref": r} for r in dataset_refs]
    considerations: dict[str, Any] = {}
    use = manifest.intended_use
    if use and use.users:
        considerations["users"] = list(use.users)
    if use and use.use_cases:
        considerations["useCases"] = list(use.use_cases)
    if manifest.limitations:
        considerations["technicalLimitations"] = list(manifest.limitations)
    card: dict[str, Any] = {"bom-ref": MODEL_CARD_REF}
    if params:
        card["modelParameters"] = params
    if considerations:
        card["considerations"] = considerations
    props = []
    if use:
        props.append({"name": PREFIX + "intended-use", "value": use.description})
        props += [{"name": PREFIX + "out-of-scope", "value": x} for x in use.out_of_scope]
    if manifest.model.parameters is not None:
        props.append({"name": PREFIX + "parameters", "value": str(manifest.model.parameters)})
    props.append({"name": PREFIX + "format", "value": manifest.model.format.value})
    card["properties"] = props
    return card


def _library(dep: AuditedDependency) -> Any:
    from cyclonedx.model.component import Component, ComponentScope, ComponentType
    from packageurl import PackageURL

    return Component(
        type=ComponentType.LIBRARY,
        name=dep.name,
        version=dep.version,
        bom_ref=dep.purl,
        purl=PackageURL(type="pypi", name=dep.name, version=dep.version),
        scope=ComponentScope.REQUIRED,
        properties=_props(
            [("declared-in", f"{dep.source}:{dep.line}" if dep.line else dep.source)]
            + [("pinned-hash", h) for h in dep.hashes]
        ),
    )


def _advisory_source(vuln_id: str) -> Any:
    from cyclonedx.model.vulnerability import VulnerabilitySource

    for prefix, name, url in _ADVISORY_SOURCES:
        if vuln_id.startswith(prefix):
            return VulnerabilitySource(name=name, url=_uri(url.format(id=vuln_id)))
    return VulnerabilitySource(name="OSV", url=_uri(f"https://osv.dev/vulnerability/{vuln_id}"))


def _vulnerability(dep: AuditedDependency, v: VulnInfo, finding: tuple[str, bool] | None) -> Any:
    from cyclonedx.model.impact_analysis import ImpactAnalysisAffectedStatus
    from cyclonedx.model.vulnerability import (
        BomTarget,
        BomTargetVersionRange,
        Vulnerability,
        VulnerabilityRating,
        VulnerabilityReference,
        VulnerabilityScoreSource,
        VulnerabilitySeverity,
    )

    ratings = []
    if v.score is not None and v.severity is not None:
        method = None
        if v.vector:
            method = {
                "CVSS:3.1": VulnerabilityScoreSource.CVSS_V3_1,
                "CVSS:3.0": VulnerabilityScoreSource.CVSS_V3,
                "CVSS:4.0": VulnerabilityScoreSource.CVSS_V4,
            }.get(v.vector.partition("/")[0], VulnerabilityScoreSource.CVSS_V2)
        ratings.append(
            VulnerabilityRating(
                score=Decimal(str(v.score)),
                severity=VulnerabilitySeverity(v.severity.value if v.severity.value != "info" else "none"),
                method=method,
                vector=v.vector,
                justification=v.severity_source,
            )
        )
    else:
        ratings.append(VulnerabilityRating(severity=VulnerabilitySeverity.UNKNOWN))
    versions = [BomTargetVersionRange(version=dep.version, status=ImpactAnalysisAffectedStatus.AFFECTED)]
    versions += [
        BomTargetVersionRange(version=f, status=ImpactAnalysisAffectedStatus.UNAFFECTED)
        for f in v.fix_versions
    ]
    recommendation = (
        f"Upgrade {dep.name} to {v.fix_versions[0]} or later."
        if v.fix_versions
        else f"No fixed release of {dep.name} is published: remove or replace it."
    )
    props: list[tuple[str, str | None]] = []
    if finding is not None:
        props += [("finding", finding[0]), ("blocking", "true" if finding[1] else "false")]
    return Vulnerability(
        bom_ref=f"vuln:{v.id}:{dep.name}@{dep.version}",
        id=v.id,
        source=_advisory_source(v.id),
        references=[VulnerabilityReference(id=a, source=_advisory_source(a)) for a in v.aliases],
        ratings=ratings,
        description=v.description or None,
        recommendation=recommendation,
        affects=[BomTarget(ref=dep.purl, versions=versions)],
        properties=_props(props),
    )


def build_bom(
    release: Release, audit: AuditInput, report: Report | None = None, clock: Clock = utc_now
) -> str:
    """The BOM as CycloneDX 1.6 JSON text."""
    _need_lib()
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output.json import JsonV1Dot6

    manifest = release.manifest
    inv = release.inventory
    model_root = PurePosixPath(manifest.model.path).as_posix().rstrip("/")
    model_entries = inv.under(model_root)
    model_paths = {e.path for e in model_entries}
    single = model_entries[0] if len(model_entries) == 1 and model_entries[0].path == model_root else None

    datasets = _datasets(release, set(model_paths))
    dataset_paths = {
        e.path
        for d in manifest.datasets
        if d.path
        for e in inv.under(PurePosixPath(d.path).as_posix().rstrip("/"))
    }
    model = Component(
        type=ComponentType.MACHINE_LEARNING_MODEL,
        name=manifest.name,
        version=manifest.version,
        bom_ref=MODEL_REF,
        description=manifest.description,
        hashes=_hashes(single) if single else [],
        components=[_file_component(e) for e in model_entries],
        properties=_props([("model-path", manifest.model.path), ("release-digest", release.digest)]),
    )
    bom = Bom()
    bom.metadata.timestamp = clock()
    bom.metadata.component = model
    bom.metadata.tools.components.add(
        Component(type=ComponentType.APPLICATION, name="model-gate", version=__version__)
    )
    meta: list[tuple[str, str | None]] = [
        ("release-digest", release.digest),
        ("dependency-audit", audit.status),
    ]
    if audit.details is not None:
        meta.append(("vulnerability-service", audit.details.service))
    if report is not None:
        meta += [
            ("verdict", report.verdict.value),
            ("exit-code", str(report.exit_code)),
            ("tier", report.tier.level.value),
            ("eu-ai-act", report.tier.eu_ai_act),
            ("policy", report.policy.name),
            ("policy-sha256", report.policy.sha256),
            ("gate-version", report.gate_version),
        ]
    bom.metadata.properties.update(_props(meta))

    depends: list[Any] = []
    base = _base_model(manifest)
    if base is not None:
        bom.components.add(base)
        depends.append(base)
    for comp, _ in datasets:
        bom.components.add(comp)
        depends.append(comp)
    for e in inv.entries:
        if e.path not in model_paths and e.path not in dataset_paths:
            bom.components.add(_file_component(e))

    libraries = _libraries(audit)
    for lib in libraries.values():
        bom.components.add(lib)
        depends.append(lib)
    if audit.details is not None:
        for dep in audit.details.dependencies:
            for v in dep.vulns:
                bom.vulnerabilities.add(
                    _vulnerability(dep, v, audit.findings.get((v.id, dep.name, dep.version)))
                )
    bom.register_dependency(model, depends)
    for comp in depends:
        bom.register_dependency(comp, [])

    with warnings.catch_warnings():
        # The library warns when the model has no dependencies: then the graph is complete as it is.
        warnings.filterwarnings("ignore", message=".*has no defined dependencies.*")
        data = json.loads(JsonV1Dot6(bom).output_as_string())
    _decorate(
        data, manifest, [c.bom_ref.value for c, _ in datasets], {c.bom_ref.value: d for c, d in datasets}
    )
    return json.dumps(data, indent=2, sort_keys=False) + "\n"


def _libraries(audit: AuditInput) -> dict[str, Any]:
    from cyclonedx.model.component import Component, ComponentScope, ComponentType
    from packageurl import PackageURL

    from gate.checks.dependencies.audit import purl_of

    libs: dict[str, Any] = {}
    if audit.details is not None:
        for dep in audit.details.dependencies:
            libs[dep.purl] = _library(dep)
        for na in audit.details.not_audited:
            if not na.name:
                continue
            ref = purl_of(na.name, na.version) if na.version else f"pkg:pypi/{na.name}"
            libs.setdefault(
                ref,
                Component(
                    type=ComponentType.LIBRARY,
                    name=na.name,
                    version=na.version,
                    bom_ref=ref,
                    purl=PackageURL(type="pypi", name=na.name, version=na.version),
                    scope=ComponentScope.REQUIRED,
                    properties=_props([("declared-in", na.source), ("not-audited", na.reason)]),
                ),
            )
    elif audit.pins is not None:
        for pin in audit.pins.unique_pins():
            dep = AuditedDependency(
                name=pin.name,
                version=pin.version,
                purl=purl_of(pin.name, pin.version),
                source=pin.source,
                line=pin.line,
                hashes=pin.hashes,
            )
            libs.setdefault(dep.purl, _library(dep))
    return libs


def _decorate(
    data: dict[str, Any], manifest: Manifest, dataset_refs: list[str], data_fields: dict[str, Any]
) -> None:
    """Add what the library cannot express: the model card and the components' `data`."""
    model = data["metadata"]["component"]
    model["modelCard"] = _model_card(manifest, dataset_refs)
    for comp in data.get("components", []):
        extra = data_fields.get(comp.get("bom-ref"))
        if extra is not None:
            comp["data"] = [extra]


# --- entry points ---------------------------------------------------------------------------------


def audit_from_report(release: Release, report: Report) -> AuditInput:
    """The dependency audit as the `check` run left it, without running pip-audit again."""
    result = next((c for c in report.checks if c.id == DEPENDENCIES_CHECK), None)
    findings = {
        (
            str(f.evidence.get("vulnerability")),
            str(f.evidence.get("package")),
            str(f.evidence.get("version")),
        ): (
            f.id,
            f.effective_blocking,
        )
        for f in report.findings
        if f.check == DEPENDENCIES_CHECK and "vulnerability" in f.evidence
    }
    if result is None:
        return AuditInput("not run", None, _pins(release), findings)
    if result.status is CheckStatus.ERROR:
        return AuditInput(f"error: {result.summary}", None, _pins(release), findings)
    if result.status is CheckStatus.SKIPPED:
        return AuditInput(f"skipped: {result.summary}", None, _pins(release), findings)
    try:
        details = AuditDetails.model_validate(result.details)
    except ValidationError:
        return AuditInput("not run", None, _pins(release), findings)
    return AuditInput("completed", details, None, findings)


def _pins(release: Release) -> PinSet | None:
    serving = release.manifest.serving
    declared = [p for p in (serving.requirements, serving.lockfile) if p]
    files = dependency_files(release.root, declared)
    return read_pins(release.root, files) if files else None


def write_bom(path: Path, text: str) -> None:
    from gate.safewrite import write_file

    write_file(path, text, what="the BOM")


def validate_bom(text: str) -> None:
    """Validate against the CycloneDX 1.6 JSON schema bundled with cyclonedx-python-lib (offline)."""
    _need_lib()
    need_installed("jsonschema", "validating the BOM against the CycloneDX schema")
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    if error is not None:
        raise GateError(f"the BOM does not validate against CycloneDX 1.6: {str(error)[:500]}")


def write_for_report(release: Release, report: Report, path: Path) -> Report:
    """For `check --sbom PATH`: write the BOM of this run and record it in the report's artifacts."""
    write_bom(path, build_bom(release, audit_from_report(release, report), report))
    return report.model_copy(update={"artifacts": {**report.artifacts, "sbom": str(path)}})


def sbom_for_release(
    release_dir: Path,
    *,
    policy_ref: str = "default",
    offline: bool = False,
    audit: bool = True,
    clock: Clock = utc_now,
) -> str:
    """`model-gate sbom`: the BOM of a release, with a fresh dependency audit unless `audit` is False.

    The audit runs with the policy's `dependencies` settings for the release's tier; an audit that
    cannot complete raises CheckError (exit 3) rather than producing a BOM that looks clean.
    """
    from gate.checks.dependencies import DependenciesCheck
    from gate.checks.interface import CheckContext, RunOptions
    from gate.engine import decide_blocking
    from gate.policy import config_for, load_policy
    from gate.release import load_release
    from gate.risk import score

    _need_lib()
    release = load_release(release_dir)
    if not audit:
        return build_bom(release, AuditInput("not run", None, _pins(release), {}), clock=clock)
    tier = score(release.manifest)
    policy = load_policy(policy_ref)
    tp = policy.for_tier(tier.level)
    ctx = CheckContext(
        release=release,
        tier=tier,
        config=config_for(tp, DEPENDENCIES_CHECK),
        options=RunOptions(offline=offline),
        clock=clock,
        policy_dir=policy.directory,
    )
    outcome = DependenciesCheck().run(ctx)
    if outcome.skipped:
        return build_bom(release, AuditInput(f"skipped: {outcome.summary}", None, None, {}), clock=clock)
    findings = {}
    for f in outcome.findings:
        if "vulnerability" in f.evidence:
            decided = decide_blocking(f, tp)
            key = (str(f.evidence["vulnerability"]), str(f.evidence["package"]), str(f.evidence["version"]))
            findings[key] = (f.id, decided.blocking)
    details = AuditDetails.model_validate(outcome.details)
    return build_bom(release, AuditInput("completed", details, None, findings), clock=clock)
