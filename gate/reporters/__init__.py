"""Report formats, picked through an explicit mapping."""

from __future__ import annotations

import importlib

from gate.reporters.interface import Reporter

# format name -> "module:Class"; imported on first use.
REPORTERS: dict[str, str] = {
    "text": "gate.reporters.text:TextReporter",
    "json": "gate.reporters.json:JsonReporter",
    "markdown": "gate.reporters.markdown:MarkdownReporter",
    "sarif": "gate.reporters.sarif:SarifReporter",
    "junit": "gate.reporters.junit:JunitReporter",
    "html": "gate.reporters.html:HtmlReporter",
}


def get_reporter(name: str) -> Reporter:
    module, _, cls = REPORTERS[name].partition(":")
    reporter: Reporter = getattr(importlib.import_module(module), cls)()
    return reporter
