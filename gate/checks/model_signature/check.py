"""Check `model-signature`: every model file is exactly what a trusted signer signed.

Reads OpenSSF model-signing signatures (a Sigstore bundle around a DSSE-signed
in-toto Statement whose predicate lists every file, or every shard of every
file, with its digest). The signature is verified first (see
`gate.signing`); only then is the signed file list compared with the
release inventory, so the model's bytes are read once for the whole gate run:
digests the inventory does not compute by default (blake2b, blake3, sharded
digests) are requested through `digest_requests` and computed in the same
single pass.

model-signing's own verifier is not used on purpose: it re-reads the model,
falls back to the web CAs for certificates without checking expiry or
identity, and silently honours the signer's `ignore_paths`.
"""

from __future__ import annotations

import math
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

from pydantic import Field, ValidationError

from gate.checks.interface import Check, CheckContext, CheckOutcome
from gate.checks.model_signature.rules import CHECK, RULES, SIGNATURE_PROBLEMS
from gate.checks.release_integrity import CODE_SUFFIXES, HF_CONFIG_NAMES
from gate.errors import CheckError
from gate.inventory import DigestRequest, Entry
from gate.models.finding import Finding, Severity
from gate.models.manifest import Manifest
from gate.models.policy import Stricter
from gate.signing.document import MAX_DOCUMENT_BYTES, unverified_statement, verify_document
from gate.signing.dsse import Statement
from gate.signing.model_format import (
    GIT_PATHS,
    MAX_SHARDS,
    PREDICATE_V02,
    PREDICATE_V1,
    ModelFiles,
    Serialization,
    SignedManifest,
    actual_items,
    digest_requests,
    item_key,
    model_files,
    model_scope,
    rel_in_model,
    root_digest,
    serialization_of,
    split_shard,
    under,
)
from gate.signing.trust import (
    Problem,
    TrustSettings,
    VerifyContext,
    only_untrusted,
    problem_finding,
)
from gate.wording import count

MAX_FINDINGS_PER_RULE = 50


class ModelSignatureConfig(TrustSettings):
    allowed_ignore_paths: Annotated[tuple[str, ...], Stricter.INTERSECTION] = Field(
        GIT_PATHS,
        description="Paths (relative to the model directory) that may stay unsigned when the "
        "signature ignores them. Git metadata by default; never code, config or tokenizers.",
    )


def sensitive_kind(name: str) -> str | None:
    """Why a file name counts as code, config, tokenizer or template, or None."""
    p = PurePosixPath(name)
    low = p.name.lower()
    suffix = p.suffix.lower()
    if suffix in CODE_SUFFIXES:
        return "code"
    if "template" in low or suffix in (".jinja", ".jinja2", ".j2"):
        return "template"
    if any(
        t in low for t in ("tokenizer", "vocab", "merges", "special_tokens", "added_tokens")
    ) or suffix in (
        ".model",
        ".tiktoken",
        ".spm",
    ):
        return "tokenizer"
    if (
        p.name in HF_CONFIG_NAMES
        or "config" in low
        or suffix in (".json", ".yaml", ".yml", ".toml", ".cfg", ".ini")
    ):
        return "config"
    return None


# ---------------------------------------------------------------------------


class ModelSignatureCheck(Check):
    id = CHECK
    title = "Model signature"
    description = (
        "The model directory carries a model-signing signature by a signer the policy trusts "
        "(pinned key, pinned CA, or Sigstore identity), and every file matches it: nothing "
        "modified, added, removed, renamed, ignored or linked."
    )
    rules = RULES
    Config = ModelSignatureConfig

    def digest_requests(self, manifest: Manifest, root: Path, config: Any) -> list[DigestRequest]:
        return digest_requests(manifest, root)

    def run(self, ctx: CheckContext) -> CheckOutcome:
        cfg: ModelSignatureConfig = ctx.config
        m = ctx.manifest
        scope = model_scope(m)
        if not m.signature and not ctx.required:
            # Nothing declared and the tier does not ask for it: nothing to verify.
            return CheckOutcome(skipped=True, summary="no signature declared (not required at this tier)")
        if not m.signature:
            return CheckOutcome(
                findings=[
                    self.finding(
                        "signature-missing",
                        "release.yaml declares no model signature",
                        path="release.yaml",
                        key="undeclared",
                    )
                ],
                summary="no signature declared",
            )
        sig_rel = PurePosixPath(m.signature).as_posix()
        sig_path = ctx.release.path(m.signature)
        entry = ctx.release.inventory.by_path().get(sig_rel)
        if entry is None or entry.kind != "file":
            return CheckOutcome(
                findings=[
                    self.finding(
                        "signature-missing",
                        f"the declared signature '{m.signature}' is not a file in the release",
                        path="release.yaml",
                        line=ctx.release.line_of("signature"),
                        key="absent",
                    )
                ],
                summary="signature file missing",
            )
        try:
            with open(sig_path, "rb") as fh:
                raw = fh.read(MAX_DOCUMENT_BYTES + 1)
        except OSError as exc:
            raise CheckError(f"{sig_rel}: cannot read: {exc.strerror or exc}") from None
        vctx = VerifyContext(
            trust=cfg,
            policy_dir=ctx.policy_dir,
            offline=ctx.offline,
            clock=ctx.clock,
            setting=f"checks.{CHECK}",
        )
        outcome = verify_document(raw, sig_rel, vctx)
        if outcome.statement is None or outcome.signer is None:
            findings = [self._problem_finding(p, sig_rel, ctx.required) for p in outcome.problems]
            claimed = unverified_statement(raw, sig_rel) if only_untrusted(outcome) else None
            if claimed is None:
                return CheckOutcome(
                    findings=findings, summary=findings[0].title if findings else "not verified"
                )
            # Declared evidence is always checked: the files must match what the signature
            # lists, whoever signed it. Trust only decides whether a match counts.
            more, details = self._compare(ctx, cfg, claimed, sig_rel, scope)
            details["trusted"] = False
            findings += more
            return CheckOutcome(
                findings=findings,
                summary=f"signer not trusted; {details.get('files', 0)} files compared with the signature"
                + (f", {len(more)} problems" if more else ", all match"),
                details=details,
            )
        findings, details = self._compare(ctx, cfg, outcome.statement, sig_rel, scope)
        details["trusted"] = True
        details["signer"] = outcome.signer.summary
        details["method"] = outcome.signer.method
        details["signer_details"] = outcome.signer.details
        n = details.get("files", 0)
        summary = (
            f"{n} files match the signature by {outcome.signer.summary}"
            if not findings
            else f"signed by {outcome.signer.summary}; {count(len(findings), 'problem')}"
        )
        return CheckOutcome(findings=findings, summary=summary, details=details)

    # -- findings ------------------------------------------------------------

    def _problem_finding(self, p: Problem, sig_rel: str, required: bool) -> Finding:
        return problem_finding(self.finding, p, SIGNATURE_PROBLEMS, sig_rel, required, "a trusted signature")

    def _compare(
        self, ctx: CheckContext, cfg: ModelSignatureConfig, st: Statement, sig_rel: str, scope: str
    ) -> tuple[list[Finding], dict[str, Any]]:
        findings: list[Finding] = []

        def malformed(msg: str, key: str) -> tuple[list[Finding], dict[str, Any]]:
            return [self.finding("signature-malformed", f"{sig_rel}: {msg}", path=sig_rel, key=key)], {}

        if st.predicateType == PREDICATE_V02:
            return malformed(
                "a model-signing v0.2 signature: it lists no serialization and cannot prove completeness; "
                "re-sign with model-signing 1.x",
                "v0.2",
            )
        if st.predicateType != PREDICATE_V1:
            return malformed(
                f"predicate type '{st.predicateType}' is not a model-signing signature", "predicate"
            )
        if len(st.subject) != 1 or "sha256" not in st.subject[0].digest:
            return malformed("expected one subject with a sha256 root digest", "subject")
        signed_root = st.subject[0].digest["sha256"]
        try:
            ser = serialization_of(st.predicate)
            signed = SignedManifest.model_validate(st.predicate)
        except (ValueError, ValidationError) as exc:
            msg = str(exc).splitlines()[0] if not isinstance(exc, ValidationError) else _validation(exc)
            return malformed(f"unusable signed manifest: {msg}", "manifest")
        names = [r.name for r in signed.resources]
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            return malformed(f"the signed manifest lists '{dup}' twice", "duplicate")
        wrong = [r for r in signed.resources if r.algorithm != ser.algorithm]
        if wrong:
            return malformed(
                f"resource '{wrong[0].name}' has algorithm '{wrong[0].algorithm}', the serialization says "
                f"'{ser.algorithm}'",
                "algorithm",
            )
        listed_root = root_digest(r.digest for r in signed.resources)
        if listed_root != signed_root:
            findings.append(
                self.finding(
                    "root-digest-mismatch",
                    f"{sig_rel}: the signed root digest does not match the signed file list",
                    path=sig_rel,
                    key="listed",
                    evidence={"signed_root": signed_root, "root_of_listed_files": listed_root},
                )
            )
        details: dict[str, Any] = {
            "hash_type": ser.hash_type,
            "serialization": ser.method,
            "shard_size": ser.shard_size,
            "root_digest": f"sha256:{signed_root}",
            "ignore_paths": list(ser.ignore_paths),
        }

        # Which files may stay unsigned: the signature itself, and what both the
        # signature and the policy agree to ignore.
        mf = model_files(ctx.release.inventory, scope, exclude=[sig_rel])
        exempt = {
            rel
            for rel in mf.files
            if any(under(rel, p) for p in ser.ignore_paths)
            and any(under(rel, p) for p in cfg.allowed_ignore_paths)
        }
        findings += self._ignored_sensitive(ser, mf, cfg, sig_rel, scope)
        for e in mf.symlinks:
            findings.append(
                self.finding(
                    "symlink-in-model",
                    f"'{e.path}' is a symbolic link (to '{e.link_target}')",
                    path=e.path,
                    evidence={"target": e.link_target},
                )
            )
        for e in mf.others:
            findings.append(
                self.finding(
                    "model-file-unsigned", f"'{e.path}' is not a regular file", path=e.path, key="special"
                )
            )
        files = {rel: e for rel, e in mf.files.items() if rel not in exempt}
        if ser.method == "shards" and ser.shard_size:
            needed = sum(math.ceil(e.size / ser.shard_size) for e in files.values())
            if needed > MAX_SHARDS:
                findings.append(
                    self.finding(
                        "signature-malformed",
                        f"{sig_rel}: shard size {ser.shard_size} would need {needed} shard digests "
                        f"(more than {MAX_SHARDS}); no real signature lists that many",
                        path=sig_rel,
                        key="shards",
                    )
                )
                return findings, details
        actual = actual_items(files, ser)
        if actual is None:
            raise CheckError(f"{CHECK}: the inventory lacks {ser.algorithm} digests of the model files")
        expected = {r.name: r.digest for r in signed.resources}
        not_files = {rel_in_model(e.path, scope) or e.path: e.kind for e in [*mf.symlinks, *mf.others]}
        findings += self._file_findings(expected, actual, files, ser, scope, not_files)
        if ser.method == "shards":
            for rel, e in sorted(files.items()):
                if e.size == 0 and rel not in _signed_paths(expected, ser):
                    findings.append(
                        self.finding(
                            "model-file-unsigned",
                            f"'{e.path}' is empty: a sharded signature cannot list empty files",
                            path=e.path,
                            key="empty",
                            severity=Severity.LOW,
                        )
                    )
        if not any(
            f.rule.name
            in ("model-file-modified", "model-file-unsigned", "signed-file-missing", "model-file-renamed")
            and f.severity > Severity.LOW
            for f in findings
        ):
            ordered = sorted(actual, key=lambda n: item_key(n, ser.method))
            recomputed = root_digest(actual[n] for n in ordered)
            details["recomputed_root_digest"] = f"sha256:{recomputed}"
            if recomputed != signed_root and listed_root == signed_root:
                findings.append(
                    self.finding(
                        "root-digest-mismatch",
                        f"{sig_rel}: the root digest of the release's files differs from the signed one "
                        "(the signed list is not in model-signing's order)",
                        path=sig_rel,
                        key="recomputed",
                        evidence={"signed_root": signed_root, "recomputed": recomputed},
                    )
                )
        details["files"] = len(files)
        details["unsigned_but_allowed"] = sorted(exempt)
        return _cap(findings), details

    def _ignored_sensitive(
        self, ser: Serialization, mf: ModelFiles, cfg: ModelSignatureConfig, sig_rel: str, scope: str
    ) -> list[Finding]:
        out = []
        sig_in_model = rel_in_model(sig_rel, scope)
        for ig in ser.ignore_paths:
            norm = PurePosixPath(ig).as_posix()
            allowed = {PurePosixPath(x).as_posix() for x in cfg.allowed_ignore_paths}
            if norm in allowed or norm == sig_in_model:
                continue
            kinds = {sensitive_kind(norm)} - {None}
            # A directory (or a name that turns out to hold files) hides whatever is below it.
            kinds |= {sensitive_kind(rel) for rel in mf.files if rel != norm and under(rel, norm)} - {None}
            if kinds:
                out.append(
                    self.finding(
                        "signature-ignores-sensitive-files",
                        f"the signature ignores '{norm}' ({', '.join(sorted(k for k in kinds if k))})",
                        path=sig_rel,
                        key=norm,
                        evidence={"ignore_path": norm, "kinds": sorted(k for k in kinds if k)},
                    )
                )
        return out

    def _file_findings(
        self,
        expected: dict[str, str],
        actual: dict[str, str],
        files: dict[str, Entry],
        ser: Serialization,
        scope: str,
        not_files: dict[str, str],
    ) -> list[Finding]:
        def full(rel: str) -> str:
            return rel if not scope else (scope if rel == "." else f"{scope}/{rel}")

        exp = _group(expected, ser)
        act = _group(actual, ser)
        out: list[Finding] = []
        for rel in sorted(exp.keys() & act.keys(), key=lambda n: item_key(n, "files")):
            if exp[rel] != act[rel]:
                first = next((n for n, d in exp[rel] if (n, d) not in act[rel]), None)
                out.append(
                    self.finding(
                        "model-file-modified",
                        f"'{full(rel)}' differs from the signed file",
                        path=full(rel),
                        evidence={
                            "algorithm": ser.algorithm,
                            "expected": _digests(exp[rel]),
                            "found": _digests(act[rel]),
                            **({"first_differing_item": first} if first and ser.method == "shards" else {}),
                        },
                    )
                )
        missing = sorted(exp.keys() - act.keys(), key=lambda n: item_key(n, "files"))
        added = sorted(act.keys() - exp.keys(), key=lambda n: item_key(n, "files"))
        by_content: dict[tuple[tuple[str, str], ...], list[str]] = {}
        for rel in added:
            by_content.setdefault(_content(act[rel]), []).append(rel)
        renamed: set[str] = set()
        for rel in missing:
            candidates = [a for a in by_content.get(_content(exp[rel]), []) if a not in renamed]
            if candidates:
                new = candidates[0]
                renamed.add(new)
                out.append(
                    self.finding(
                        "model-file-renamed",
                        f"'{full(rel)}' was signed under that name and is now '{full(new)}'",
                        path=full(new),
                        key=rel,
                        evidence={"signed_name": full(rel), "found_name": full(new)},
                    )
                )
            else:
                kind = not_files.get(rel)
                what = (
                    "is signed as a regular file but is now a symbolic link"
                    if kind == "symlink"
                    else "is signed as a regular file but is now a special file"
                    if kind
                    else "is signed but missing from the release"
                )
                out.append(
                    self.finding(
                        "signed-file-missing",
                        f"'{full(rel)}' {what}",
                        path=full(rel),
                        evidence={"algorithm": ser.algorithm, "expected": _digests(exp[rel])},
                    )
                )
        for rel in added:
            if rel in renamed:
                continue
            e = files.get(rel)
            out.append(
                self.finding(
                    "model-file-unsigned",
                    f"'{full(rel)}' is not covered by the signature",
                    path=full(rel),
                    evidence={"sha256": e.sha256 if e else None, "bytes": e.size if e else None},
                )
            )
        return out


def _group(items: dict[str, str], ser: Serialization) -> dict[str, tuple[tuple[str, str], ...]]:
    """Items per file: (item name, digest) in order; one item per file when not sharded."""
    grouped: dict[str, list[tuple[str, str]]] = {}
    for name, d in items.items():
        path = name
        if ser.method == "shards":
            parts = split_shard(name)
            path = parts[0] if parts else name
        grouped.setdefault(path, []).append((name, d))
    return {p: tuple(sorted(v, key=lambda t: item_key(t[0], ser.method))) for p, v in grouped.items()}


def _content(items: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """What identifies a file's content regardless of its name: its digests (and shard offsets)."""
    out = []
    for name, d in items:
        parts = split_shard(name) if ":" in name else None
        out.append((f"{parts[1]}:{parts[2]}" if parts else "", d))
    return tuple(out)


def _digests(items: tuple[tuple[str, str], ...]) -> str | list[str]:
    if len(items) == 1:
        return items[0][1]
    return [f"{n}={d}" for n, d in items[:20]] + ([f"... {len(items) - 20} more"] if len(items) > 20 else [])


def _signed_paths(expected: dict[str, str], ser: Serialization) -> set[str]:
    return set(_group(expected, ser))


def _cap(findings: list[Finding]) -> list[Finding]:
    """At most MAX_FINDINGS_PER_RULE per rule, then one finding saying how many more."""
    out: list[Finding] = []
    counts: dict[str, int] = {}
    extra: dict[str, list[Finding]] = {}
    for f in findings:
        counts[f.rule.name] = counts.get(f.rule.name, 0) + 1
        if counts[f.rule.name] <= MAX_FINDINGS_PER_RULE:
            out.append(f)
        else:
            extra.setdefault(f.rule.name, []).append(f)
    for name, rest in extra.items():
        first = rest[0]
        out.append(
            ModelSignatureCheck.finding(
                name,
                f"... and {len(rest)} more files with the same problem",
                key="more",
                severity=first.severity,
                evidence={"paths": [f.location.path for f in rest[:200]]},
            )
        )
    return out


def _validation(exc: ValidationError) -> str:
    err = exc.errors()[0]
    return f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
