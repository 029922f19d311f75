"""Releases for the monitoring and deployment tests: the demo release with one file swapped."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from gate.checks import load_check
from gate.checks.deployment.model_digest import release_digests
from gate.checks.interface import CheckContext, CheckOutcome, RunOptions
from gate.models.finding import Finding
from gate.release import load_release
from gate.risk import Tier, score
from tests.support import DATA, DEMO

FIX = DATA / "monitoring"
DEMO_DIGEST = release_digests(load_release(DEMO)).computed
assert DEMO_DIGEST is not None


def fixture_text(rel: str) -> str:
    return (FIX / rel).read_text("utf-8").replace("${MODEL_DIGEST}", DEMO_DIGEST or "")


def demo_with(
    tmp_path: Path,
    files: dict[str, str | bytes | None] | None = None,
    manifest: Any = None,
) -> Path:
    """A copy of the demo release; `files` maps release paths to new content (None deletes).

    `manifest` is a function from release.yaml's text to the new text.
    """
    dst = tmp_path / "release"
    shutil.copytree(DEMO, dst, symlinks=True)
    for rel, content in (files or {}).items():
        p = dst / rel
        if content is None:
            p.unlink()
            continue
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content, "utf-8")
    if manifest is not None:
        path = dst / "release.yaml"
        path.write_text(manifest(path.read_text("utf-8")), "utf-8")
    return dst


def run_check(release_dir: Path, check_id: str, tier: Tier | None = None, **config: Any) -> CheckOutcome:
    release = load_release(release_dir)
    t = score(release.manifest)
    if tier is not None:
        t = t.model_copy(update={"level": tier})
    cls = load_check(check_id)
    ctx = CheckContext(
        release=release, tier=t, config=cls.Config.model_validate(config), options=RunOptions()
    )
    return cls().run(ctx)


def of(outcome: CheckOutcome, rule: str) -> list[Finding]:
    return [f for f in outcome.findings if rule in (f.rule.name, f.rule.code)]


def rule_names(outcome: CheckOutcome) -> set[str]:
    return {f.rule.name for f in outcome.findings}


def control(outcome: CheckOutcome, cid: str) -> dict[str, Any]:
    result: dict[str, Any] = outcome.details["controls"][cid]
    return result
