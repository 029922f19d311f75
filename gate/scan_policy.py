"""The model-file scanner's settings under the packaged policies, precompiled for `model-gate scan`.

`model-gate scan FILE` is what people run by hand on a file they just downloaded, where
picklescan answers a 1 GB checkpoint in about 0.15 s. Composing and validating a policy needs
pydantic, whose import alone costs more than that. So for the packaged policies (the usual
case) the composed, validated `model-files` settings at the scan tier, the policy's name and
digest and the pickle allowlist are generated into `gate/policies/scan-settings.json` (by
`make docs`; `make test` fails when that file no longer matches what `load_policy` gives).

The file records the sha256 of every packaged file it was derived from. It is used only when
all of them still match (a policy edited in place falls back to the full load), and only for
files with nothing to report: a file with findings takes the full path, which validates the
policy and applies its blocking rules.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gate.scanner.interface import Settings, settings_from

SCAN_TIER = "low"  # outside a release there is no deployment context: the baseline section applies
FILE = "scan-settings.json"
FORMAT = 1


@dataclass(frozen=True)
class Prepared:
    name: str
    sha256: str
    settings: Settings
    allowlist_revision: str


# The package's own files, read by path: importlib.resources would cost a tenth of the budget, and
# an installation the path does not reach (a zip) only loses the shortcut, not the scan.
PACKAGE = Path(__file__).resolve().parent


def _sources() -> dict[str, str]:
    """sha256 of each packaged file the precompiled settings derive from, by package path."""
    out: dict[str, str] = {}
    for folder, suffix in (("policies", ".yaml"), ("data", "pickle_allowlist.yaml")):
        for f in sorted((PACKAGE / folder).iterdir(), key=lambda p: p.name):
            if f.name.endswith(suffix):
                out[f"{folder}/{f.name}"] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def compile_packaged() -> str:
    """The JSON text of the precompiled settings, from the full policy load (slow; at build time)."""
    from gate.checks.model_files import ModelFilesConfig
    from gate.models.tier import Tier
    from gate.policy import config_for, load_policy, packaged_policies
    from gate.scanner.allowlist import shipped

    policies: dict[str, Any] = {}
    for name in packaged_policies():
        policy = load_policy(name, validate={"model-files"})
        cfg: ModelFilesConfig = config_for(policy.for_tier(Tier(SCAN_TIER)), "model-files")
        policies[name] = {"name": policy.name, "sha256": policy.sha256, "model_files": cfg.model_dump()}
    doc = {
        "format": FORMAT,
        "generated_by": "scripts/gen_docs.py (make docs)",
        "tier": SCAN_TIER,
        "sources": _sources(),
        "allowlist": {
            "revision": shipped().revision,
            "names": sorted(shipped().names),
            "reference_only": sorted(shipped().reference_only),
        },
        "policies": policies,
    }
    return json.dumps(doc, indent=1, sort_keys=True) + "\n"


def prepared(ref: str) -> Prepared | None:
    """The precompiled settings of packaged policy `ref`, or None: not packaged (a policy file is
    never one of the names in the file, and only the full load can validate it), or stale."""
    try:
        doc = json.loads((PACKAGE / "policies" / FILE).read_bytes())
        sources = _sources()
    except (OSError, ValueError):
        return None
    if not isinstance(doc, Mapping) or doc.get("format") != FORMAT or doc.get("tier") != SCAN_TIER:
        return None
    if doc.get("sources") != sources:
        return None
    try:
        entry = doc["policies"][ref]
        allowlist = doc["allowlist"]
        values = entry["model_files"]
        names = frozenset(allowlist["names"]) | frozenset(values["allow_pickle_callables"])
        return Prepared(
            name=str(entry["name"]),
            sha256=str(entry["sha256"]),
            settings=settings_from(values, names, frozenset(allowlist["reference_only"])),
            allowlist_revision=str(allowlist["revision"]),
        )
    except (KeyError, TypeError, ValueError):
        return None  # not the shape this version writes: the full load decides
