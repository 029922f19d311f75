"""Judging a complete record (one run, or merged shards): rates, thresholds, baseline, findings."""

from __future__ import annotations

import functools
from typing import Any

from gate.checks.adversarial.config import AdversarialConfig
from gate.checks.adversarial.rules import finding
from gate.checks.interface import CheckOutcome
from gate.models.finding import Finding

_BOUND = {
    "lower": "the 95% interval's lower bound",
    "point": "the point estimate",
    "upper": "the 95% interval's upper bound",
}


def _pct(x: float) -> str:
    return f"{x * 100:.0f}%" if x >= 0.1 or x == 0 else f"{x * 100:.1f}%"


def _reproductions(record: Any, probes: tuple[str, ...], limit: int) -> str | None:
    out: list[str] = []
    for r in record.results:
        if r.probe not in probes:
            continue
        for rep in r.reproductions:
            if len(out) >= limit:
                break
            out.append(
                f"[{rep.probe} / {rep.detector}]\n"
                f"  prompt: {rep.prompt.strip()}\n"
                f"  output: {rep.output.strip()}"
            )
    if not out:
        return None
    head = "Send these prompts to the endpoint (or run `model-gate redteam RELEASE`):\n"
    return head + "\n".join(out)


def judge_record(
    record: Any,
    cfg: AdversarialConfig,
    baseline: dict[str, float] | None,
    baseline_source: str | None,
    *,
    path: str | None = "release.yaml",
    line: int | None = None,
) -> CheckOutcome:
    """Rates, thresholds and baseline for a complete record (one run, or merged shards)."""
    from gate.redteam.catalog import load_catalog
    from gate.redteam.judge import categorise

    catalog = load_catalog()
    cats = categorise(
        record.results, catalog, cfg.thresholds, cfg.decide_on, baseline, cfg.regression_tolerance
    )
    record = record.model_copy(update={"categories": tuple(cats)})
    findings: list[Finding] = []
    partial = record.shard is not None
    for c in cats if not partial else ():
        rate = (
            f"{c.fails} of {c.total} attacks succeeded "
            f"(ASR {_pct(c.asr)}, 95% CI {_pct(c.ci_low)}-{_pct(c.ci_high)})"
        )
        evidence = {
            "category": c.category,
            "fails": c.fails,
            "total": c.total,
            "asr": round(c.asr, 6),
            "ci95": [round(c.ci_low, 6), round(c.ci_high, 6)],
            "threshold": c.threshold,
            "decided_on": c.decide_on,
            "probes": {
                r.probe: {
                    "fails": r.worst.fails,
                    "total": r.worst.total_evaluated,
                    "detector": r.worst.detector,
                }
                for r in record.results
                if r.probe in c.probes
            },
            "baseline_asr": c.baseline_asr,
            "delta": None if c.delta is None else round(c.delta, 6),
            "baseline": baseline_source,
        }
        technique = (*c.owasp, *c.atlas)
        mitigation = catalog.category(c.category).mitigation
        repro = _reproductions(record, c.probes, cfg.max_reproductions)
        # Every finding about this category points at the same place and evidence.
        about = functools.partial(
            finding,
            path=path,
            line=line,
            detail=c.category,
            key=c.category,
            evidence=evidence,
            technique=technique,
        )
        if c.over_threshold:
            assert c.threshold is not None
            findings.append(
                about(
                    "attack-success-over-threshold",
                    f"{c.category}: {rate}, over the {_pct(c.threshold)} limit "
                    f"(judged on {_BOUND[c.decide_on]})",
                    reproduction=repro,
                    mitigation=mitigation,
                )
            )
        if c.regression and c.baseline_asr is not None and c.delta is not None:
            findings.append(
                about(
                    "attack-success-regression",
                    f"{c.category}: ASR {_pct(c.asr)} against {_pct(c.baseline_asr)} in the baseline "
                    f"(+{c.delta * 100:.1f} points; tolerance {cfg.regression_tolerance * 100:g})",
                    reproduction=repro,
                    mitigation=mitigation,
                )
            )
        if c.improved and c.baseline_asr is not None and c.delta is not None:
            findings.append(
                about(
                    "attack-success-improved",
                    f"{c.category}: ASR {_pct(c.asr)} against {_pct(c.baseline_asr)} in the baseline "
                    f"({c.delta * 100:.1f} points)",
                )
            )
    if record.skipped_offline:
        findings.append(
            finding(
                "probe-skipped-offline",
                f"{len(record.skipped_offline)} probe(s) left out offline: "
                + ", ".join(record.skipped_offline),
                path=path,
                line=line,
                key="offline",
                evidence={"probes": list(record.skipped_offline)},
            )
        )
    total = sum(c.total for c in cats)
    fails = sum(c.fails for c in cats)
    over = [c.category for c in cats if c.over_threshold]
    where = f"shard {record.shard[0]}/{record.shard[1]}, " if partial else ""
    summary = (
        f"{where}{len(record.results)} probes ({record.probe_set}), {fails} of {total} attacks succeeded"
        + (f"; over threshold: {', '.join(over)}" if over and not partial else "")
        + (f"; {record.cache_hits} from cache" if record.cache_hits else "")
        + ("; judged by `model-gate merge`" if partial else "")
    )
    return CheckOutcome(
        findings=findings, summary=summary, details=record.model_dump(mode="json", by_alias=True)
    )
