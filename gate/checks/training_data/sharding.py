"""`--shard I/N` and the merge of all shards' states, for the `training-data` check."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from gate.checks.interface import CheckContext, CheckOutcome
from gate.checks.training_data.datasets import dataset_files
from gate.datacheck.config import TrainingDataConfig
from gate.models.finding import Finding
from gate.models.manifest import Dataset

if TYPE_CHECKING:  # the analysis pulls in numpy: imported when the check runs, not when it is listed
    from gate.datacheck.analyze import DataFile, DatasetResult


class Sharding:
    """`--shard I/N` (record this shard's rows into a state file) or a merge of the states of all
    shards (`model-gate merge`): see gate.datacheck.shard."""

    def __init__(
        self,
        ctx: CheckContext,
        cfg: TrainingDataConfig,
        infos: dict[str, list[Any]],
        shard: tuple[int, int] | None,
        states: list[Any] | None,
    ) -> None:
        from gate.datacheck.shard import Fetcher, config_digest, split

        self.ctx, self.cfg, self.infos = ctx, cfg, infos
        self.shard, self.states = shard, states
        self.n = shard[1] if shard else len(states or [])
        self.datasets: list[Any] = []
        self.spans = dict(zip(infos, split(list(infos.values()), *shard), strict=True)) if shard else {}
        self.config = config_digest(cfg)
        paths: dict[str, tuple[Path, str, str]] = {}
        for fs in infos.values():
            for f in fs:
                paths[f.rel] = (ctx.release.path(f.rel), f.fmt, f.sha256)
        self.fetch = Fetcher(paths, cfg)

    @classmethod
    def of(
        cls, ctx: CheckContext, cfg: TrainingDataConfig, with_path: list[tuple[int, Dataset]]
    ) -> Sharding | None:
        from gate.datacheck.shard import FileInfo

        shard = ctx.options.data_shard
        states = list(ctx.options.data_states) if ctx.options.data_states is not None else None
        if shard is None and states is None:
            return None
        from gate.extras import needs

        with needs("data", "training-data shards (their states are NumPy arrays)"):
            import numpy  # noqa: F401
        infos: dict[str, list[FileInfo]] = {}
        by_path = ctx.release.inventory.by_path()
        for _, ds in with_path:
            files, _ = dataset_files(ctx.release, ds)
            infos[ds.name] = [
                FileInfo(f.rel, f.fmt, by_path[f.rel].size, by_path[f.rel].sha256 or "") for f in files
            ]
        if states is not None:
            from gate.errors import CheckError

            first = states[0]
            have = {d.name: d.files for d in first.datasets}
            want = {k: v for k, v in infos.items() if v}
            if have != want:
                raise CheckError(
                    "the shard states were not recorded from this release's datasets "
                    "(names, files, sizes or digests differ)"
                )
            if first.config != _config_digest(cfg):
                raise CheckError("the shards ran with other training-data settings than this policy's")
        return cls(ctx, cfg, infos, shard, states)

    def dataset(self, ds: Dataset, files: list[DataFile]) -> DatasetResult | None:
        from gate.datacheck.analyze import analyse_shard, merge_shards
        from gate.datacheck.shard import DatasetState, Recorder, injection_json, secrets_json

        reference = ds.role == "reference"
        if self.states is not None:
            parts = [
                d
                for s in sorted(self.states, key=lambda s: s.shard[0])
                for d in s.datasets
                if d.name == ds.name
            ]
            return merge_shards(parts, self.cfg, self.fetch, reference)
        spans = self.spans[ds.name]
        rec = Recorder(self.infos[ds.name])
        res = analyse_shard(files, spans, self.cfg, rec, reference)
        header = {
            "rows": res.rows,
            "labelled": res.kind == "labelled",
            "generative": res.kind == "generative",
            "bad": {
                rel: {"limit": b.limit, "count": b.count, "examples": [list(x) for x in b.examples]}
                for rel, b in res.bad.items()
            },
            "unreadable": [[u.file, u.reason, u.row] for u in res.unreadable],
            "injection": injection_json(res.injection) if res.injection is not None else None,
            "secrets": secrets_json(res.secrets) if res.secrets is not None else None,
            "label_counts": dict(res.profile.labels),
            "lengths": res.profile.lengths,
            **rec.tables(),
        }
        self.datasets.append(DatasetState(ds.name, self.infos[ds.name], spans, header, recorded=rec.arrays()))
        return None

    def finish(self, findings: list[Finding], details: dict[str, Any]) -> CheckOutcome:
        from gate.datacheck.shard import ShardState, write_state
        from gate.errors import CheckError

        assert self.shard is not None
        directory = self.ctx.options.report_dir
        if directory is None:
            raise CheckError("a training-data shard needs a directory for its state (--rows-dir or --output)")
        i, n = self.shard
        path = directory / f"training-data-shard-{i}-of-{n}.npz"
        write_state(path, ShardState(self.shard, self.config, self.datasets))
        rows = sum(int(d.header["rows"]) for d in self.datasets)
        details["shard"] = [i, n]
        details["state_file"] = path.name
        return CheckOutcome(
            findings=findings,
            summary=f"shard {i}/{n}: {rows:,} rows of {len(self.datasets)} dataset(s) recorded; "
            "judged by `model-gate merge`",
            details=details,
            artifacts={"training-data-state": str(path)},
        )


def _config_digest(cfg: TrainingDataConfig) -> str:
    from gate.datacheck.shard import config_digest

    return config_digest(cfg)
