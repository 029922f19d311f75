"""The check: it reads its inputs, keeps the execution boundary, and runs the model (or the cache).

The boundary, in order: the engine runs this check only after model-files passed in the same
run (`runs_after`); the check refuses any file model-files reported on, a graph outside what
`gate.robustness.graph` allows, and a missing network namespace where the policy requires one;
only then are the verified bytes staged and the child told to run. `prepare` may start that
child earlier, so that its libraries load while the other checks run: it stages nothing and the
child reads nothing of the release until `run` passes all of the above.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from gate.checks.classifier_robustness.config import ClassifierRobustnessConfig
from gate.checks.classifier_robustness.inputs import Inputs, Plan, gather, plan
from gate.checks.classifier_robustness.judge import judge
from gate.checks.classifier_robustness.rules import CHECK, RULES
from gate.checks.interface import Check, CheckContext, CheckOutcome
from gate.errors import CheckError, GateError
from gate.models.manifest import Manifest, ModelFormat
from gate.release import Release

LIBRARIES = ("numpy", "onnx", "art", "onnxruntime", "torch")


@dataclass
class Started:
    """What `prepare` read, and the child it started (none when the cache already holds the result)."""

    inputs: Inputs
    child: Any = None  # gate.robustness.sandbox.Child

    def close(self) -> None:
        if self.child is not None:
            self.child.close()


class ClassifierRobustnessCheck(Check[ClassifierRobustnessConfig]):
    id = CHECK
    title = "Classifier robustness"
    description = (
        "Evasion attacks (FGSM, PGD, Square via the Adversarial Robustness Toolbox) on the release's ONNX "
        "classifier and evaluation set, run in a sandboxed child after model-files passed; clean and "
        "robust accuracy per threat model must meet the tier's minimums."
    )
    rules = RULES
    runs_after = ("model-files",)

    def __init__(self) -> None:
        self._inputs: Inputs | None = None  # read by preflight, reused by prepare

    def applies(self, manifest: Manifest) -> bool:
        return manifest.model.classifier is not None

    def preflight(self, release: Release, config: Any) -> None:
        """Bad input ends the run with exit 2: an evaluation set or declared shape that does not fit."""
        from gate.extras import installed
        from gate.robustness.graph import NotRunnable

        m = release.manifest
        clf = m.model.classifier
        if clf is None or m.model.format is not ModelFormat.ONNX:
            return
        if not (installed("numpy") and installed("onnx")):
            return  # run() says which extra is missing
        try:
            self._inputs = gather(release, clf)
        except (CheckError, NotRunnable):
            return  # reported by run()

    def prepare(self, ctx: CheckContext[ClassifierRobustnessConfig]) -> Started | None:
        """Start the child early (it loads its libraries and waits), unless the cache has the result."""
        from gate.extras import installed

        clf = ctx.manifest.model.classifier
        inputs, self._inputs = self._inputs, None
        if clf is None or inputs is None or not all(installed(m) for m in LIBRARIES):
            return None
        started = Started(inputs)
        try:
            if _cached(ctx, plan(ctx.release, ctx.config, clf, inputs)) is None:
                started.child = _start(ctx)
        except (GateError, OSError):
            pass  # nothing started early: run() meets the same problem and reports it as the check's
        return started

    def run(self, ctx: CheckContext[ClassifierRobustnessConfig]) -> CheckOutcome:
        cfg = ctx.config
        m: Manifest = ctx.manifest
        clf = m.model.classifier
        if clf is None:
            return CheckOutcome(
                skipped=True, summary="release.yaml declares no classifier (model.classifier)"
            )
        if m.model.format is not ModelFormat.ONNX:
            return _not_run(ctx, f"only ONNX classifiers are run (model.format is {m.model.format.value})")
        from gate.extras import need_installed, needs

        with needs("robustness", "the classifier-robustness check"):
            import numpy  # noqa: F401

            from gate.onnx_proto import messages

            messages()
            for mod in ("art", "onnxruntime", "torch"):
                need_installed(mod, "the classifier-robustness check")
        from gate.robustness.graph import NotRunnable

        started: Started | None = ctx.prepared
        reported = _reported_files(ctx)
        try:
            inputs = started.inputs if started is not None else gather(ctx.release, clf)
        except NotRunnable as exc:
            return _not_run(ctx, str(exc))
        touched = [p for p in (inputs.rel, *inputs.external, inputs.evalset.path) if p in reported]
        if touched:
            return _not_run(
                ctx,
                f"not run: model-files reported {', '.join(f'{p} ({reported[p]})' for p in touched)[:300]}",
            )
        from gate.robustness.sandbox import network_namespace

        if cfg.require_network_namespace and not network_namespace():
            raise CheckError(
                "the policy requires a network namespace for the model run; `unshare --net` is not available",
                hint="Run where unprivileged user namespaces are enabled, or drop require_network_namespace.",
            )
        p = plan(ctx.release, cfg, clf, inputs)
        result, cached = _measure(ctx, inputs, p, started.child if started is not None else None)
        return judge(
            result,
            cfg,
            clf,
            inputs.evalset,
            p.samples,
            inputs.kind,
            inputs.rel,
            cached=cached,
            line=ctx.release.line_of("model.classifier"),
        )


def _not_run(ctx: CheckContext[ClassifierRobustnessConfig], reason: str) -> CheckOutcome:
    if ctx.required:
        raise CheckError(reason, hint="The policy requires this check: ship an ONNX classifier it can run.")
    return CheckOutcome(skipped=True, summary=reason)


def _reported_files(ctx: CheckContext[ClassifierRobustnessConfig]) -> dict[str, str]:
    """Files the model-files check reported on in this run: never executed, whatever the severity."""
    earlier = ctx.earlier.get("model-files")
    out: dict[str, str] = {}
    for f in earlier.findings if earlier is not None else ():
        if f.location.path and f.location.path not in out:
            out[f.location.path] = f.rule.name
    return out


# --- running (or the cache) ---------------------------------------------------------------------


def _cache(ctx: CheckContext[ClassifierRobustnessConfig]) -> Any:
    from gate.redteam.cache import ResultCache
    from gate.robustness.models import RunResult

    cfg = ctx.config
    root = ctx.options.cache.directory(
        ctx.release.root,
        check=CHECK,
        enabled=cfg.cache,
        configured=cfg.cache_dir,
        kind="robustness",
        subdir="robustness",
    )
    return ResultCache(root, RunResult)


def _cached(ctx: CheckContext[ClassifierRobustnessConfig], p: Plan) -> Any:
    hit = _cache(ctx).get(p.key)
    return hit if hit is not None and len(hit.clean) == p.samples else None


def _start(ctx: CheckContext[ClassifierRobustnessConfig]) -> Any:
    from gate.robustness.sandbox import Child, Limits

    cfg = ctx.config
    limits = Limits(memory_mb=cfg.memory_mb, cpu_s=int(cfg.timeout_s) + 5, timeout_s=cfg.timeout_s)
    return Child(ctx.options.workdir, limits)


def _measure(
    ctx: CheckContext[ClassifierRobustnessConfig], inputs: Inputs, p: Plan, child: Any
) -> tuple[Any, bool]:
    import numpy as np

    from gate.robustness import sandbox

    hit = _cached(ctx, p)
    if hit is not None:
        return hit, True
    inv = ctx.release.inventory.by_path()
    base = PurePosixPath(inputs.rel).parent
    if child is not None and child.proc.poll() is not None:
        # It stopped waiting (the earlier checks took longer than it waits, or it failed to start):
        # a fresh one, started now, gets the job.
        child.close()
        child = None
    with child if child is not None else _start(ctx) as c:
        try:
            # The bytes judged (hashed to the inventory's digest when they were read), staged only now.
            (c.dir / "model" / p.job.model_file).write_bytes(inputs.data)
            for ext in inputs.external:
                target = c.dir / "model" / PurePosixPath(ext).relative_to(base)
                target.parent.mkdir(parents=True, exist_ok=True)
                sha = inv[ext].sha256
                assert sha is not None
                sandbox.copy_verified(ctx.release.path(ext), target, sha)
        except sandbox.Changed as exc:
            raise CheckError(str(exc), hint="Check a release directory nothing else writes to.") from None
        np.save(c.dir / "x.npy", inputs.evalset.x[: p.samples], allow_pickle=False)
        np.save(c.dir / "y.npy", inputs.evalset.y[: p.samples], allow_pickle=False)
        result = sandbox.run_child(c, p.job)
    _cache(ctx).put(p.key, result)
    return result, False
