"""The check itself: plan the run (bare, or through the release's guard), run it, judge it."""

from __future__ import annotations

import hashlib
import os

from gate.checks.adversarial.config import AdversarialConfig
from gate.checks.adversarial.rules import CHECK, RULES
from gate.checks.interface import Check, CheckContext, CheckOutcome
from gate.errors import CheckError
from gate.redteam.credential import CredentialRefused, grant


class AdversarialCheck(Check[AdversarialConfig]):
    id = CHECK
    title = "Adversarial robustness"
    description = (
        "garak attacks the release's endpoint with the policy's probe set; attack success rates per "
        "category, with 95% intervals, must stay under the policy's thresholds and not regress."
    )
    rules = RULES

    def run(self, ctx: CheckContext[AdversarialConfig]) -> CheckOutcome:
        # The judging modules build findings through this class: imported here, not above.
        from gate.checks.adversarial.baseline import load_baseline
        from gate.checks.adversarial.guard import guard_summary, judge_guard
        from gate.checks.adversarial.judging import judge_record
        from gate.checks.adversarial.live import _declared_controls, judge_live
        from gate.redteam.models import Settings
        from gate.redteam.orchestrate import RunPlan, execute

        cfg = ctx.config
        endpoint = ctx.manifest.endpoint
        if endpoint is None:
            return CheckOutcome(
                skipped=True, summary="no endpoint declared in release.yaml: nothing to attack"
            )
        opts = ctx.options.redteam
        try:
            api_key = grant(endpoint, cfg.credential_env, cfg.credential_hosts, os.environ).key
        except CredentialRefused as exc:
            hint = (
                "Name the endpoint's key variable and its hosts in the policy "
                "(checks.adversarial.credential_env and credential_hosts); the gate never reads "
                "keys from files."
            )
            if ctx.required:
                raise CheckError(str(exc), hint=hint) from None
            return CheckOutcome(skipped=True, summary=f"{exc}. {hint}")
        if opts.probe_set:
            set_name, explicit = opts.probe_set, None
        elif cfg.probes is not None:
            set_name, explicit = "custom", cfg.probes
        else:
            set_name, explicit = cfg.probe_set, None
        plan = RunPlan(
            release_root=ctx.release.root,
            release_digest=ctx.release.digest,
            model_digest=model_digest(ctx),
            endpoint=endpoint,
            api_key=api_key,
            probe_set=set_name,
            explicit_probes=explicit,
            shard=opts.shard,
            offline=ctx.offline,
            cache_dir=ctx.options.cache.directory(
                ctx.release.root, check=CHECK, enabled=cfg.cache, configured=cfg.cache_dir, kind="redteam"
            ),
            workdir=ctx.options.workdir,
            parallel_attempts=opts.parallel_attempts or cfg.parallel_attempts,
            settings=Settings(
                generations=cfg.generations,
                prompt_cap=cfg.prompt_cap,
                seed=cfg.seed,
                max_tokens=cfg.max_tokens,
                extended_detectors=cfg.extended_detectors,
            ),
            config=cfg,
            progress=ctx.progress,
        )
        baseline, source = load_baseline(ctx.options.baseline, ctx.release.root)
        line = ctx.release.line_of("endpoint")
        if ctx.manifest.guard is None:
            # Without garak nothing can run: an error that names the extra. Where the check is
            # optional the engine turns it into a warning that says how to skip it.
            outcome = judge_record(execute(plan), cfg, baseline, source, path="release.yaml", line=line)
        else:
            from gate.redteam.guarded import GuardPlan, run_guarded

            guarded = run_guarded(GuardPlan(plan, ctx.manifest.guard, ctx.release, os.environ))
            # The thresholds judge the stack users meet: the model behind its guard.
            outcome = judge_record(guarded.guarded, cfg, baseline, source, path="release.yaml", line=line)
            outcome.findings += judge_guard(guarded, cfg, line=ctx.release.line_of("guard"))
            outcome.details["guard"] = guarded.model_dump(mode="json", by_alias=True, exclude={"guarded"})
            outcome.summary += "; " + guard_summary(guarded)
        if cfg.live_controls:
            from gate.redteam.live import run_live

            # After the attacks: the rate-limit probe spends the endpoint's quota.
            live = run_live(endpoint, api_key, cfg, _declared_controls(ctx), os.environ)
            outcome.findings += judge_live(live, line=line)
            outcome.details["live_controls"] = live.model_dump(mode="json")
            outcome.summary += "; " + live.summary()
        return outcome


def model_digest(ctx: CheckContext[AdversarialConfig]) -> str:
    """One digest over the model's files (and a local endpoint folder), from the inventory."""
    m = ctx.manifest
    roots = [m.model.path]
    if m.endpoint is not None and m.endpoint.path:
        roots.append(m.endpoint.path)
    seen: dict[str, str] = {}
    for root in roots:
        for e in ctx.release.inventory.under(root):
            if e.kind == "file" and e.sha256:
                seen[e.path] = e.sha256
    h = hashlib.sha256()
    for path in sorted(seen):
        h.update(f"{path}\x00{seen[path]}\n".encode())
    return "sha256:" + h.hexdigest()
