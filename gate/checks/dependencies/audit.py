"""Run pip-audit on pinned dependencies and score what it finds from the OSV records.

pip-audit runs as a subprocess of the same interpreter (`python -m pip_audit`)
on a requirements file the gate writes outside the release, with
`--no-deps --disable-pip`: nothing is resolved or installed, only the exact
pins are looked up. Its JSON output is parsed into pydantic models.

Two facts shape the error handling (both checked against pip-audit 2.10):

- pip-audit exits 1 both when it finds vulnerabilities (with JSON) and when it
  crashes (no JSON, a traceback on stderr): a connection refused, a read
  timeout, a non-JSON or wrongly shaped answer from the service all end that
  way. So the output file decides, and its absence is an error whose reason is
  taken from the last line of stderr.
- `--strict` turns any dependency that could not be audited into a fatal error
  with no JSON at all. The gate applies the same rule one dependency at a time
  instead: it runs without `--strict`, and every dependency pip-audit skipped,
  or did not report on, becomes a finding that names it.

pip-audit's JSON carries no severity, so the gate fetches each vulnerability's
OSV records (its id and every alias) from the same OSV endpoint
(`GET /v1/vulns/ID`) and scores their CVSS vectors (v2, v3, v4).
"""

from __future__ import annotations

import ipaddress
import json
import re
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

from gate.checks.dependencies.cvss import OSV_TYPES, QUALITATIVE_SCORE, CvssError, base_score, severity_of
from gate.checks.dependencies.pins import Pin
from gate.childenv import child_env
from gate.errors import CheckError
from gate.extras import MissingExtraError, need_installed
from gate.models.base import StrictModel
from gate.models.finding import Severity

PUBLIC_OSV = "https://api.osv.dev"
MAX_RESPONSE_BYTES = 8 * 1024 * 1024
MAX_OUTPUT_BYTES = 64 * 1024 * 1024
LOOKUP_WORKERS = 8
DESCRIPTION_CHARS = 1000


class _External(BaseModel):
    """Third-party JSON: frozen, and unknown keys ignored (their schemas grow; we read a subset)."""

    model_config = ConfigDict(frozen=True, extra="ignore")


# --- pip-audit's JSON output (`-f json`) ---------------------------------------------------


class PipAuditVuln(_External):
    id: str = Field(min_length=1, max_length=200)
    fix_versions: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    description: str | None = None


class PipAuditDependency(_External):
    name: str = Field(min_length=1, max_length=300)
    version: str | None = None
    vulns: tuple[PipAuditVuln, ...] = ()
    skip_reason: str | None = None


class PipAuditOutput(_External):
    dependencies: tuple[PipAuditDependency, ...]
    fixes: tuple[dict[str, Any], ...] = ()


# --- OSV records (the subset severity needs) ------------------------------------------------


class OsvSeverity(_External):
    type: str
    score: str


class OsvAffected(_External):
    ecosystem_specific: dict[str, Any] | None = None
    database_specific: dict[str, Any] | None = None


class OsvRecord(_External):
    id: str
    aliases: tuple[str, ...] = ()
    summary: str | None = None
    details: str | None = None
    severity: tuple[OsvSeverity, ...] = ()
    affected: tuple[OsvAffected, ...] = ()
    database_specific: dict[str, Any] | None = None


# --- OSV /v1/query answers, validated before anyone trusts them -------------------------------
#
# pip-audit reads any falsy answer (`[]`, `null`, `""`) as "no vulnerabilities", and skips
# records without `affected` or with another schema major version: each of those would turn a
# broken or hostile mirror into a pass. The gate asks the same question itself and requires
# the documented shape: a JSON object, `vulns` a list of records carrying the OSV schema's
# required fields, and no second page (pip-audit reads only the first).


class OsvQueryVuln(_External):
    id: StrictStr = Field(min_length=1, max_length=200)
    modified: StrictStr = Field(min_length=1, max_length=100)
    schema_version: StrictStr | None = None
    withdrawn: StrictStr | None = None
    aliases: tuple[StrictStr, ...] = ()
    affected: tuple[dict[str, Any], ...] | None = None


class OsvQueryAnswer(_External):
    vulns: tuple[OsvQueryVuln, ...] = ()
    next_page_token: StrictStr | None = None

    def live_ids(self) -> list[tuple[str, set[str]]]:
        """(id, id and aliases) of every record that is not withdrawn."""
        return [(v.id, {v.id, *v.aliases}) for v in self.vulns if v.withdrawn is None]


def parse_query_answer(body: bytes, where: str) -> OsvQueryAnswer:
    """A /v1/query answer in the documented shape, or CheckError saying what is wrong."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise CheckError(f"{where}: the OSV service's answer is not JSON") from None
    if not isinstance(data, dict):
        raise CheckError(
            f"{where}: the OSV service answered {type(data).__name__} "
            f"{json.dumps(data)[:40]}, not an object with `vulns`: not an OSV answer (fail closed)"
        )
    if "vulns" in data and not isinstance(data["vulns"], list):
        raise CheckError(f"{where}: `vulns` is not a list: not an OSV answer (fail closed)")
    try:
        answer = OsvQueryAnswer.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise CheckError(f"{where}: OSV record field {loc}: {err['msg']} (fail closed)") from None
    if answer.next_page_token:
        raise CheckError(
            f"{where}: the OSV service paged its answer; pip-audit reads only the first page (fail closed)"
        )
    for v in answer.vulns:
        if v.withdrawn is not None:
            continue
        if v.schema_version is not None and not v.schema_version.startswith("1."):
            raise CheckError(f"{where}: {v.id}: OSV schema {v.schema_version} is not 1.x (fail closed)")
        if not v.affected:
            raise CheckError(
                f"{where}: {v.id}: record without `affected`, which pip-audit would drop (fail closed)"
            )
    return answer


def cross_check(pins: list[Pin], results: list[PipAuditDependency], client: OsvClient) -> None:
    """Every live record the OSV service returns for a pin must be in pip-audit's result."""
    reported: dict[tuple[str, str], set[str]] = {}
    for r in results:
        ids = reported.setdefault((_canon(r.name), _norm(r.version or "")), set())
        for v in r.vulns:
            ids |= {v.id, *v.aliases}
    with ThreadPoolExecutor(max_workers=LOOKUP_WORKERS) as pool:
        answers = list(pool.map(lambda p: (p, client.query(p.name, p.version)), pins))
    for pin, answer in answers:
        seen = reported.get((_canon(pin.name), _norm(pin.version)), set())
        for vid, names in answer.live_ids():
            if not names & seen:
                raise CheckError(
                    f"{pin.name}=={pin.version}: the OSV service returns {vid}, which pip-audit did "
                    "not report; the audit cannot be trusted (fail closed)"
                )


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _norm(version: str) -> str:
    from packaging.version import InvalidVersion, Version

    try:
        return str(Version(version))
    except InvalidVersion:
        return version


# --- what the check reports (and the BOM reuses) ---------------------------------------------


class VulnInfo(StrictModel):
    id: str
    aliases: tuple[str, ...] = ()
    fix_versions: tuple[str, ...] = ()
    description: str = ""
    score: float | None = None  # CVSS base score, or the top of a qualitative band
    severity: Severity | None = None  # None: no record carries a severity
    vector: str | None = None
    severity_source: str = "none"  # e.g. "CVSS_V3 of GHSA-x84v-xcm2-53pg"


class AuditedDependency(StrictModel):
    name: str
    version: str
    purl: str
    source: str
    line: int | None = None
    hashes: tuple[str, ...] = ()
    vulns: tuple[VulnInfo, ...] = ()


class NotAudited(StrictModel):
    name: str | None
    version: str | None = None
    source: str
    line: int | None = None
    reason: str


class AuditDetails(StrictModel):
    """The check's details: every dependency, its vulnerabilities, and what could not be audited."""

    service: str
    files: tuple[str, ...] = ()
    dependencies: tuple[AuditedDependency, ...] = ()
    not_audited: tuple[NotAudited, ...] = ()
    pip_audit_version: str | None = None


def purl_of(name: str, version: str) -> str:
    return f"pkg:pypi/{quote(name, safe='')}@{quote(version, safe='.+!')}"


# --- the vulnerability source -----------------------------------------------------------------


class Source(StrictModel):
    """Where vulnerabilities come from: pip-audit's service and the OSV API used for severities."""

    service: str  # "osv" | "pypi"
    osv_base: str  # base URL of an OSV-compatible API, without /v1/...
    custom: bool  # a self-hosted endpoint named in the policy

    @property
    def query_url(self) -> str:
        return self.osv_base + "/v1/query"

    def describe(self) -> str:
        if self.custom:
            return f"osv ({self.osv_base})"
        return "pypi (severities from OSV)" if self.service == "pypi" else f"osv ({self.osv_base})"


def osv_base(url: str) -> str:
    """Accept the API's base URL or its /v1/query URL (what pip-audit's --osv-url takes)."""
    base = url.strip().rstrip("/")
    for suffix in ("/v1/query", "/v1"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
    return base


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def pip_audit_version() -> str:
    need_installed("pip_audit", "the dependency audit")
    try:
        from importlib.metadata import version

        return version("pip-audit")
    except Exception:
        raise MissingExtraError("sbom", "pip_audit", "the dependency audit") from None


def _layers(pins: list[Pin]) -> list[list[Pin]]:
    """Split pins so no package appears twice in one run (pip-audit refuses duplicates)."""
    layers: list[list[Pin]] = []
    for pin in pins:
        for layer in layers:
            if all(p.name != pin.name for p in layer):
                layer.append(pin)
                break
        else:
            layers.append([pin])
    return layers


def _child_env(source: Source) -> dict[str, str]:
    # An allowlist: no secret of the job reaches pip-audit, and none of its PIP_AUDIT_* defaults
    # (the gate's arguments must be the whole story).
    env = child_env(network=True, extra={"PYTHONDONTWRITEBYTECODE": "1"})
    if source.custom and _is_loopback(source.osv_base):
        host = urlsplit(source.osv_base).hostname or "127.0.0.1"
        for key in ("NO_PROXY", "no_proxy"):
            env[key] = ",".join(x for x in (env.get(key, ""), host) if x)
    return env


def explain_failure(stderr: str, source: Source, timeout_s: int) -> str:
    """One line saying why pip-audit produced no result, from its traceback or message."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip() and not ln.startswith("WARNING:")]
    last = lines[-1] if lines else ""
    where = source.osv_base if source.service == "osv" else "PyPI"
    text = stderr
    if "Connection refused" in text or "Failed to establish a new connection" in text:
        why = f"cannot connect to the vulnerability service at {where} (connection refused)"
    elif any(
        m in text
        for m in ("NameResolutionError", "Name or service not known", "Temporary failure in name resolution")
    ):
        why = f"cannot resolve the vulnerability service's host ({where})"
    elif "ReadTimeout" in text or "timed out" in text.lower() or "ConnectTimeout" in text:
        why = f"the vulnerability service at {where} did not answer within {timeout_s} s"
    elif "JSONDecodeError" in text:
        why = f"the vulnerability service at {where} answered with something that is not JSON"
    elif "ServiceError" in text or "HTTPError" in text:
        why = f"the vulnerability service at {where} answered with an HTTP error"
    elif "_service/osv.py" in text or "_service/pypi.py" in text:
        why = f"the vulnerability service at {where} answered with JSON that is not an OSV response"
    elif "ConnectionError" in text or "connection" in last.lower():
        why = f"lost the connection to the vulnerability service at {where}"
    else:
        why = "pip-audit failed"
    if last:
        why += f"; pip-audit said: {last[:300]}"
    return why


def run_pip_audit(
    pins: list[Pin], source: Source, *, timeout_s: int, deadline_s: float, workdir: Path | None
) -> list[PipAuditDependency]:
    """Audit exact pins; raises CheckError when pip-audit gives no usable answer."""
    pip_audit_version()
    results: list[PipAuditDependency] = []
    with tempfile.TemporaryDirectory(prefix="gate-deps-", dir=workdir) as tmp:
        for i, layer in enumerate(_layers(pins)):
            req = Path(tmp) / f"requirements-{i}.txt"
            out = Path(tmp) / f"audit-{i}.json"
            req.write_text("".join(f"{p.name}=={p.version}\n" for p in layer), "utf-8")
            cmd = [
                sys.executable,
                "-m",
                "pip_audit",
                "-r",
                str(req),
                "--no-deps",
                "--disable-pip",
                "-f",
                "json",
                "-o",
                str(out),
                "--desc",
                "on",
                "--aliases",
                "on",
                "--progress-spinner",
                "off",
                "--cache-dir",
                str(Path(tmp) / "cache"),
                "--timeout",
                str(timeout_s),
                "-s",
                source.service,
            ]
            if source.service == "osv":
                cmd += ["--osv-url", source.query_url]
            try:
                proc = subprocess.run(
                    cmd,
                    capture_output=True,
                    text=True,
                    timeout=deadline_s,
                    env=_child_env(source),
                    cwd=tmp,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise CheckError(
                    f"pip-audit did not finish within {deadline_s:g} s ({len(layer)} dependencies)",
                    hint="Check that the vulnerability service answers, or raise `audit_timeout_s`.",
                ) from None
            except OSError as exc:
                raise CheckError(f"cannot run pip-audit: {exc.strerror or exc}") from None
            results += _read_output(out, proc, source, timeout_s)
    return results


def _read_output(
    out: Path, proc: subprocess.CompletedProcess[str], source: Source, timeout_s: int
) -> list[PipAuditDependency]:
    raw = out.read_bytes() if out.is_file() else b""
    if not raw.strip():
        if proc.returncode != 0:
            raise CheckError(
                explain_failure(proc.stderr, source, timeout_s),
                hint="The audit did not complete, so the release cannot be judged (fail closed).",
            )
        raise CheckError("pip-audit exited 0 but wrote no result; the audit cannot be trusted")
    if len(raw) > MAX_OUTPUT_BYTES:
        raise CheckError(f"pip-audit's output is over {MAX_OUTPUT_BYTES} bytes")
    try:
        data = json.loads(raw)
        parsed = PipAuditOutput.model_validate(data)
    except (ValueError, RecursionError, ValidationError) as exc:
        first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise CheckError(f"pip-audit's JSON output is not in the expected shape: {first}") from None
    return list(parsed.dependencies)


# --- severities from OSV records --------------------------------------------------------------


class OsvClient:
    """GET /v1/vulns/ID from an OSV-compatible API; 404 means "no such record"."""

    def __init__(self, base: str, timeout_s: float) -> None:
        self.base = base
        self.timeout_s = timeout_s
        handlers: list[urllib.request.BaseHandler] = []
        if _is_loopback(base):
            handlers.append(urllib.request.ProxyHandler({}))
        self._opener = urllib.request.build_opener(*handlers)

    def _fetch(self, url: str, body: bytes | None = None) -> bytes | None:
        """The answer's bytes; None for 404; CheckError for anything else that is not 200."""
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=body, headers=headers)  # noqa: S310 - http(s) only
        try:
            with self._opener.open(req, timeout=self.timeout_s) as resp:
                data: bytes = resp.read(MAX_RESPONSE_BYTES + 1)
        except urllib.error.HTTPError as exc:
            if exc.code == 404 and body is None:
                return None
            raise CheckError(f"{url}: the OSV service answered HTTP {exc.code}") from None
        except TimeoutError:
            raise CheckError(f"{url}: no answer within {self.timeout_s:g} s") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise CheckError(f"{url}: cannot reach the OSV service ({reason})") from None
        if len(data) > MAX_RESPONSE_BYTES:
            raise CheckError(f"{url}: answer over {MAX_RESPONSE_BYTES} bytes")
        return data

    def get(self, vuln_id: str) -> OsvRecord | None:
        url = f"{self.base}/v1/vulns/{quote(vuln_id, safe='')}"
        body = self._fetch(url)
        if body is None:
            return None
        try:
            record = OsvRecord.model_validate(json.loads(body))
        except (ValueError, RecursionError, ValidationError):
            raise CheckError(f"{url}: the answer is not an OSV record") from None
        if record.id != vuln_id:
            return None  # an alias answered with another record: used through its own id
        return record

    def query(self, name: str, version: str) -> OsvQueryAnswer:
        """POST /v1/query for one PyPI pin, validated (see OsvQueryAnswer)."""
        url = f"{self.base}/v1/query"
        ask = {"package": {"name": name, "ecosystem": "PyPI"}, "version": version}
        body = self._fetch(url, json.dumps(ask).encode())
        return parse_query_answer(body or b"", f"{url} ({name}=={version})")


def _qualitative(record: OsvRecord) -> str | None:
    ratings = []
    for holder in (
        record.database_specific,
        *(a.ecosystem_specific for a in record.affected),
        *(a.database_specific for a in record.affected),
    ):
        if isinstance(holder, dict) and isinstance(holder.get("severity"), str):
            ratings.append(holder["severity"].upper())
    known = [r for r in ratings if r in QUALITATIVE_SCORE]
    return max(known, key=lambda r: QUALITATIVE_SCORE[r]) if known else None


def score_vuln(records: Iterable[OsvRecord]) -> tuple[float | None, str | None, str]:
    """The worst CVSS base score (v2, v3 or v4) across a vulnerability's records, else a qualitative
    rating.

    The worst, not the newest version's: records from several databases (and several CVSS
    versions) may disagree, and the gate reads the most severe of them.
    """
    best: tuple[float, str | None, str] | None = None
    qualitative: tuple[float, str] | None = None
    for rec in records:
        for sev in rec.severity:
            if sev.type not in OSV_TYPES:
                continue  # e.g. Ubuntu's own ratings: not a CVSS vector
            try:
                s = base_score(sev.score, sev.type)
            except CvssError:
                continue
            if best is None or s.score > best[0]:
                best = (s.score, s.vector, f"{sev.type} of {rec.id}")
        q = _qualitative(rec)
        if q and (qualitative is None or QUALITATIVE_SCORE[q] > qualitative[0]):
            qualitative = (QUALITATIVE_SCORE[q], f"{q} rating of {rec.id} (no CVSS vector)")
    if best is not None:
        return best
    if qualitative is not None:
        return qualitative[0], None, qualitative[1]
    return None, None, "none"


def severities(
    vulns: list[PipAuditVuln], client: OsvClient
) -> dict[str, tuple[float | None, Severity | None, str | None, str]]:
    """For each vulnerability id: (score, severity, vector, source of the score)."""
    ids = sorted({x for v in vulns for x in (v.id, *v.aliases)})
    records: dict[str, OsvRecord | None] = {}
    if ids:
        with ThreadPoolExecutor(max_workers=min(LOOKUP_WORKERS, len(ids))) as pool:
            for vid, rec in zip(ids, pool.map(client.get, ids), strict=True):
                records[vid] = rec
    out: dict[str, tuple[float | None, Severity | None, str | None, str]] = {}
    for v in vulns:
        found = [r for r in (records.get(x) for x in (v.id, *v.aliases)) if r is not None]
        score, vector, why = score_vuln(found)
        out[v.id] = (score, severity_of(score) if score is not None else None, vector, why)
    return out


def vuln_info(v: PipAuditVuln, scored: tuple[float | None, Severity | None, str | None, str]) -> VulnInfo:
    score, severity, vector, why = scored
    desc = " ".join((v.description or "").split())
    if len(desc) > DESCRIPTION_CHARS:
        desc = desc[: DESCRIPTION_CHARS - 3] + "..."
    return VulnInfo(
        id=v.id,
        aliases=tuple(sorted(set(v.aliases) - {v.id})),
        fix_versions=v.fix_versions,
        description=desc,
        score=score,
        severity=severity,
        vector=vector,
        severity_source=why,
    )
