"""The `provenance` check's policy settings: trusted signers, builders, sources and pins."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from gate.models.base import StrictModel
from gate.models.policy import Stricter
from gate.signing.model_format import GIT_PATHS
from gate.signing.trust import TrustSettings


class BuilderRule(StrictModel):
    id: str = Field(min_length=1, description="Builder id, exact or a glob (`*`).")
    level: int = Field(ge=0, le=3, description="The SLSA build level the organisation rates this builder at.")


class SourceRule(StrictModel):
    repository: str = Field(min_length=1, description="Repository URL, exact or a glob.")
    refs: tuple[str, ...] = Field(min_length=1, description="Allowed refs (globs), e.g. refs/heads/main.")


class ProvenanceConfig(TrustSettings):
    allowed_builders: Annotated[tuple[BuilderRule, ...], Stricter.SUBSET] = Field(
        (), description="Builders allowed to produce releases, with their SLSA build level."
    )
    allowed_sources: Annotated[tuple[SourceRule, ...], Stricter.SUBSET] = Field(
        (), description="Source repositories and refs releases may be built from."
    )
    min_build_level: Annotated[int, Stricter.MAX] = Field(
        1, ge=0, le=3, description="Lowest SLSA build level accepted (set per tier)."
    )
    allowed_base_model_sources: Annotated[tuple[str, ...], Stricter.INTERSECTION] = Field(
        (), description="URI globs base models may come from, e.g. hf://meta-llama/*."
    )
    pin_algorithms: Annotated[tuple[str, ...], Stricter.INTERSECTION] = Field(
        ("sha256", "sha384", "sha512"), description="Digest algorithms that count as pinning."
    )
    allowed_ignore_paths: Annotated[tuple[str, ...], Stricter.INTERSECTION] = Field(
        GIT_PATHS,
        description="Model-relative paths left out of the model's root digest (as model-signature allows).",
    )
