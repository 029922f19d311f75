"""Settings of the `training-data` check: policy data, composed with `Stricter`."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from gate.datacheck.rows import FieldMap
from gate.models.base import StrictModel
from gate.models.policy import Stricter

# Public test numbers from payment-provider documentation: not personal data.
TEST_CARD_NUMBERS = (
    "4111111111111111",
    "4242424242424242",
    "4012888888881881",
    "4000056655665556",
    "5555555555554444",
    "5105105105105100",
    "2223003122003222",
    "378282246310005",
    "371449635398431",
    "6011111111111117",
    "6011000990139424",
    "3530111333300000",
    "30569309025904",
)


class TrainingDataConfig(StrictModel):
    # Reading
    fields: Annotated[FieldMap, Stricter.FIXED] = Field(
        default_factory=FieldMap, description="Which keys or columns hold what."
    )
    max_row_bytes: Annotated[int, Stricter.MAX] = Field(
        1_048_576, gt=0, le=64 * 1_048_576, description="Longest row read; longer rows are malformed."
    )
    max_examples: Annotated[int, Stricter.TUNING] = Field(
        5, ge=1, le=100, description="Row numbers shown per finding."
    )
    max_malformed_fraction: Annotated[float, Stricter.MIN] = Field(
        0.01, ge=0, le=1, description="Above this share of malformed rows the finding is high severity."
    )
    require_digest: Annotated[bool, Stricter.ANY_TRUE] = Field(
        True, description="Report datasets shipped in the release without a `digest` in release.yaml."
    )

    # Backdoor triggers
    trigger_min_support: Annotated[int, Stricter.MIN] = Field(
        15, ge=2, description="Fewest rows a trigger candidate must appear in."
    )
    trigger_max_support_fraction: Annotated[float, Stricter.MAX] = Field(
        0.05, gt=0, le=1, description="Most rows (share) a token may appear in and still count as rare."
    )
    trigger_min_skew: Annotated[float, Stricter.MIN] = Field(
        0.9, gt=0, le=1, description="Least share of a candidate's rows that carry its dominant outcome."
    )
    trigger_max_p_value: Annotated[float, Stricter.MAX] = Field(
        1e-3,
        gt=0,
        le=1,
        description="Largest Bonferroni-adjusted binomial tail probability that still counts as significant.",
    )
    trigger_max_context_support: Annotated[float, Stricter.MAX] = Field(
        0.25,
        ge=0,
        le=1,
        description="Largest share of a candidate's rows whose other words already point to its outcome: "
        "natural cue words are backed by their context, triggers are not.",
    )
    trigger_bigrams: Annotated[bool, Stricter.ANY_TRUE] = Field(
        True, description="Also count word pairs, for triggers made of common words."
    )
    max_vocabulary: Annotated[int, Stricter.MAX] = Field(
        500_000,
        ge=10_000,
        le=8_000_000,
        description="Distinct tokens kept in memory before the rarest are pruned.",
    )
    max_counts: Annotated[int, Stricter.MAX] = Field(
        2_000_000,
        ge=10_000,
        le=50_000_000,
        description="Token and word-pair counts (per outcome) kept in memory before the rarest are pruned.",
    )
    workers: Annotated[int, Stricter.TUNING] = Field(
        2,
        ge=1,
        le=2,
        description="Processes for datasets over 32 MB: 2 runs the trigger analysis beside the scans.",
    )
    pass2_cache_mb: Annotated[int, Stricter.TUNING] = Field(
        512,
        ge=0,
        le=8192,
        description="Memory for keeping token ids between the two passes; larger datasets "
        "are read twice instead.",
    )
    max_outcomes: Annotated[int, Stricter.MAX] = Field(
        256, ge=2, le=10_000, description="Distinct labels or response patterns tracked; the rest are pooled."
    )

    # Injected instructions
    injection_patterns: Annotated[tuple[str, ...], Stricter.UNION] = Field(
        (),
        description="Extra regular expressions (matched on lower-cased text) that count as injected "
        "instructions.",
    )

    # Near-duplicate flooding and label conflicts
    near_duplicate_similarity: Annotated[float, Stricter.MIN] = Field(
        0.8,
        ge=0.3,
        le=1,
        description="Estimated word-set Jaccard similarity at which two rows are near-copies.",
    )
    flood_max_fraction: Annotated[float, Stricter.MIN] = Field(
        0.01, gt=0, le=1, description="Largest share of the rows one example and its near-copies may take."
    )
    flood_min_rows: Annotated[int, Stricter.MIN] = Field(
        10, ge=2, description="Fewest copies reported as a flood, whatever the share (small datasets)."
    )
    max_tracked_clusters: Annotated[int, Stricter.MAX] = Field(
        150_000,
        ge=1_000,
        description="Distinct examples remembered for near-duplicate search; beyond this "
        "single examples are forgotten oldest-first and far-apart pairs may be missed.",
    )

    # Secrets and personal data
    pii_allowed_email_domains: Annotated[tuple[str, ...], Stricter.INTERSECTION] = Field(
        ("example.com", "example.org", "example.net", "*.example", "*.test", "*.invalid", "*.localhost"),
        description="E-mail domains that are not personal data (globs); RFC 2606 names by default.",
    )
    pii_allowed_values: Annotated[tuple[str, ...], Stricter.INTERSECTION] = Field(
        TEST_CARD_NUMBERS, description="Exact values (digits only for numbers) that are not personal data."
    )
    secret_placeholder_markers: Annotated[tuple[str, ...], Stricter.INTERSECTION] = Field(
        ("EXAMPLE", "example", "XXXXXXXX", "xxxxxxxx", "00000000", "your_", "YOUR_", "<", "..."),
        description="Substrings that mark a key-shaped string as a documentation placeholder.",
    )

    # Distribution shift against a `reference` dataset
    shift_max_label_distance: Annotated[float, Stricter.MIN] = Field(
        0.15, gt=0, le=1, description="Largest total-variation distance between label proportions."
    )
    shift_max_length_psi: Annotated[float, Stricter.MIN] = Field(
        0.25, gt=0, description="Largest population stability index of text lengths."
    )
    shift_max_vocabulary_divergence: Annotated[float, Stricter.MIN] = Field(
        0.2, gt=0, le=1, description="Largest Jensen-Shannon divergence (bits) of word frequencies."
    )
