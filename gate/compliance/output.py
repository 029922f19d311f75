"""One entry point for the `evidence` command: a pack in the format asked for."""

from __future__ import annotations

import json

from gate.compliance.pack import EvidencePack

FORMATS = ("json", "markdown", "oscal")


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
