"""The waivers library stays a library: the engine judges the findings it adds, the rule
catalogue comes from the caller, and nothing in it reaches up into the engine or the checks."""

from __future__ import annotations

import ast
from pathlib import Path

from gate.models.report import Verdict, WaiverStatus
from gate.policy import load_policy
from tests.support import ROOT
from tests.support.waiverkit import (
    blocking_ids,
    code_release,
    loaded,
    make_keys,
    put,
    run,
    signed,
    unsigned_waiver,
    write_policy,
)

WAIVERS = ROOT / "gate" / "waivers"
LIBRARY = tuple(sorted(p.name for p in WAIVERS.glob("*.py")))


def _run_with_rejected_waiver(tmp_path: Path, extra_policy: str) -> tuple[Verdict, list[str]]:
    keys = make_keys()
    path = write_policy(tmp_path / "pol", keys)
    path.write_text(path.read_text() + extra_policy)
    policy = load_policy(str(path))
    rel = code_release(tmp_path / "rel")
    release, report = loaded(rel, policy)
    (fid,) = blocking_ids(report)
    wdir = tmp_path / "w"
    put(wdir, "good.json", signed(unsigned_waiver(release, [fid]), keys.alice))
    put(wdir, "unsigned.json", unsigned_waiver(release, [fid], days=3))
    report = run(rel, policy, wdir)
    statuses = sorted(w.status.value for w in report.waivers)
    assert statuses == [WaiverStatus.APPLIED.value, WaiverStatus.REJECTED.value], statuses
    return report.verdict, blocking_ids(report)


def test_the_policy_decides_whether_a_rejected_waiver_blocks(tmp_path: Path) -> None:
    verdict, blocking = _run_with_rejected_waiver(tmp_path / "a", "")
    assert verdict is Verdict.WARN and blocking == []
    # The same run under a policy that makes rejected waivers block: the engine judges the
    # applier's findings with the tier's rules, as it judges every check's.
    verdict, blocking = _run_with_rejected_waiver(
        tmp_path / "b", "  rules:\n    waiver-rejected:\n      blocking: true\n"
    )
    assert verdict is Verdict.FAIL
    assert [b.split("-")[1] for b in blocking] == ["WV001"]


def test_the_waivers_library_never_imports_the_engine_checks_or_commands() -> None:
    for name in LIBRARY:
        tree = ast.parse((WAIVERS / name).read_text(), name)
        for node in ast.walk(tree):
            mods = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            for mod in mods:
                assert not mod.startswith(("gate.engine", "gate.checks", "gate.cli", "gate.commands")), (
                    f"gate/waivers/{name}:{node.lineno} imports {mod}"
                )
                assert mod != "gate" or not {a.name for a in node.names} & {"engine", "checks", "cli"}  # type: ignore[union-attr]
