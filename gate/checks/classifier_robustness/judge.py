"""Judging what the child measured: clean and robust accuracy per threat model with Wilson
intervals, the attack success rate, the flipped examples as reproduction, and the findings the
policy's thresholds call for."""

from __future__ import annotations

from typing import Any

from gate.checks.classifier_robustness.config import ClassifierRobustnessConfig, budget_key
from gate.checks.classifier_robustness.rules import CHECK, RULES
from gate.checks.interface import CheckOutcome
from gate.models.finding import Finding, new_finding
from gate.models.manifest import Classifier

_BY_NAME = {r.name: r for r in RULES}


def _finding(name: str, title: str, **kw: Any) -> Finding:
    return new_finding(_BY_NAME[name], title, check=CHECK, **kw)


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
                _finding(
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
                _finding(
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
            _finding(
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
            _finding(
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
            _finding(
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
