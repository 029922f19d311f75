from __future__ import annotations

import pytest

from gate.models.manifest import Manifest
from gate.risk import Tier, score, tables


def manifest(**deployment: object) -> Manifest:
    base: dict[str, object] = {"exposure": "internal", "data_sensitivity": "none", "autonomy": "advisory"}
    base.update(deployment)
    return Manifest.model_validate(
        {
            "name": "m",
            "version": "1",
            "model": {"path": "m/", "format": "safetensors", "task": "text-classification"},
            "deployment": base,
        }
    )


def test_low_tier_and_factor_contributions() -> None:
    t = score(manifest())
    assert t.level is Tier.LOW
    assert t.score == sum(f.points for f in t.factors) == 0
    assert t.eu_ai_act == "minimal"


@pytest.mark.parametrize(
    ("deployment", "tier"),
    [
        ({"exposure": "public"}, Tier.LOW),
        ({"exposure": "public", "data_sensitivity": "personal"}, Tier.MEDIUM),
        ({"exposure": "public", "data_sensitivity": "personal", "autonomy": "autonomous"}, Tier.HIGH),
        (
            {
                "exposure": "public",
                "data_sensitivity": "special-category",
                "autonomy": "autonomous",
                "safety_critical": True,
            },
            Tier.CRITICAL,
        ),
    ],
)
def test_factor_score_thresholds(deployment: dict[str, object], tier: Tier) -> None:
    t = score(manifest(**deployment))
    assert t.level is tier, t
    for f in t.factors:
        table = getattr(tables().factors, f.name)
        if isinstance(table, dict):
            assert table[f.value] == f.points


def test_annex_iii_floor_and_prohibited() -> None:
    high = score(manifest(domains=["employment"]))
    assert high.level is Tier.HIGH and high.eu_ai_act == "high-risk"
    assert any("Annex III(4)" in r for r in high.rationale)
    # A floor never lowers a tier the factors already reached.
    crit = score(
        manifest(
            domains=["employment"],
            exposure="public",
            data_sensitivity="special-category",
            autonomy="autonomous",
            safety_critical=True,
        )
    )
    assert crit.level is Tier.CRITICAL
    banned = score(manifest(domains=["employment", "social-scoring"]))
    assert banned.level is Tier.PROHIBITED and banned.prohibited_practices == ("social-scoring",)


def test_user_scale_and_generative() -> None:
    small = score(manifest(user_scale=10))
    big = score(manifest(user_scale=50_000_000))
    assert {f.name: f.points for f in big.factors}["user_scale"] == tables().factors.user_scale.above
    assert big.score > small.score
    gen = Manifest.model_validate(
        {
            **manifest().model_dump(mode="json"),
            "model": {"path": "m/", "format": "gguf", "task": "text-generation"},
        }
    )
    assert {f.name: f.value for f in score(gen).factors}["generative"] == "true"
    assert score(gen).eu_ai_act == "limited"
