"""Check `model-signature`: every model file is exactly what a trusted signer signed (the face:
the check, its settings and rules; the model-signing format itself is
`gate.signing.model_format`)."""

from __future__ import annotations

from gate.checks.model_signature.check import ModelSignatureCheck, ModelSignatureConfig, sensitive_kind
from gate.checks.model_signature.rules import CHECK, RULES

__all__ = ["CHECK", "RULES", "ModelSignatureCheck", "ModelSignatureConfig", "sensitive_kind"]
