"""One entry point for the `evidence` command: a pack in the format asked for."""

from __future__ import annotations

import json
from pathlib import Path

from gate.compliance.pack import EvidencePack

FORMATS = ("json", "markdown", "oscal")
DIR_FORMATS = FORMATS  # what `check --evidence DIR` writes


def render(pack: EvidencePack, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(pack.model_dump(mode="json", by_alias=True), indent=2, ensure_ascii=False) + "\n"
    if fmt == "markdown":
        from gate.compliance.markdown import render as md

        return md(pack)
    if fmt == "oscal":
        from gate.compliance.oscal import render as oscal

        return oscal(pack)
    raise ValueError(f"unknown evidence format {fmt!r}")


def require_formats(formats: tuple[str, ...]) -> None:
    """Fail before judging when a format needs an extra that is not installed."""
    if "oscal" in formats:
        from gate.compliance.oscal import _require_trestle

        _require_trestle()


def write_dir(report_json: str, directory: Path, *, decision_log: Path | None = None) -> list[Path]:
    """`check --evidence DIR`: the JSON report and its pack (JSON, Markdown, OSCAL) side by side,
    so the pack's report link resolves. The command calls `require_formats(DIR_FORMATS)` first."""
    from gate.compliance.pack import build_pack
    from gate.errors import GateError

    formats = DIR_FORMATS
    names = {"json": "evidence.json", "markdown": "evidence.md", "oscal": "evidence.oscal.json"}
    try:
        directory.mkdir(parents=True, exist_ok=True)
        report_path = directory / "report.json"
        report_path.write_text(report_json, "utf-8")
        pack = build_pack(report_path, decision_log=decision_log)
        written = [report_path]
        for fmt in formats:
            out = directory / names[fmt]
            out.write_text(render(pack, fmt), "utf-8")
            written.append(out)
    except OSError as exc:
        raise GateError(f"{directory}: cannot write the evidence pack: {exc.strerror or exc}") from None
    return written
