"""The official OSCAL JSON schema for assessment results (NIST release 1.2.3), as a validator.

The schema file is NIST's, byte for byte (see tests/data/oscal/README.md). It is used unmodified:
its patterns use Unicode property classes (`\\p{L}`, `\\p{N}`) that Python's `re` lacks, so the
`pattern` keyword is evaluated with the `regex` module, which implements them as the schema means.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from typing import Any

import jsonschema
import regex
from jsonschema import ValidationError, validators

from tests.support import DATA

SCHEMA = DATA / "oscal" / "oscal_assessment-results_schema.json"
SCHEMA_SHA256 = "37f41f6813c78e6d2c272b27030e17e93d7f92fee519c72e7531574fa0ecbb05"


def _pattern(_validator: Any, pattern: str, instance: Any, _schema: Any) -> Iterator[ValidationError]:
    if isinstance(instance, str) and not regex.search(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


@cache
def validator() -> jsonschema.protocols.Validator:
    unicode_draft7 = validators.extend(jsonschema.Draft7Validator, {"pattern": _pattern})
    schema = json.loads(SCHEMA.read_bytes())
    return unicode_draft7(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def errors(doc: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in validator().iter_errors(doc)]
