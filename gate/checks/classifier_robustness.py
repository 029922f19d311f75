"""Check `classifier-robustness`: evasion attacks on the release's classifier, judged by policy.

The one check that executes model content, and only inside the boundary `gate.robustness`
draws: an ONNX graph of standard operators, run by onnxruntime in a child process with limits
and no network, after the model-files check passed in the same run (the engine enforces that
through `runs_after`; the check also refuses any file model-files reported on). It measures
clean accuracy on the release's evaluation set, then robust accuracy under each L∞ budget the
policy names: gradient attacks (FGSM, PGD with restarts) where the graph translates to torch,
Square (black-box, with its query budget reported) where it does not. An example counts as
robust only if no attack flips it. Results are cached by model, evaluation set and settings.
"""

from __future__ import annotations

import hashlib
import json
import re
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from gate.checks.interface import Check, CheckContext, CheckOutcome
from gate.errors import CheckError, InputError
from gate.models.base import StrictModel
from gate.models.finding import Finding, Severity, rule_maker
from gate.models.manifest import Classifier, Manifest, ModelFormat
from gate.models.policy import Ordered, Stricter
from gate.release import Release

CHECK = "classifier-robustness"
TECHNIQUE = ("AML.T0015", "AML.T0043")
KEY_VERSION = 1
MAX_MODEL_BYTES = 2 * 1024**3
BUDGET_KEY = re.compile(r"^(linf|feature):(0(\.\d+)?|1(\.0+)?)$")
KIND_OF_TASK = {"image-classification": "linf", "tabular-classification": "feature"}

_rule = rule_maker(CHECK, technique=TECHNIQUE)

RULES = (
    _rule(
        "GATE-CR001",
        "robust-accuracy-below-threshold",
        Severity.HIGH,
        "Under a bounded evasion attack the classifier's accuracy falls below the policy's minimum.",
        "Inputs changed by an amount nobody notices (a few grey levels of an image, a small shift of each "
        "feature) change the model's answer: whoever controls the input chooses the output. Robust "
        "accuracy under the strongest attack run is what an attacker with that budget gets.",
        "linf:0.1: robust accuracy 36% (95% CI 30-43%) under FGSM and PGD, minimum 60% at tier high.",
        "Train with adversarial examples at the budget the policy names (PGD adversarial training), "
        "smooth or bound the inputs, and re-run the check; the reproductions list flipped examples.",
    ),
    _rule(
        "GATE-CR002",
        "robust-accuracy-drop-over-threshold",
        Severity.HIGH,
        "Accuracy under attack falls further below clean accuracy than the policy allows.",
        "A large gap between clean and robust accuracy means the model's decisions rest on features an "
        "attacker can move cheaply, even when the robust accuracy still clears its floor.",
        "feature:0.05: clean 97%, robust 41% (drop 56 points, at most 30).",
        "As for robust-accuracy-below-threshold: adversarial training at the policy's budget.",
    ),
    _rule(
        "GATE-CR003",
        "evaluation-set-too-small",
        Severity.HIGH,
        "Fewer examples were attacked than the policy's minimum for this tier.",
        "A rate measured on a handful of examples says little: ten examples give a 95% interval tens of "
        "points wide, so a small evaluation set could pass any threshold by chance.",
        "12 examples attacked; tier high needs at least 200.",
        "Ship a larger evaluation set (a held-out split the model never trained on) and raise `samples`.",
    ),
    _rule(
        "GATE-CR004",
        "clean-accuracy-below-threshold",
        Severity.HIGH,
        "The classifier's accuracy on its own evaluation set is below the policy's minimum.",
        "Robust accuracy cannot exceed clean accuracy; a model that is wrong without an attack, or an "
        "evaluation set that does not fit the model, makes every other number meaningless.",
        "Clean accuracy 41% on data/eval.csv with a minimum of 90%.",
        "Check that the evaluation set matches the model's input scaling and label order.",
    ),
    _rule(
        "GATE-CR005",
        "black-box-attacks-only",
        Severity.LOW,
        "The classifier was attacked black-box only: gradients were not available.",
        "Black-box attacks with a bounded query budget find fewer adversarial examples than gradient "
        "attacks, so the robust accuracy reported is an upper bound that may overstate robustness.",
        "skl2onnx's TreeEnsembleClassifier attacked with Square (1,000 queries per example).",
        "Export the model with standard operators the gate can differentiate, or raise the query budget.",
    ),
)

Budget = Annotated[float, Field(gt=0, le=1)]


class ClassifierRobustnessConfig(StrictModel):
    image_eps: Annotated[tuple[Budget, ...], Stricter.UNION] = Field(
        (0.1,), description="L∞ budgets for image classifiers, as fractions of the input range."
    )
    tabular_eps: Annotated[tuple[Budget, ...], Stricter.UNION] = Field(
        (0.05,),
        description="Per-feature budgets for tabular classifiers, as fractions of each feature's range.",
    )
    min_robust_accuracy: Annotated[dict[str, Annotated[float, Field(ge=0, le=1)]], Stricter.MAX] = Field(
        default_factory=dict,
        description="Lowest acceptable robust accuracy per threat model, keyed `linf:EPS` (images) or "
        "`feature:EPS` (tabular); a threat model named here is always attacked.",
    )
    max_accuracy_drop: Annotated[float, Stricter.MIN] = Field(
        1.0, ge=0, le=1, description="Largest drop from clean to robust accuracy, per threat model."
    )
    min_clean_accuracy: Annotated[float, Stricter.MAX] = Field(
        0.0, ge=0, le=1, description="Lowest acceptable accuracy on the evaluation set without attack."
    )
    min_samples: Annotated[int, Stricter.MAX] = Field(
        0, ge=0, le=1_000_000, description="Fewest examples that must be attacked."
    )
    samples: Annotated[int, Stricter.MAX] = Field(
        200, ge=1, le=1_000_000, description="Examples attacked: the first N of the evaluation set."
    )
    decide_on: Annotated[Literal["upper", "point", "lower"], Ordered(("upper", "point", "lower"))] = Field(
        "point",
        description="Which end of robust accuracy's 95% Wilson interval is compared with the minimum: "
        "'lower' blocks unless it is above beyond reasonable doubt.",
    )
    attacks: Annotated[tuple[Literal["fgsm", "pgd"], ...], Stricter.UNION] = Field(
        ("fgsm", "pgd"), description="Gradient attacks, run when the graph can be differentiated."
    )
    black_box_attacks: Annotated[tuple[Literal["square"], ...], Stricter.UNION] = Field(
        ("square",), description="Black-box attacks, run when it cannot."
    )
    pgd_steps: Annotated[int, Stricter.MAX] = Field(20, ge=1, le=10_000, description="PGD iterations.")
    pgd_step_fraction: Annotated[float, Stricter.FIXED] = Field(
        0.25, gt=0, le=1, description="PGD step size as a fraction of the budget."
    )
    restarts: Annotated[int, Stricter.MAX] = Field(
        1, ge=1, le=100, description="Random restarts of PGD and Square."
    )
    square_queries: Annotated[int, Stricter.MAX] = Field(
        1000,
        ge=1,
        le=100_000,
        description="Square attack iterations (model queries) per example and restart.",
    )
    seed: Annotated[int, Stricter.FIXED] = Field(
        0, ge=0, le=2**31 - 1, description="Seed of every attack: the same seed gives the same result."
    )
    batch_size: Annotated[int, Stricter.FIXED] = Field(
        256, ge=1, le=100_000, description="Examples per model call and attack batch."
    )
    fidelity_tolerance: Annotated[float, Stricter.MIN] = Field(
        1e-4,
        ge=0,
        le=1,
        description="Largest score difference between the gradient translation and onnxruntime before "
        "gradients are distrusted (black-box attacks instead).",
    )
    memory_mb: Annotated[int, Stricter.MIN] = Field(
        4096, ge=256, le=1_048_576, description="Address-space limit of the process that runs the model."
    )
    timeout_s: Annotated[float, Stricter.MIN] = Field(
        900, gt=0, le=86_400, description="Wall-clock limit of one model run (CPU time is limited alike)."
    )
    require_network_namespace: Annotated[bool, Stricter.ANY_TRUE] = Field(
        False,
        description="Refuse to run the model unless it gets a network namespace of its own (`unshare`); "
        "otherwise audit hooks refuse sockets inside the process.",
    )
    max_reproductions: Annotated[int, Stricter.TUNING] = Field(
        10, ge=0, le=1000, description="Flipped examples listed per threat model."
    )
    cache: Annotated[bool, Stricter.ALL_TRUE] = Field(
        True, description="Reuse results for an unchanged model, evaluation set and settings."
    )
    cache_dir: Annotated[str | None, Stricter.FIXED] = Field(
        None, description="Cache directory; default ~/.cache/model-gate/robustness."
    )

    @field_validator("min_robust_accuracy")
    @classmethod
    def _keys(cls, v: dict[str, float]) -> dict[str, float]:
        for key in v:
            if not BUDGET_KEY.match(key):
                raise ValueError(
                    f"{key[:60]!r}: threat models are named linf:EPS or feature:EPS (EPS in (0, 1])"
                )
            if float(key.partition(":")[2]) <= 0:
                raise ValueError(f"{key}: the budget must be above 0")
        return v

    def budgets(self, kind: str) -> list[float]:
        own = self.image_eps if kind == "linf" else self.tabular_eps
        named = [float(k.partition(":")[2]) for k in self.min_robust_accuracy if k.startswith(kind + ":")]
        return sorted({round(e, 6) for e in (*own, *named)})


def budget_key(kind: str, eps: float) -> str:
    return f"{kind}:{eps:g}"


# --- what will run ------------------------------------------------------------------------------


def classifier_file(release: Release) -> str:
    """The ONNX file to run: declared, or the only .onnx file under model.path."""
    m = release.manifest
    assert m.model.classifier is not None
    if m.model.classifier.file:
        rel = m.model.classifier.file
        field = "model.classifier.file"
    else:
        found = [e.path for e in release.inventory.under(m.model.path) if e.path.lower().endswith(".onnx")]
        if len(found) != 1:
            raise InputError(
                f"release.yaml: model.classifier.file: {len(found)} .onnx files under {m.model.path}; "
                "name the one to run"
            )
        rel, field = found[0], "model.path"
    entry = release.inventory.by_path().get(rel)
    if entry is None or entry.kind != "file" or not entry.sha256:
        line = release.line_of(field)
        where = f"release.yaml:{line}" if line else "release.yaml"
        raise InputError(f"{where}: {field}: {rel} is not a regular file of the release")
    return rel


def _model_bytes(release: Release, rel: str) -> bytes:
    from gate.robustness.sandbox import Changed, read_verified

    entry = release.inventory.by_path()[rel]
    assert entry.sha256 is not None
    try:
        return read_verified(release.path(rel), entry.sha256, MAX_MODEL_BYTES)
    except Changed as exc:
        raise CheckError(f"{rel}: {exc}", hint="Check a release directory nothing else writes to.") from None


def _parse(data: bytes, rel: str) -> Any:
    import onnx
    from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

    try:
        return onnx.load_model_from_string(data)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise InputError(f"{rel}: not an ONNX model: {str(exc)[:120]}") from None


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

    def applies(self, manifest: Manifest) -> bool:
        return manifest.model.classifier is not None

    def preflight(self, release: Release, config: Any) -> None:
        """Bad input ends the run with exit 2: an evaluation set or declared shape that does not fit."""
        from gate.extras import installed

        m = release.manifest
        clf = m.model.classifier
        if clf is None or m.model.format is not ModelFormat.ONNX:
            return
        if not (installed("numpy") and installed("onnx")):
            return  # run() says which extra is missing
        from gate.robustness.evalset import load_eval_set
        from gate.robustness.graph import NotRunnable, inspect

        load_eval_set(release, clf)
        rel = classifier_file(release)
        try:
            data = _model_bytes(release, rel)
        except CheckError:
            return  # reported by run()
        try:
            inspect(_parse(data, rel), model_label=rel, input_shape=clf.input_shape, classes=len(clf.labels))
        except NotRunnable:
            return

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
        from gate.extras import needs

        with needs("robustness", "the classifier-robustness check"):
            import numpy  # noqa: F401
            import onnx  # noqa: F401

            for mod in ("art", "onnxruntime", "torch"):
                from gate.extras import need_installed

                need_installed(mod, "the classifier-robustness check")
        from gate.robustness.evalset import load_eval_set
        from gate.robustness.graph import NotRunnable, inspect

        rel = classifier_file(ctx.release)
        reported = _reported_files(ctx)
        data = _model_bytes(ctx.release, rel)
        try:
            info = inspect(
                _parse(data, rel), model_label=rel, input_shape=clf.input_shape, classes=len(clf.labels)
            )
        except NotRunnable as exc:
            return _not_run(ctx, f"{rel} is not run: {exc}")
        base = PurePosixPath(rel).parent
        external = [(base / loc).as_posix() for loc in info.external]
        inv = ctx.release.inventory.by_path()
        for ext in external:
            e = inv.get(ext)
            if e is None or e.kind != "file":
                return _not_run(
                    ctx, f"{rel} is not run: its external data {ext} is not a regular file of the release"
                )
        evalset = load_eval_set(ctx.release, clf)
        touched = [p for p in (rel, *external, evalset.path) if p in reported]
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
        kind = KIND_OF_TASK[m.model.task or ""]
        result, n, cached = _measure(ctx, cfg, clf, rel, data, external, info, evalset, kind)
        return judge(
            result,
            cfg,
            clf,
            evalset,
            n,
            kind,
            rel,
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


def _versions() -> dict[str, str]:
    out = {}
    for dist in ("adversarial-robustness-toolbox", "onnxruntime", "torch", "numpy"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "absent"
    return out


def _cache_dir(ctx: CheckContext[ClassifierRobustnessConfig], cfg: ClassifierRobustnessConfig) -> Path | None:
    from gate.redteam.cache import default_cache_dir

    # --no-cache and --cache-dir are the run's cache options (shared with the red-team cache).
    opts = ctx.options.redteam
    if opts.no_cache or not cfg.cache:
        return None
    raw = opts.cache_dir or cfg.cache_dir
    root = (Path(raw).expanduser() / "robustness") if raw else default_cache_dir("robustness")
    resolved = root.resolve()
    if resolved.is_relative_to(ctx.release.root.resolve()):
        raise CheckError(
            f"cache directory {root} is inside the release: results would change the release they judge",
            hint="Point the cache directory outside the release directory.",
        )
    return resolved


def _measure(
    ctx: CheckContext[ClassifierRobustnessConfig],
    cfg: ClassifierRobustnessConfig,
    clf: Classifier,
    rel: str,
    data: bytes,
    external: list[str],
    info: Any,
    evalset: Any,
    kind: str,
) -> tuple[Any, int, bool]:
    import numpy as np

    from gate.redteam.cache import ResultCache
    from gate.robustness.models import AttackSpec, Job, RunResult
    from gate.robustness.sandbox import Changed, Limits, copy_verified, job_dir, run_child

    n = min(cfg.samples, len(evalset.y))
    ranges = clf.feature_ranges or [clf.input_range] * clf.size
    specs: list[AttackSpec] = []
    black: list[AttackSpec] = []
    for b, eps in enumerate(cfg.budgets(kind)):
        for a, name in enumerate(cfg.attacks):
            steps = cfg.pgd_steps if name == "pgd" else 1
            restarts = cfg.restarts if name == "pgd" else 1
            seed = cfg.seed * 1000 + b * 10 + a
            specs.append(
                AttackSpec(
                    attack=name,
                    eps=eps,
                    steps=steps,
                    restarts=restarts,
                    step_fraction=cfg.pgd_step_fraction,
                    seed=seed,
                )
            )
        for a, bb_name in enumerate(cfg.black_box_attacks):
            seed = cfg.seed * 1000 + b * 10 + 5 + a
            black.append(
                AttackSpec(
                    attack=bb_name, eps=eps, steps=cfg.square_queries, restarts=cfg.restarts, seed=seed
                )
            )
    job = Job(
        model_file=PurePosixPath(rel).name,
        input_name=info.input_name,
        output_name=info.output_name,
        logits_name=info.logits_name,
        white_box=info.white_box,
        input_shape=clf.input_shape,
        batch_input_rank=info.input_rank,
        classes=len(clf.labels),
        low=[float(lo) for lo, _ in ranges],
        high=[float(hi) for _, hi in ranges],
        attacks=tuple(specs),
        black_box=tuple(black),
        batch_size=cfg.batch_size,
        fidelity_tolerance=cfg.fidelity_tolerance,
    )
    inv = ctx.release.inventory.by_path()
    files = {p: inv[p].sha256 for p in (rel, *external)}
    material = {
        "v": KEY_VERSION,
        "files": {
            PurePosixPath(p).relative_to(PurePosixPath(rel).parent).as_posix(): d
            for p, d in sorted(files.items())
        },
        "eval": evalset.digest,
        "samples": n,
        "job": job.model_dump(mode="json"),
        "versions": _versions(),
    }
    key = hashlib.sha256(json.dumps(material, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    cache = ResultCache(_cache_dir(ctx, cfg), RunResult)
    hit = cache.get(key)
    if hit is not None and len(hit.clean) == n:
        return hit, n, True
    limits = Limits(memory_mb=cfg.memory_mb, cpu_s=int(cfg.timeout_s) + 5, timeout_s=cfg.timeout_s)
    with job_dir(ctx.options.workdir) as d:
        try:
            (d / "model" / job.model_file).write_bytes(data)
            for ext in external:
                target = d / "model" / PurePosixPath(ext).relative_to(PurePosixPath(rel).parent)
                target.parent.mkdir(parents=True, exist_ok=True)
                sha = inv[ext].sha256
                assert sha is not None
                copy_verified(ctx.release.path(ext), target, sha)
        except Changed as exc:
            raise CheckError(str(exc), hint="Check a release directory nothing else writes to.") from None
        np.save(d / "x.npy", evalset.x[:n], allow_pickle=False)
        np.save(d / "y.npy", evalset.y[:n], allow_pickle=False)
        result = run_child(d, job, limits)
    cache.put(key, result)
    return result, n, False


# --- judging ------------------------------------------------------------------------------------


def _pct(x: float) -> str:
    return f"{x * 100:.0f}%" if x >= 0.1 or x == 0 else f"{x * 100:.1f}%"


def judge(
    result: Any,
    cfg: ClassifierRobustnessConfig,
    clf: Classifier,
    evalset: Any,
    n: int,
    kind: str,
    rel: str,
    *,
    cached: bool = False,
    line: int | None = None,
) -> CheckOutcome:
    from gate.redteam.judge import wilson

    y = [int(v) for v in evalset.y[:n]]
    clean = list(result.clean)
    correct = [c == t for c, t in zip(clean, y, strict=True)]
    n_correct = sum(correct)
    clean_acc = n_correct / n if n else 0.0
    findings: list[Finding] = []
    about: dict[str, Any] = {"path": "release.yaml", "line": line}
    threat_models: list[dict[str, Any]] = []
    by_eps: dict[float, list[Any]] = {}
    for run in result.runs:
        by_eps.setdefault(run.eps, []).append(run)
    for eps in sorted(by_eps):
        runs = by_eps[eps]
        key = budget_key(kind, eps)
        robust = list(correct)
        flipped_by: dict[int, Any] = {}
        per_attack = {}
        for run in runs:
            ok = [c and a == t for c, a, t in zip(correct, run.adversarial, y, strict=True)]
            per_attack[run.attack] = {
                "robust_accuracy": round(sum(ok) / n, 6) if n else 0.0,
                "steps": run.steps,
                "restarts": run.restarts,
                "seed": run.seed,
                "queries_per_example": run.queries,
                "seconds": run.seconds,
            }
            for i, good in enumerate(ok):
                if correct[i] and not good and i not in flipped_by:
                    flipped_by[i] = run
                robust[i] = robust[i] and good
        r = sum(robust)
        acc = r / n if n else 0.0
        low, high = wilson(r, n)
        flips = n_correct - r
        asr = flips / n_correct if n_correct else 0.0
        asr_low, asr_high = wilson(flips, n_correct)
        repro = [
            {
                "index": i,
                "label": clf.labels[y[i]],
                "adversarial_label": clf.labels[run.adversarial[i]],
                "attack": run.attack,
                "linf": round(run.linf[i], 6),
                "l2": round(run.l2[i], 6),
            }
            for i, run in sorted(flipped_by.items())[: cfg.max_reproductions]
        ]
        tm = {
            "threat_model": key,
            "eps": eps,
            "samples": n,
            "clean_accuracy": round(clean_acc, 6),
            "robust_accuracy": round(acc, 6),
            "robust_ci95": [round(low, 6), round(high, 6)],
            "attack_success_rate": round(asr, 6),
            "asr_ci95": [round(asr_low, 6), round(asr_high, 6)],
            "flipped": flips,
            "attacks": per_attack,
            "minimum": cfg.min_robust_accuracy.get(key),
            "decided_on": cfg.decide_on,
            "flipped_examples": repro,
        }
        threat_models.append(tm)
        rate = (
            f"robust accuracy {_pct(acc)} (95% CI {_pct(low)}-{_pct(high)}) under {', '.join(per_attack)}; "
            f"{flips} of {n_correct} correctly classified examples flipped (ASR {_pct(asr)}, "
            f"95% CI {_pct(asr_low)}-{_pct(asr_high)})"
        )
        reproduction = None
        if repro:
            reproduction = (
                f"Attack {rel} with the same settings (`model-gate check RELEASE --only model-files,"
                f"classifier-robustness`); flipped examples of {evalset.path} (row index from 0, "
                "perturbation norms on inputs scaled to [0, 1]):\n"
                + "\n".join(
                    f"  #{e['index']}: {e['label']} -> {e['adversarial_label']} by {e['attack']} "
                    f"(L∞ {e['linf']:.4f}, L2 {e['l2']:.4f})"
                    for e in repro
                )
            )
        evidence = {k: v for k, v in tm.items() if k != "flipped_examples"}
        minimum = cfg.min_robust_accuracy.get(key)
        value = {"upper": high, "point": acc, "lower": low}[cfg.decide_on]
        if minimum is not None and value < minimum:
            findings.append(
                ClassifierRobustnessCheck.finding(
                    "robust-accuracy-below-threshold",
                    f"{key}: {rate}; minimum {_pct(minimum)} (judged on the {cfg.decide_on} estimate)",
                    detail=key,
                    key=key,
                    evidence=evidence,
                    reproduction=reproduction,
                    **about,
                )
            )
        drop = clean_acc - acc
        if drop > cfg.max_accuracy_drop:
            findings.append(
                ClassifierRobustnessCheck.finding(
                    "robust-accuracy-drop-over-threshold",
                    f"{key}: clean {_pct(clean_acc)}, robust {_pct(acc)} (drop {drop * 100:.1f} points, "
                    f"at most {cfg.max_accuracy_drop * 100:g})",
                    detail=key,
                    key=key,
                    evidence=evidence,
                    reproduction=reproduction,
                    **about,
                )
            )
    if n < cfg.min_samples:
        findings.append(
            ClassifierRobustnessCheck.finding(
                "evaluation-set-too-small",
                f"{n} examples attacked; the policy needs at least {cfg.min_samples} at this tier",
                key="samples",
                evidence={"samples": n, "min_samples": cfg.min_samples, "evaluation_set": evalset.path},
                **about,
            )
        )
    if clean_acc < cfg.min_clean_accuracy:
        low, high = wilson(n_correct, n)
        findings.append(
            ClassifierRobustnessCheck.finding(
                "clean-accuracy-below-threshold",
                f"clean accuracy {_pct(clean_acc)} (95% CI {_pct(low)}-{_pct(high)}) on {evalset.path}; "
                f"minimum {_pct(cfg.min_clean_accuracy)}",
                key="clean",
                evidence={"clean_accuracy": round(clean_acc, 6), "samples": n},
                **about,
            )
        )
    if not result.white_box:
        queries = sorted({r.queries for r in result.runs if r.queries})
        findings.append(
            ClassifierRobustnessCheck.finding(
                "black-box-attacks-only",
                f"{rel}: black-box attacks only ({result.white_box_reason}); "
                f"query budget {', '.join(str(q) for q in queries) or 'none'} per example",
                key="black-box",
                evidence={"reason": result.white_box_reason, "queries_per_example": queries},
                **about,
            )
        )
    worst = min((tm["robust_accuracy"] for tm in threat_models), default=clean_acc)
    summary = (
        f"{n} examples of {evalset.path}: clean accuracy {_pct(clean_acc)}; "
        + "; ".join(f"{tm['threat_model']} robust {_pct(tm['robust_accuracy'])}" for tm in threat_models)
        + (" (black-box)" if not result.white_box else "")
        + ("; from cache" if cached else "")
    )
    details = {
        "model": rel,
        "evaluation_set": {"path": evalset.path, "sha256": evalset.digest, "rows": len(evalset.y)},
        "samples": n,
        "clean_accuracy": round(clean_acc, 6),
        "worst_robust_accuracy": worst,
        "gradients": result.white_box,
        "gradients_unavailable": result.white_box_reason,
        "translation_max_difference": result.fidelity_max_abs,
        "threat_models": threat_models,
        "isolation": result.isolation,
        "versions": result.versions,
        "cached": cached,
    }
    return CheckOutcome(findings=findings, summary=summary, details=details)
