"""The JSON report: versioned, its schema generated from the models (schemas/)."""

from __future__ import annotations

import json

from gate.models.report import Report
from gate.reporters.interface import Reporter


class JsonReporter(Reporter):
    name = "json"
    suffix = ".json"

    def render(self, report: Report, *, color: bool = False) -> str:
        return json.dumps(report.model_dump(mode="json", by_alias=True), indent=2) + "\n"


def report_schema() -> dict[str, object]:
    schema = Report.model_json_schema(by_alias=True, mode="serialization")
    schema["$id"] = "https://model-gate.dev/schemas/report/v1.json"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
