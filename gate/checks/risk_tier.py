"""Check `risk-tier`: how risky this deployment is, and whether it is allowed at all."""

from __future__ import annotations

from gate.checks.interface import Check, CheckContext, CheckOutcome, NoConfig
from gate.models.finding import Finding, Rule, Severity
from gate.risk import Tier

CHECK = "risk-tier"

RULES = (
    Rule(
        code="GATE-RT001",
        name="prohibited-ai-practice",
        check=CHECK,
        severity=Severity.CRITICAL,
        summary="The deployment falls under a practice prohibited by Article 5 of the EU AI Act.",
        why="Prohibited practices may not be placed on the EU market or used at all; no "
        "control or review can make them acceptable, so no policy or waiver can pass them.",
        example="`deployment.domains: [social-scoring]` in release.yaml.",
        fix="Do not deploy the model for this purpose. If the domain was declared by mistake, "
        "correct `deployment.domains` (the change is reviewed like any other).",
        waivable=False,
        always_blocks=True,
    ),
    Rule(
        code="GATE-RT002",
        name="high-risk-ai-use",
        check=CHECK,
        severity=Severity.INFO,
        summary="The deployment is in an EU AI Act Annex III high-risk area.",
        why="High-risk systems carry obligations (risk management, data governance, logging, "
        "human oversight, accuracy and robustness, Art. 9-15) and the gate judges them at "
        "tier high or above.",
        example="`deployment.domains: [employment]` for a CV-screening model.",
        fix="Nothing to fix: make sure the obligations for high-risk systems are met; the "
        "policy's high tier requires the matching checks.",
    ),
)


class RiskTierCheck(Check[NoConfig]):
    id = CHECK
    title = "Risk tier"
    description = (
        "Scores the deployment context in release.yaml: EU AI Act floors (Art. 5 prohibited, "
        "Annex III high-risk), then exposure, data sensitivity, autonomy, safety, generation "
        "and scale."
    )
    rules = RULES

    def run(self, ctx: CheckContext[NoConfig]) -> CheckOutcome:
        t = ctx.tier
        findings: list[Finding] = []
        line = ctx.release.line_of("deployment.domains")
        for practice in t.prohibited_practices:
            findings.append(
                self.finding(
                    "prohibited-ai-practice",
                    f"Prohibited AI practice declared: {practice}",
                    path="release.yaml",
                    line=line,
                    key=practice,
                    detail=f"deployment.domains: {practice}",
                    evidence={"practice": practice, "rationale": list(t.rationale)},
                )
            )
        for area in t.annex_iii:
            findings.append(
                self.finding(
                    "high-risk-ai-use",
                    f"EU AI Act Annex III high-risk area: {area}",
                    path="release.yaml",
                    line=line,
                    key=area,
                    detail=f"deployment.domains: {area}",
                    evidence={"area": area},
                )
            )
        parts = ", ".join(f"{f.name}={f.value} (+{f.points})" for f in t.factors)
        summary = f"tier {t.level.value} (score {t.score}; EU AI Act: {t.eu_ai_act}): {parts}"
        if t.level is Tier.PROHIBITED:
            summary = f"tier prohibited: {', '.join(t.prohibited_practices)}"
        return CheckOutcome(
            findings=findings,
            summary=summary,
            details={"tier": t.model_dump(mode="json")},
        )
