"""Regenerate (or, with --check, verify) the generated parts of the docs.

- README.md and docs/policy.md sections between `<!-- BEGIN GENERATED: X -->` and
  `<!-- END GENERATED: X -->`;
- schemas/report.schema.json from the report models;
- gate/policies/scan-settings.json, the packaged policies' scanner settings precompiled for
  `model-gate scan` (see gate/scan_policy.py).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent


def cli_help(*args: str) -> str:
    from gate.commands import main

    result = CliRunner().invoke(main, [*args, "--help"], prog_name="model-gate", terminal_width=100)
    return "```\n" + result.output.rstrip() + "\n```"


def sections() -> dict[str, str]:
    from gate.compliance.markdown import coverage_summary, mapping_table, release_excerpt
    from gate.compliance.pack import build_pack
    from gate.docs import checks_table, rules_table
    from gate.extras import extras_table

    return {
        "extras": extras_table(),
        "checks": checks_table(),
        "rules": rules_table(),
        "help": cli_help(),
        "help-check": cli_help("check"),
        "compliance": coverage_summary() + "\n\n" + mapping_table("owasp-llm-2025"),
        # The bad release's golden JSON report is the canonical rendering of that release.
        "compliance-example": release_excerpt(
            build_pack(ROOT / "tests" / "golden" / "bad-release.json"), "eu-ai-act", limit=8
        ),
    }


def render_readme(text: str, parts: dict[str, str] | None = None) -> str:
    for name, body in (sections() if parts is None else parts).items():
        pattern = re.compile(
            rf"(<!-- BEGIN GENERATED: {re.escape(name)} -->\n).*?(<!-- END GENERATED: {re.escape(name)} -->)",
            re.S,
        )
        if not pattern.search(text):
            raise SystemExit(f"missing generated section '{name}'")
        text = pattern.sub(lambda m, body=body: m.group(1) + body + "\n" + m.group(2), text)
    return text


def schema_text() -> str:
    from gate.reporters.json import report_schema

    return json.dumps(report_schema(), indent=2, sort_keys=True) + "\n"


def composition_table() -> str:
    from gate.policy_merge import composition_table

    return composition_table()


def compile_packaged() -> str:
    from gate.scan_policy import compile_packaged

    return compile_packaged()


def main() -> int:
    check = "--check" in sys.argv
    targets = {
        ROOT / "README.md": render_readme((ROOT / "README.md").read_text("utf-8")),
        ROOT / "docs" / "policy.md": render_readme(
            (ROOT / "docs" / "policy.md").read_text("utf-8"), {"composition": composition_table()}
        ),
        ROOT / "schemas" / "report.schema.json": schema_text(),
        ROOT / "gate" / "policies" / "scan-settings.json": compile_packaged(),
    }
    stale = []
    for path, want in targets.items():
        have = path.read_text("utf-8") if path.exists() else ""
        if have != want:
            if check:
                stale.append(path.relative_to(ROOT).as_posix())
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(want, "utf-8")
    if stale:
        print(f"out of date: {', '.join(stale)}; run 'make docs'", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
