"""Report formats, picked through an explicit mapping."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

from gate.models.finding import Rule
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


def reporter_class(name: str) -> type[Reporter]:
    module, _, cls = REPORTERS[name].partition(":")
    found: type[Reporter] = getattr(importlib.import_module(module), cls)
    return found


def get_reporter(name: str, *, rules: Sequence[Rule] = (), **options: Any) -> Reporter:
    """The reporter for a format; `rules` is the rule catalogue (gate.checks.all_rules());
    `options` are the format's own (e.g. SARIF's `all_rules`)."""
    return reporter_class(name)(rules=rules, **options)
