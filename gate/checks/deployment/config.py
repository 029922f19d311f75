"""The policy settings of the `deployment` check (its section under `checks.deployment`)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from gate.checks.deployment.view import AUTH_ANNOTATION, MODEL_DIGEST_ANNOTATION
from gate.models.base import StrictModel
from gate.models.policy import Stricter

DEFAULT_SECRET_NAMES = (
    "*_KEY",
    "*APIKEY*",
    "*API_KEY*",
    "*TOKEN*",
    "*PASSWORD*",
    "*PASSWD*",
    "*SECRET*",
    "*CREDENTIAL*",
    "*PRIVATE_KEY*",
)


class DeploymentConfig(StrictModel):
    require_auth: Annotated[bool, Stricter.ANY_TRUE] = Field(
        True, description="Every model endpoint needs authentication."
    )
    accept_declared_auth: Annotated[bool, Stricter.ALL_TRUE] = Field(
        True, description=f"Whether the `{AUTH_ANNOTATION}` annotation counts as authentication evidence."
    )
    required_limits: Annotated[tuple[str, ...], Stricter.UNION] = Field(
        ("cpu", "memory"), description="Resource limits every container must set."
    )
    allowed_host_paths: Annotated[tuple[str, ...], Stricter.INTERSECTION] = Field(
        (), description="Host paths a pod may mount after review."
    )
    allowed_capabilities: Annotated[tuple[str, ...], Stricter.INTERSECTION] = Field(
        ("NET_BIND_SERVICE",), description="Linux capabilities a container may add."
    )
    secret_name_patterns: Annotated[tuple[str, ...], Stricter.UNION] = Field(
        DEFAULT_SECRET_NAMES, description="Variable names (globs, case-insensitive) whose values are secrets."
    )
    secret_min_length: Annotated[int, Stricter.MIN] = Field(
        20, ge=8, description="Shortest nameless value judged by its entropy."
    )
    secret_min_entropy: Annotated[float, Stricter.MIN] = Field(
        4.0,
        gt=0,
        le=8,
        description="Shannon entropy (bits per character) from which a value counts as random.",
    )
    require_model_digest: Annotated[bool, Stricter.ANY_TRUE] = Field(
        True, description=f"A serving workload must carry `{MODEL_DIGEST_ANNOTATION}`."
    )
