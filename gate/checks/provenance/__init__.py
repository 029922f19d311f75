"""Check `provenance`: the model was built by a trusted pipeline, from pinned inputs (the face:
the check, its settings and rules; the SLSA format itself is `gate.signing.slsa`)."""

from __future__ import annotations

from gate.checks.provenance.check import ProvenanceCheck
from gate.checks.provenance.config import BuilderRule, ProvenanceConfig, SourceRule
from gate.checks.provenance.rules import CHECK, RULES

__all__ = ["CHECK", "RULES", "BuilderRule", "ProvenanceCheck", "ProvenanceConfig", "SourceRule"]
