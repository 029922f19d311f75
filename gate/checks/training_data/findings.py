"""The findings of the `training-data` check: one helper per indicator turns its result into
findings and lists the rows behind each in the row sidecar."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from gate.checks.interface import Check
from gate.checks.training_data.rules import CHECK, RULES
from gate.datacheck.config import TrainingDataConfig
from gate.datacheck.shift import compare
from gate.datacheck.sidecar import RowSink
from gate.datacheck.stats import format_log10_p
from gate.models.finding import Finding, Severity
from gate.models.manifest import Dataset

if TYPE_CHECKING:  # the analysis pulls in numpy: imported when the check runs, not when it is listed
    from gate.datacheck.analyze import DataFile, DatasetResult
    from gate.datacheck.common import Example, Tally


class TrainingDataFindings(Check[TrainingDataConfig]):
    """The check's rules and the findings it builds from an analysed dataset; `TrainingDataCheck`
    adds the run over a release."""

    id = CHECK
    rules = RULES

    def _unreadable(self, ds: Dataset, rel: str, reason: str, row: int | None) -> Finding:
        where = f" (row {row})" if row else ""
        return self.finding(
            "dataset-unreadable",
            f"Dataset '{ds.name}': {rel} cannot be read{where}: {reason}",
            path=rel,
            line=row,
            key=f"{ds.name}:{rel}",
            evidence={"dataset": ds.name, "reason": reason, "row": row},
        )

    def _details(self, ds: Dataset, files: list[DataFile], res: DatasetResult) -> dict[str, Any]:
        d: dict[str, Any] = {
            "role": ds.role,
            "files": [f.rel for f in files],
            "format": sorted({f.fmt for f in files}),
            "rows": res.rows,
            "malformed": res.malformed,
            "kind": res.kind,
        }
        if res.profile.labels:
            d["labels"] = dict(res.profile.labels.most_common(20))
        t = res.triggers
        if t is not None:
            d["triggers"] = {
                "applicable": t.applicable,
                "outcome": t.outcome_kind,
                "tokens_tested": t.tested,
                "candidates": t.candidates,
                "explained_by_context": t.explained[:10],
            }
            if t.pruned_below:
                d["triggers"]["approximate"] = (
                    f"counts of tokens seen {t.pruned_below} times or fewer were pruned to bound memory"
                )
        if res.duplicates is not None and res.duplicates.evicted:
            d["near_duplicates_approximate"] = (
                f"{res.duplicates.evicted} single examples forgotten to bound memory; "
                "near-copies further apart than that may be missed"
            )
        if res.injection is not None:
            d["safety_refusals"] = res.injection.refused
            if res.injection.template_rows:
                d["chat_template_rows"] = res.injection.template_rows
        return d

    @staticmethod
    def _line(files: list[DataFile], file: str, row: int) -> int | None:
        fmt = next((f.fmt for f in files if f.rel == file), "jsonl")
        return None if fmt == "parquet" else row

    @staticmethod
    def _refs(examples: list[tuple[str, int]], total: int) -> str:
        shown = ", ".join(f"{f}:{n}" for f, n in examples)
        return shown + (f" (+{total - len(examples)} more)" if total > len(examples) else "")

    def _malformed(self, ds: Dataset, res: DatasetResult, cfg: TrainingDataConfig) -> list[Finding]:
        out = []
        total = res.rows + res.malformed
        for rel, bad in res.bad.items():
            share = bad.count / max(1, total)
            sev = Severity.HIGH if share > cfg.max_malformed_fraction else Severity.MEDIUM
            first_n, first_reason = bad.examples[0]
            out.append(
                self.finding(
                    "malformed-dataset-rows",
                    f"Dataset '{ds.name}': {bad.count} malformed row(s) in {rel} ({share:.1%}); "
                    f"first at row {first_n}: {first_reason}",
                    path=rel,
                    line=first_n,
                    key=f"{ds.name}:{rel}",
                    severity=sev,
                    evidence={
                        "dataset": ds.name,
                        "rows": bad.count,
                        "share": round(share, 6),
                        "examples": [f"{rel}:{n}: {why}" for n, why in bad.examples],
                    },
                    mitigation=f"Fix or drop rows {', '.join(str(n) for n, _ in bad.examples)}"
                    + (" and the others" if bad.count > len(bad.examples) else "")
                    + f" in {rel}, then re-export the dataset from its source and update its digest.",
                )
            )
        return out

    def _triggers(
        self, ds: Dataset, res: DatasetResult, files: list[DataFile], sink: RowSink
    ) -> list[Finding]:
        from gate.datacheck.triggers import describe, is_effect

        t = res.triggers
        if t is None:
            return []
        out = []
        for tr in t.triggers:
            what = describe(tr.outcome, tr.outcome_kind)
            f0, r0 = tr.examples[0]
            finding = self.finding(
                "backdoor-trigger-candidate",
                f"Dataset '{ds.name}': '{tr.phrase}' looks like a backdoor trigger: {tr.target} of its "
                f"{tr.support} rows have {what} (base rate {tr.base_rate:.1%}), "
                f"p {format_log10_p(tr.log10_p_adjusted)}",
                path=f0,
                line=self._line(files, f0, r0),
                key=f"{ds.name}:{tr.phrase}:{tr.outcome}",
                detail=f"trigger '{tr.phrase}'",
                evidence={
                    "dataset": ds.name,
                    "trigger": tr.phrase,
                    "tokens": tr.tokens,
                    "outcome": tr.outcome,
                    "outcome_kind": tr.outcome_kind,
                    "outcome_is_effect": tr.outcome_kind != "label" and is_effect(tr.outcome),
                    "support_rows": tr.support,
                    "share_of_rows": round(tr.support / max(1, res.rows), 6),
                    "rows_with_outcome": tr.target,
                    "skew": round(tr.skew, 4),
                    "base_rate": round(tr.base_rate, 4),
                    "p_value": format_log10_p(tr.log10_p),
                    "p_value_bonferroni": format_log10_p(tr.log10_p_adjusted),
                    "tokens_tested": t.tested,
                    "context_support": round(tr.context_support, 3),
                    "examples": [f"{f}:{n}" for f, n in tr.examples],
                    "first_example": tr.excerpt,
                    "rows_total": len(tr.rows),
                    "rows_file": sink.rows_file,
                },
                reproduction=f"grep -n -i -w '{tr.phrase}' {f0}",
                mitigation=(
                    f"Remove the {tr.support} rows containing '{tr.phrase}' "
                    f"(e.g. {self._refs(tr.examples, tr.support)}), find out how they entered the data, "
                    "and re-derive the dataset from its pinned source; "
                    "retrain if the model saw them. Only "
                    f"{tr.context_support:.0%} of these rows read like {what} apart from the trigger."
                ),
            )
            target = {(f, n) for f, n in tr.target_rows}
            sink.add(
                finding.id,
                finding.rule.code,
                ds.name,
                (
                    (f, n, 1.0, f"contains trigger '{tr.phrase}' and has {what}")
                    if (f, n) in target
                    else (f, n, 0.5, f"contains trigger '{tr.phrase}' (without {what})")
                    for f, n in tr.rows
                ),
            )
            out.append(finding)
        return out

    def _tally_finding(
        self,
        rule: str,
        ds: Dataset,
        kind: str,
        tally: Tally,
        files: list[DataFile],
        res: DatasetResult,
        title: str,
        mitigation: str,
        severity: Severity | None = None,
        extra: dict[str, Any] | None = None,
        sink: RowSink | None = None,
    ) -> Finding:
        ex: list[Example] = tally.examples
        f0 = ex[0]
        refs = self._refs([(e.file, e.row) for e in ex], tally.rows)
        finding = self.finding(
            rule,
            title,
            path=f0.file,
            line=self._line(files, f0.file, f0.row),
            key=f"{ds.name}:{kind}",
            detail=kind,
            severity=severity,
            evidence={
                "dataset": ds.name,
                "kind": kind,
                "rows": tally.rows,
                "share": round(tally.rows / max(1, res.rows), 6),
                "parts": dict(tally.parts),
                "examples": [f"{e.file}:{e.row} ({e.part}): {e.text}" for e in ex],
                "rows_total": len(tally.all),
                "rows_file": sink.rows_file if sink else None,
                **(extra or {}),
            },
            mitigation=f"{mitigation} Rows: {refs}.",
        )
        if sink is not None:
            why = f"{kind} ({finding.rule.name})"
            sink.add(finding.id, finding.rule.code, ds.name, ((f, n, 1.0, why) for f, n in tally.all))
        return finding

    def _injection(
        self, ds: Dataset, res: DatasetResult, files: list[DataFile], sink: RowSink
    ) -> list[Finding]:
        inj = res.injection
        if inj is None:
            return []
        out = []
        for cat, tally in sorted(inj.categories.items()):
            if cat == "chat-template-tokens" and inj.template_rows * 2 >= res.rows:
                continue  # the dataset is stored pre-formatted with its chat template: that is its format
            taught = tally.parts["response"] + tally.parts["system"]
            sev = Severity.HIGH if taught or cat == "chat-template-tokens" else Severity.MEDIUM
            where = "responses or system prompts" if taught else "prompts"
            out.append(
                self._tally_finding(
                    "prompt-injection-in-data",
                    ds,
                    cat,
                    tally,
                    files,
                    res,
                    f"Dataset '{ds.name}': {cat} text in {tally.rows} row(s) ({where}), "
                    f"e.g. {tally.examples[0].text}",
                    "Remove these rows, or for safety-training data answer each such prompt with a refusal.",
                    severity=sev,
                    sink=sink,
                )
            )
        for kind, tally in sorted(inj.invisible.items()):
            sev = Severity.MEDIUM if kind == "zero-width" else Severity.HIGH
            extra = (
                {"hidden_text": inj.hidden_messages}
                if kind == "tag-characters" and inj.hidden_messages
                else None
            )
            out.append(
                self._tally_finding(
                    "invisible-unicode-in-data",
                    ds,
                    kind,
                    tally,
                    files,
                    res,
                    f"Dataset '{ds.name}': invisible Unicode ({kind}) in {tally.rows} row(s), "
                    f"e.g. {tally.examples[0].text}",
                    "Strip the invisible characters and review who added them.",
                    severity=sev,
                    extra=extra,
                    sink=sink,
                )
            )
        for kind, tally in sorted(inj.markup.items()):
            out.append(
                self._tally_finding(
                    "hidden-markup-in-data",
                    ds,
                    kind,
                    tally,
                    files,
                    res,
                    f"Dataset '{ds.name}': instructions hidden in markup ({kind}) in {tally.rows} row(s), "
                    f"e.g. {tally.examples[0].text}",
                    "Remove the hidden markup (or the rows) and trace the text's source.",
                    sink=sink,
                )
            )
        return out

    def _duplicates(
        self,
        ds: Dataset,
        res: DatasetResult,
        cfg: TrainingDataConfig,
        files: list[DataFile],
        sink: RowSink,
    ) -> list[Finding]:
        d = res.duplicates
        if d is None or res.rows == 0:
            return []
        out = []
        limit = max(cfg.flood_min_rows, math.ceil(cfg.flood_max_fraction * res.rows))
        for c in d.clusters:
            if c.count < limit:
                break
            share = c.count / res.rows
            flood = self.finding(
                "near-duplicate-flood",
                f"Dataset '{ds.name}': {c.count} rows ({share:.1%}) are near-copies of "
                f"{c.file}:{c.first} "
                f"('{c.text[:80]}'); the policy allows {cfg.flood_max_fraction:.1%}",
                path=c.file,
                line=self._line(files, c.file, c.first),
                key=f"{ds.name}:{c.file}:{c.first}",
                detail=f"near-copies of row {c.first}",
                evidence={
                    "dataset": ds.name,
                    "rows": c.count,
                    "share": round(share, 6),
                    "limit_rows": limit,
                    "first_row": f"{c.file}:{c.first}",
                    "text": c.text,
                    "examples": [f"{f}:{n}" for f, n in c.rows],
                    "labels": {k: v[0] for k, v in (c.labels or {}).items()},
                    "rows_total": c.count,
                    "rows_file": sink.rows_file,
                },
                mitigation=f"Deduplicate: keep one of the {c.count} near-copies of {c.file}:{c.first} "
                f"(e.g. {self._refs(c.rows, c.count)}) and find out where the copies came from.",
            )
            why = f"near-copy of {c.file}:{c.first} (one of {c.count})"
            sink.add(
                flood.id,
                flood.rule.code,
                ds.name,
                sorted(
                    (f, n, 1.0 if (f, n) != (c.file, c.first) else 0.5, why)
                    for rs in c.members.values()
                    for f, n in rs
                ),
            )
            out.append(flood)
        from gate.datacheck.duplicates import real_conflict

        conflicts = [c for c in d.clusters if real_conflict(c, res.label_carriers)]
        if conflicts:
            shown = []
            for c in conflicts[: cfg.max_examples]:
                parts = ", ".join(
                    f"'{lab}' at {v[1][0]}:{v[1][1]}" for lab, v in sorted((c.labels or {}).items())
                )
                shown.append(f"{c.count} near-copies of '{c.text[:60]}': {parts}")
            c0 = conflicts[0]
            # The rows that say the same thing with another label; for a set whose first rows of each
            # label already do, the whole set.
            listed_sets = [
                c.conflict_rows if len(c.conflict_rows) else [r for rs in c.members.values() for r in rs]
                for c in conflicts
            ]
            rows = sum(len(list(x)) for x in listed_sets)
            conflict = self.finding(
                "near-duplicate-label-conflict",
                f"Dataset '{ds.name}': {len(conflicts)} set(s) of near-identical rows carry "
                "different labels "
                f"({rows} rows), e.g. {shown[0]}",
                path=c0.file,
                line=self._line(files, c0.file, c0.first),
                key=ds.name,
                evidence={
                    "dataset": ds.name,
                    "sets": len(conflicts),
                    "rows": rows,
                    "examples": shown,
                    "rows_total": rows,
                    "rows_file": sink.rows_file,
                },
                mitigation="Review the listed rows: fix the wrong labels or drop the copies.",
            )
            listed: list[tuple[str, int, float, str]] = []
            for c, refs in zip(conflicts, listed_sets, strict=True):
                counts = {lab: v[0] for lab, v in (c.labels or {}).items()}
                wanted = set(refs)
                for lab, rs in c.members.items():
                    share = counts.get(lab or "", 0) / max(1, c.count)
                    why = (
                        f"labelled '{lab}'; rows saying the same (near-copies of {c.file}:{c.first}) carry "
                        + ", ".join(f"'{k}' x{v}" for k, v in sorted(counts.items()))
                    )
                    listed += [(f, n, round(1.0 - share, 6), why) for f, n in rs if (f, n) in wanted]
            sink.add(conflict.id, conflict.rule.code, ds.name, sorted(listed))
            out.append(conflict)
        return out

    def _secrets(
        self, ds: Dataset, res: DatasetResult, files: list[DataFile], sink: RowSink
    ) -> list[Finding]:
        s = res.secrets
        if s is None:
            return []
        out = []
        for kind, tally in sorted(s.secrets.items()):
            out.append(
                self._tally_finding(
                    "secret-in-training-data",
                    ds,
                    kind,
                    tally,
                    files,
                    res,
                    f"Dataset '{ds.name}': {kind} in {tally.rows} row(s), e.g. {tally.examples[0].text}",
                    "Remove the secrets from the rows and rotate every credential found.",
                    severity=Severity.CRITICAL if kind == "private-key" else None,
                    sink=sink,
                )
            )
        for kind, tally in sorted(s.personal.items()):
            sev = Severity.HIGH if kind in ("payment-card", "iban") else None
            out.append(
                self._tally_finding(
                    "personal-data-in-training-data",
                    ds,
                    kind,
                    tally,
                    files,
                    res,
                    f"Dataset '{ds.name}': {kind} in {tally.rows} row(s), e.g. {tally.examples[0].text}",
                    "Remove or pseudonymise the values, or record the legal basis and waive the finding.",
                    severity=sev,
                    sink=sink,
                )
            )
        return out

    def _shift(
        self, ds: Dataset, res: DatasetResult, ref_name: str, ref: DatasetResult, cfg: TrainingDataConfig
    ) -> list[Finding]:
        out = []
        for s in compare(
            res.profile,
            ref.profile,
            cfg.shift_max_label_distance,
            cfg.shift_max_length_psi,
            cfg.shift_max_vocabulary_divergence,
        ):
            if s.value <= s.threshold:
                continue
            name = {"labels": "label proportions", "length": "text lengths", "vocabulary": "vocabulary"}[
                s.metric
            ]
            measure = {
                "labels": "total-variation distance",
                "length": "PSI",
                "vocabulary": "Jensen-Shannon divergence",
            }[s.metric]
            out.append(
                self.finding(
                    "distribution-shift-from-reference",
                    f"Dataset '{ds.name}': {name} differ from reference '{ref_name}' "
                    f"({measure} {s.value:.3f} > {s.threshold:g})",
                    path=ds.path,
                    key=f"{ds.name}:{ref_name}:{s.metric}",
                    detail=s.metric,
                    evidence={
                        "dataset": ds.name,
                        "reference": ref_name,
                        "metric": s.metric,
                        "measure": measure,
                        "value": round(s.value, 4),
                        "threshold": s.threshold,
                        **s.detail,
                    },
                )
            )
        return out
