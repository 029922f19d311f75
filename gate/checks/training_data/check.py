"""The `training-data` check: every declared dataset verified and analysed once, into findings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gate.checks.interface import CheckContext, CheckOutcome
from gate.checks.training_data.datasets import dataset_files, verify_dataset_digests
from gate.checks.training_data.findings import TrainingDataFindings
from gate.checks.training_data.rules import CHECK
from gate.checks.training_data.sharding import Sharding
from gate.datacheck.config import TrainingDataConfig
from gate.datacheck.sidecar import RowSink
from gate.inventory import DigestRequest
from gate.models.finding import Finding
from gate.models.manifest import Manifest
from gate.progress import Steps
from gate.wording import count

if TYPE_CHECKING:  # the analysis pulls in numpy: imported when the check runs, not when it is listed
    from gate.datacheck.analyze import DatasetResult


def _rows_heard(
    ctx: CheckContext[Any], index: int, with_path: list[tuple[int, Any]]
) -> Callable[[int], None]:
    """Rows read so far, told to whoever watches the run; a dataset by its position, never by
    its name (release.yaml's words are not echoed into logs)."""
    k = 1 + [i for i, _ in with_path].index(index)
    unit = f"rows read (dataset {k} of {len(with_path)})"
    return lambda n: ctx.progress(Steps(CHECK, unit, n))


class TrainingDataCheck(TrainingDataFindings):
    title = "Training data"
    description = (
        "Datasets declared in release.yaml match their digests and show no signs of poisoning: backdoor "
        "triggers, injected instructions, hidden text, duplicate floods, label conflicts, secrets, personal "
        "data, or distribution shift from the reference dataset."
    )

    def digest_requests(
        self, manifest: Manifest, root: Path, config: TrainingDataConfig
    ) -> list[DigestRequest]:
        algs = {d.digest.split(":", 1)[0] for d in manifest.datasets if d.path and d.digest}
        return [DigestRequest(algorithm=a) for a in sorted(algs - {"sha256"})]

    def run(self, ctx: CheckContext[TrainingDataConfig]) -> CheckOutcome:
        from gate.datacheck.analyze import analyse

        cfg = ctx.config
        release = ctx.release
        with_path = [(i, d) for i, d in enumerate(ctx.manifest.datasets) if d.path]
        if not with_path:
            n = len(ctx.manifest.datasets)
            why = (
                "no datasets declared"
                if n == 0
                else f"none of the {n} declared datasets has a path in the release"
            )
            return CheckOutcome(summary=why, skipped=True, details={"datasets": n})
        findings: list[Finding] = []
        lines = {d.name: release.line_of(f"datasets[{i}].digest") for i, d in with_path}
        declared = {d.name: d.digest for _, d in with_path if d.digest}
        findings += verify_dataset_digests(release, declared, "release.yaml", line_of=lines)
        details: dict[str, Any] = {"datasets": {}}
        if ctx.manifest.provenance:
            # Hook: once provenance subjects are parsed, call verify_dataset_digests(release, digests, path).
            details["provenance"] = (
                "dataset digests not compared with the provenance (its dataset subjects are not parsed yet)"
            )
        profiles: dict[str, DatasetResult] = {}
        results: dict[str, DatasetResult] = {}
        sink = RowSink(ctx.options.report_dir, max_row_bytes=cfg.max_row_bytes, link=ctx.options.sidecar_link)
        sharding = Sharding.of(ctx, cfg, with_path)
        for i, ds in with_path:
            assert ds.path is not None
            if not ds.digest and cfg.require_digest:
                findings.append(
                    self.finding(
                        "dataset-digest-missing",
                        f"Dataset '{ds.name}' ({ds.path}) has no digest in release.yaml",
                        path="release.yaml",
                        line=release.line_of(f"datasets[{i}].path"),
                        key=ds.name,
                        detail=ds.name,
                    )
                )
            if ctx.manifest.model.classifier is not None and ds.role == "evaluation":
                # Numbers for the classifier, not text: the classifier-robustness check reads them.
                details["datasets"][ds.name] = {"role": ds.role, "analysed": False}
                continue
            files, problems = dataset_files(release, ds)
            for rel, reason in problems:
                findings.append(self._unreadable(ds, rel, reason, None))
            if not files:
                continue
            for f in files:
                sink.register(f.rel, f.path, f.fmt)
            if sharding is not None:
                res_or_none = sharding.dataset(ds, files)
                if res_or_none is None:  # a shard: recorded for the merge, judged there
                    continue
                res = res_or_none
            else:
                res = analyse(
                    files, cfg, profile_only=ds.role == "reference", on_rows=_rows_heard(ctx, i, with_path)
                )
            for u in res.unreadable:
                findings.append(self._unreadable(ds, u.file, u.reason, u.row))
            (profiles if ds.role == "reference" else results)[ds.name] = res
            details["datasets"][ds.name] = self._details(ds, files, res)
            if ds.role == "reference":
                continue
            findings += self._malformed(ds, res, cfg)
            findings += self._triggers(ds, res, files, sink)
            findings += self._injection(ds, res, files, sink)
            findings += self._duplicates(ds, res, cfg, files, sink)
            findings += self._secrets(ds, res, files, sink)
        for name, res in results.items():
            ds = next(d for _, d in with_path if d.name == name)
            for ref_name, ref in profiles.items():
                findings += self._shift(ds, res, ref_name, ref, cfg)
        if sharding is not None and sharding.shard is not None:
            return sharding.finish(findings, details)
        rows = sum(r.rows for r in (*results.values(), *profiles.values()))
        summary = f"{len(with_path)} dataset(s), {rows:,} rows; " + (
            count(len(findings), "finding") if findings else "no poisoning indicators"
        )
        if sharding is not None:
            summary = f"merged {sharding.n} shard(s): " + summary
        artifacts = sink.write()
        if artifacts:
            details["rows_file"] = sink.rows_file
        elif ctx.options.rows_not_written:
            details["rows_file_not_written"] = ctx.options.rows_not_written
        return CheckOutcome(findings=findings, summary=summary, details=details, artifacts=artifacts)
