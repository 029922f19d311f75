"""Check `dependencies`: the serving dependencies are pinned and free of known vulnerabilities."""

from __future__ import annotations

import os
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator

from gate.checks.dependencies import audit
from gate.checks.dependencies.audit import AuditDetails, AuditedDependency, NotAudited, Source, VulnInfo
from gate.checks.dependencies.cvss import severity_of
from gate.checks.dependencies.pins import (
    NOT_AUDITABLE,
    UNPINNED,
    UNREADABLE,
    Pin,
    PinSet,
    Problem,
    dependency_files,
    read_pins,
)
from gate.checks.interface import Check, CheckContext, CheckOutcome
from gate.errors import CheckError
from gate.extras import needs
from gate.models.base import StrictModel
from gate.models.finding import Finding, Severity, fingerprint, rule_maker
from gate.models.policy import Stricter

CHECK = "dependencies"
OSV_URL_ENV = "MODEL_GATE_OSV_URL"
SUPPLY_CHAIN = ("LLM03:2025", "AML.T0010")


_rule = rule_maker(CHECK, technique=SUPPLY_CHAIN)


RULES = (
    _rule(
        "GATE-DP001",
        "vulnerable-dependency",
        Severity.HIGH,
        "A pinned serving dependency has a known vulnerability above the tier's `max_cvss` (and, with "
        "`only_fixable`, a fixed version exists); its severity follows the CVSS score.",
        "The model is served by this code: a published vulnerability in it (credential leaks, "
        "remote code execution through a deserializer, request smuggling) is an attack on the "
        "deployment that needs no access to the model at all, and exploits for published "
        "advisories are often public.",
        "`requests==2.19.0` in requirements.txt: PYSEC-2018-28 (CVE-2018-18074, CVSS 7.5) sends "
        "the Authorization header to a plain-HTTP redirect target; fixed in 2.20.0.",
        "Upgrade the package to a fixed version (the finding names it) and rebuild. To accept "
        "the risk for one release, sign a waiver for the finding's id (vulnerability + package + "
        "version).",
        always_blocks=True,
    ),
    _rule(
        "GATE-DP002",
        "vulnerable-dependency-tolerated",
        Severity.LOW,
        "A pinned serving dependency has a known vulnerability that the tier's policy tolerates.",
        "The policy lets it through (its score is at or below `max_cvss`, or it has no fix and "
        "`only_fixable` is set), but it is still a known weakness in what serves the model and "
        "belongs on someone's list.",
        "`py==1.11.0`: PYSEC-2022-42969 (ReDoS, CVSS 5.3) under `max_cvss: 6.9`.",
        "Upgrade when a fixed version exists, or replace the package.",
    ),
    _rule(
        "GATE-DP003",
        "unpinned-requirement",
        Severity.HIGH,
        "A serving requirement is not pinned to one exact version (`name==version`).",
        "What gets installed then depends on the day of the build and the index: the audit "
        "cannot know which version will serve the model, and a compromised or vulnerable "
        "release is picked up silently.",
        "`numpy>=1.24` or `torch` without a version in requirements.txt.",
        "Pin every requirement to the version you tested (`numpy==1.26.4`), ideally with "
        "`--hash` (pip-compile --generate-hashes, uv pip compile, or a lock file).",
    ),
    _rule(
        "GATE-DP004",
        "dependency-not-audited",
        Severity.HIGH,
        "A serving dependency could not be audited for known vulnerabilities: installed from a URL, "
        "a VCS checkout, a local path or in editable mode, or skipped by the vulnerability service.",
        "A dependency nobody could look up is not a dependency without vulnerabilities: "
        "installs from URLs, VCS checkouts, local paths and editable installs have no version "
        "a vulnerability database knows, and a package the service could not find was not "
        "checked at all.",
        "`-e git+https://github.com/org/lib.git#egg=lib`, `lib @ https://host/lib.whl`, or a "
        "package the vulnerability service skipped.",
        "Publish the dependency to your package index and pin it by version, or review it "
        "and accept it with a signed waiver.",
    ),
    _rule(
        "GATE-DP005",
        "requirement-without-hash",
        Severity.MEDIUM,
        "The policy requires hashes and a pinned requirement has no `--hash`.",
        "A version pin trusts the index to serve the same bytes forever; a hash pins the "
        "bytes, so a replaced or tampered distribution fails to install.",
        "`requests==2.32.3` without `--hash=sha256:...`.",
        "Generate hashes: `pip-compile --generate-hashes`, `uv pip compile --generate-hashes`, "
        "or use a lock file that records them.",
    ),
    _rule(
        "GATE-DP006",
        "unreadable-dependency-file",
        Severity.HIGH,
        "A requirements or lock file is missing, malformed, over the size limit or in an unsupported format.",
        "Dependencies the gate cannot read are dependencies it cannot audit; a parse error is "
        "never a clean result.",
        "A uv.lock that is not valid TOML, or `-r ../shared.txt` pointing outside the release.",
        "Fix the file at the line shown, keep includes inside the release, and use "
        "requirements.txt, pylock.toml, uv.lock or poetry.lock.",
    ),
)


class DependenciesConfig(StrictModel):
    osv_url: Annotated[str | None, Stricter.FIXED] = Field(
        None,
        description="Base URL of a self-hosted OSV-compatible API (e.g. a mirror started with "
        "`python -m gate.osv_mirror`). Required with --offline.",
    )
    service: Annotated[Literal["osv", "pypi"], Stricter.FIXED] = Field(
        "osv", description="Online source when no osv_url is set: OSV (api.osv.dev) or PyPI's JSON API."
    )
    max_cvss: Annotated[float, Stricter.MIN] = Field(
        6.9,
        ge=0,
        le=10,
        description="Highest CVSS base score allowed: 6.9 lets low and medium through, 3.9 only "
        "low, 0 nothing.",
    )
    only_fixable: Annotated[bool, Stricter.ALL_TRUE] = Field(
        False, description="Let vulnerabilities without a published fix through (still reported)."
    )
    unscored_cvss: Annotated[float, Stricter.MAX] = Field(
        10.0,
        ge=0,
        le=10,
        description="Score assumed for a vulnerability whose records carry no severity (10: blocks).",
    )
    require_hashes: Annotated[bool, Stricter.ANY_TRUE] = Field(
        False, description="Every pin must carry a hash (`--hash` or a lock file's hashes)."
    )
    timeout_s: Annotated[int, Stricter.MAX] = Field(
        15, ge=1, le=300, description="Socket timeout for each request to the service."
    )
    audit_timeout_s: Annotated[float, Stricter.MAX] = Field(
        600, gt=0, le=3600, description="Limit for the whole pip-audit run."
    )

    @field_validator("osv_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if len(v) > 500:
            raise ValueError("URL too long")
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL")
        if parts.username or parts.password:
            raise ValueError("must not carry credentials (they would end up in reports)")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query string or fragment")
        return v


def vulnerability_source(cfg: DependenciesConfig, offline: bool) -> Source:
    """The policy's osv_url, else the runner's MODEL_GATE_OSV_URL, else the online service."""
    if cfg.osv_url:
        return Source(service="osv", osv_base=audit.osv_base(cfg.osv_url), custom=True)
    from_env = os.environ.get(OSV_URL_ENV, "").strip()
    if from_env:
        # An air-gapped runner names its mirror once, for every policy that does not name one.
        try:
            url = DependenciesConfig(osv_url=from_env).osv_url
        except ValidationError as exc:
            reason = exc.errors()[0]["msg"]
            raise CheckError(f"{OSV_URL_ENV}: {reason}") from None
        assert url is not None
        return Source(service="osv", osv_base=audit.osv_base(url), custom=True)
    if offline:
        raise CheckError(
            "--offline and no vulnerability source: the dependencies cannot be audited",
            hint=f"Run an OSV mirror (python -m gate.osv_mirror) and set checks.dependencies.osv_url "
            f"in the policy or {OSV_URL_ENV} on the runner.",
        )
    return Source(service=cfg.service, osv_base=audit.PUBLIC_OSV, custom=False)


def _version_key(version: str) -> str:
    with needs("sbom", "comparing package versions"):
        from packaging.version import InvalidVersion, Version

    try:
        return str(Version(version))
    except InvalidVersion:
        return version


def _fix_target(installed: str, fixes: tuple[str, ...]) -> str | None:
    with needs("sbom", "comparing package versions"):
        from packaging.version import InvalidVersion, Version

    try:
        current = Version(installed)
        later = sorted(Version(f) for f in fixes if Version(f) > current)
    except InvalidVersion:
        return fixes[0] if fixes else None
    return str(later[0]) if later else (fixes[-1] if fixes else None)


class DependenciesCheck(Check[DependenciesConfig]):
    id = CHECK
    title = "Serving dependencies"
    description = (
        "The serving dependencies (requirements.txt, pylock.toml, uv.lock, poetry.lock) are pinned "
        "and audited with pip-audit against OSV or PyPI, or a self-hosted OSV mirror; known "
        "vulnerabilities above the tier's CVSS limit block."
    )
    rules = RULES

    def run(self, ctx: CheckContext[DependenciesConfig]) -> CheckOutcome:
        cfg = ctx.config
        serving = ctx.manifest.serving
        declared = [p for p in (serving.requirements, serving.lockfile) if p]
        files = dependency_files(ctx.release.root, declared)
        if not files:
            return CheckOutcome(
                skipped=True,
                summary="no serving dependencies: release.yaml declares no serving.requirements or "
                "serving.lockfile and none of requirements.txt, pylock.toml, uv.lock, poetry.lock exists",
            )
        pins = read_pins(ctx.release.root, files)
        findings = [self._problem_finding(p) for p in pins.problems]
        unique = pins.unique_pins()
        if cfg.require_hashes:
            findings += [self._hash_finding(p) for p in unique if not p.hashes]
        if not unique:
            details = AuditDetails(service="none", files=tuple(pins.files), not_audited=_not_audited(pins))
            return CheckOutcome(
                findings=findings,
                summary=f"nothing pinned to audit in {', '.join(files)}: "
                f"{_n(len(findings), 'problem', 'problems')}",
                details=details.model_dump(mode="json"),
            )
        source = vulnerability_source(cfg, ctx.offline)
        version = audit.pip_audit_version()
        results = audit.run_pip_audit(
            unique,
            source,
            timeout_s=cfg.timeout_s,
            deadline_s=cfg.audit_timeout_s,
            workdir=ctx.options.workdir,
        )
        client = audit.OsvClient(source.osv_base, cfg.timeout_s)
        if source.service == "osv":
            audit.cross_check(unique, results, client)
        by_key = {(r.name, _version_key(r.version or "")): r for r in results if r.skip_reason is None}
        skipped = {r.name: r.skip_reason for r in results if r.skip_reason is not None}
        vulns = [v for r in by_key.values() for v in r.vulns]
        scored = audit.severities(vulns, client) if vulns else {}
        audited: list[AuditedDependency] = []
        not_audited = list(_not_audited(pins))
        blocking = tolerated = 0
        for pin in unique:
            hit = by_key.get((pin.name, _version_key(pin.version)))
            if hit is None:
                reason = skipped.get(pin.name) or "pip-audit did not report on it"
                not_audited.append(
                    NotAudited(
                        name=pin.name, version=pin.version, source=pin.source, line=pin.line, reason=reason
                    )
                )
                findings.append(self._not_audited_finding(pin, reason))
                continue
            infos = tuple(audit.vuln_info(v, scored[v.id]) for v in hit.vulns)
            audited.append(
                AuditedDependency(
                    name=pin.name,
                    version=pin.version,
                    purl=audit.purl_of(pin.name, pin.version),
                    source=pin.source,
                    line=pin.line,
                    hashes=pin.hashes,
                    vulns=infos,
                )
            )
            for info in infos:
                f = self._vuln_finding(pin, info, cfg, source)
                findings.append(f)
                if f.rule.code == "GATE-DP001":
                    blocking += 1
                else:
                    tolerated += 1
        details = AuditDetails(
            service=source.describe(),
            files=tuple(pins.files),
            dependencies=tuple(audited),
            not_audited=tuple(not_audited),
            pip_audit_version=version,
        )
        n_vulns = blocking + tolerated
        affected = sum(1 for d in audited if d.vulns)
        summary = (
            f"{_n(len(unique), 'pinned dependency', 'pinned dependencies')} from "
            f"{', '.join(pins.files) or ', '.join(files)} audited with pip-audit {version} against "
            f"{source.describe()}: "
            + (
                f"{_n(n_vulns, 'known vulnerability', 'known vulnerabilities')} in "
                f"{_n(affected, 'package', 'packages')} ({blocking} over the policy, {tolerated} tolerated)"
                if n_vulns
                else "no known vulnerabilities"
            )
        )
        other = len(findings) - n_vulns
        if other:
            summary += f"; {_n(other, 'other problem', 'other problems')}"
        return CheckOutcome(findings=findings, summary=summary, details=details.model_dump(mode="json"))

    # --- findings -----------------------------------------------------------------------------

    def _vuln_finding(self, pin: Pin, v: VulnInfo, cfg: DependenciesConfig, source: Source) -> Finding:
        score = v.score if v.score is not None else cfg.unscored_cvss
        rated = (
            f"CVSS {v.score:g} {v.severity.value}"
            if v.score is not None and v.severity is not None
            else f"no severity in its records (assumed {cfg.unscored_cvss:g})"
        )
        if score <= cfg.max_cvss:
            tolerated_by: str | None = f"score {score:g} is within max_cvss {cfg.max_cvss:g}"
        elif cfg.only_fixable and not v.fix_versions:
            tolerated_by = "no fixed version is published and the policy sets only_fixable"
        else:
            tolerated_by = None
        target = _fix_target(pin.version, v.fix_versions)
        aliases = f" ({', '.join(v.aliases)})" if v.aliases else ""
        fixed = f"fixed in {', '.join(v.fix_versions)}" if v.fix_versions else "no fixed version published"
        title = f"{pin.name} {pin.version}: {v.id}{aliases}, {rated}; {fixed}"
        if target:
            mitigation = (
                f"Upgrade {pin.name} from {pin.version} to {target} or later (fixes {v.id}): change the pin "
                f"in {pin.source}, rebuild the serving image and run the gate again."
            )
        else:
            mitigation = (
                f"No fixed release of {pin.name} is published for {v.id}: remove or replace {pin.name}, "
                "or accept the risk with a signed waiver for this finding."
            )
        if tolerated_by:
            title += f" (tolerated: {tolerated_by})"
        rule = self.rule("vulnerable-dependency-tolerated" if tolerated_by else "vulnerable-dependency")
        osv_arg = f" -s osv --osv-url {source.query_url}" if source.service == "osv" else " -s pypi"
        f = self.finding(
            rule,
            title,
            path=pin.source,
            line=pin.line,
            detail=f"{pin.name}=={pin.version}",
            evidence={
                "package": pin.name,
                "version": pin.version,
                "vulnerability": v.id,
                "aliases": list(v.aliases),
                "fixed_versions": list(v.fix_versions),
                "cvss_score": v.score,
                "cvss_vector": v.vector,
                "severity_source": v.severity_source,
                "description": v.description,
                "service": source.describe(),
                **({"tolerated_because": tolerated_by} if tolerated_by else {}),
            },
            reproduction=(
                f"python -m pip_audit -r <(echo '{pin.name}=={pin.version}') --no-deps --disable-pip"
                f"{osv_arg} --aliases on"
            ),
            mitigation=mitigation,
            severity=Severity.LOW if tolerated_by else max(severity_of(score), Severity.LOW),
        )
        # The id must survive moving the pin to another file or line: vulnerability + package + version.
        return f.model_copy(update={"id": fingerprint(rule.code, None, f"{v.id}|{pin.name}|{pin.version}")})

    def _problem_finding(self, p: Problem) -> Finding:
        what = p.text or p.name or p.source
        if p.kind == UNPINNED:
            return self.finding(
                "unpinned-requirement",
                f"'{what}' in {p.source} is not pinned to one version: {p.reason}",
                path=p.source,
                line=p.line,
                key=p.name or what,
                evidence={"requirement": p.text, "reason": p.reason},
                mitigation=f"Pin {p.name or 'it'} to the exact version you tested "
                f"({p.name or 'name'}==X.Y.Z), ideally with --hash.",
            )
        if p.kind == NOT_AUDITABLE:
            return self.finding(
                "dependency-not-audited",
                f"'{what}' in {p.source} cannot be audited: {p.reason}",
                path=p.source,
                line=p.line,
                key=p.name or what,
                evidence={"requirement": p.text, "reason": p.reason},
            )
        assert p.kind == UNREADABLE
        return self.finding(
            "unreadable-dependency-file",
            f"{p.source}" + (f":{p.line}" if p.line else "") + f": {p.reason}",
            path=p.source,
            line=p.line,
            key=f"{p.line}:{p.reason}",
            evidence={"reason": p.reason, **({"text": p.text} if p.text else {})},
        )

    def _not_audited_finding(self, pin: Pin, reason: str) -> Finding:
        return self.finding(
            "dependency-not-audited",
            f"{pin.name} {pin.version} in {pin.source} was not audited: {reason}",
            path=pin.source,
            line=pin.line,
            key=f"{pin.name}=={pin.version}",
            evidence={"package": pin.name, "version": pin.version, "reason": reason},
        )

    def _hash_finding(self, pin: Pin) -> Finding:
        return self.finding(
            "requirement-without-hash",
            f"{pin.name}=={pin.version} in {pin.source} has no hash",
            path=pin.source,
            line=pin.line,
            key=pin.name,
            evidence={"package": pin.name, "version": pin.version},
        )


def _not_audited(pins: PinSet) -> tuple[NotAudited, ...]:
    return tuple(
        NotAudited(
            name=p.name,
            source=p.source,
            line=p.line,
            reason=p.reason if p.kind == NOT_AUDITABLE else f"not pinned: {p.reason}",
        )
        for p in pins.problems
        if p.kind in (NOT_AUDITABLE, UNPINNED)
    )


def _n(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"
