"""The checklist, the docs generated from it, the policies, and fuzzing of every parser."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gate.checks.configfile import ConfigFileError
from gate.checks.deployment.load import load_serving
from gate.checks.deployment.serving_yaml import ServingFile
from gate.checks.monitoring import MonitoringConfig, evaluators
from gate.checks.monitoring.alertmanager import parse_alertmanager
from gate.checks.monitoring.controls import checklist, controls_table
from gate.checks.monitoring.otel import parse_otel
from gate.checks.monitoring.prometheus import parse_rule_file
from gate.checks.monitoring.spec import MonitoringSpec
from gate.policy import load_policy
from gate.risk import Tier
from tests.support import ROOT

DOC = ROOT / "docs" / "monitoring-and-deployment.md"


def test_every_control_has_an_evaluator_and_unique_stable_ids() -> None:
    data = checklist()
    assert [c.id for c in data.controls] == [f"MC-{i:02d}" for i in range(1, len(data.controls) + 1)]
    assert {c.name for c in data.controls} == set(evaluators())
    assert {c.section for c in data.controls} == set(data.sections)


def test_the_docs_table_is_the_data_file() -> None:
    text = DOC.read_text("utf-8")
    m = re.search(r"<!-- BEGIN GENERATED: controls -->\n(.*?)\n<!-- END GENERATED: controls -->", text, re.S)
    assert m, "docs/monitoring-and-deployment.md lost its generated controls table"
    assert m.group(1) == controls_table(), (
        "the checklist changed: paste the output of "
        "`python -c 'from gate.checks.monitoring.controls import controls_table; print(controls_table())'`"
    )


def _fields(model: type, prefix: str = "") -> set[str]:
    out: set[str] = set()
    for name, info in model.model_fields.items():  # type: ignore[attr-defined]
        out.add(prefix + name)
        ann = info.annotation
        for inner in getattr(ann, "__args__", ()) or (ann,):
            if isinstance(inner, type) and hasattr(inner, "model_fields"):
                out |= _fields(inner, f"{prefix}{name}.")
    return out


@pytest.mark.parametrize("model", [MonitoringSpec, ServingFile])
def test_every_field_of_our_formats_is_documented(model: type) -> None:
    text = DOC.read_text("utf-8")
    for dotted in _fields(model):
        leaf = dotted.rsplit(".", 1)[-1]
        documented = (f"`{dotted}`", f"`{dotted}.", f"{leaf}:", f"`{leaf}`")
        assert any(d in text for d in documented), dotted


def test_every_rule_is_in_the_docs() -> None:
    from gate.checks.deployment import RULES as DE
    from gate.checks.monitoring import RULES as MO

    text = DOC.read_text("utf-8")
    for r in (*MO, *DE):
        assert f"`{r.name}`" in text, r.name


def test_default_policy_optional_below_medium_required_from_medium() -> None:
    p = load_policy("default")
    for tier in Tier:
        tp = p.for_tier(tier)
        required = {"monitoring", "deployment"} <= set(tp.required)
        if tier in (Tier.MEDIUM, Tier.HIGH, Tier.CRITICAL):
            assert required, tier
        else:
            assert not required and {"monitoring", "deployment"} <= set(tp.optional), tier
    strict = load_policy("strict").for_tier(Tier.LOW)
    assert {"monitoring", "deployment"} <= set(strict.required)
    cfg = MonitoringConfig.model_validate(load_policy("strict").for_tier(Tier.HIGH).checks["monitoring"])
    assert cfg.max_latency_threshold_s == 10 and "input-drift" in cfg.required_controls


def test_unknown_control_in_a_policy_is_a_lint_error(tmp_path: Path) -> None:
    from gate.policy import lint

    p = tmp_path / "p.yaml"
    p.write_text(
        "version: 1\nname: p\ndefaults:\n  checks:\n    monitoring:\n      required_controls: [MC-99]\n"
    )
    [problem] = lint(p)
    assert "unknown monitoring control 'MC-99'" in problem and ":6:" in problem


# fuzzing: any YAML-shaped input gives a parsed object or a ConfigFileError, nothing else -------

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True), st.text(max_size=12)
)
_keys = st.sampled_from(
    [
        "groups", "name", "rules", "alert", "record", "expr", "for", "labels", "annotations", "route",
        "receiver", "routes", "matchers", "match_re", "continue", "receivers", "slack_configs", "service",
        "pipelines", "processors", "exporters", "logs", "apiVersion", "kind", "metadata", "spec",
        "template", "containers", "image", "env", "value", "args", "version", "model", "endpoint",
    ]
)  # fmt: skip
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_keys, inner, max_size=5)),
    max_leaves=25,
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.dictionaries(_keys, _values, max_size=6))
def test_parsers_never_crash(tmp_path: Path, data: dict[str, object]) -> None:
    text = yaml.safe_dump(data, allow_unicode=True)
    (tmp_path / "f.yaml").write_text(text, "utf-8")
    for parse in (parse_rule_file, parse_alertmanager, parse_otel):
        try:
            parse(tmp_path, "f.yaml")
        except ConfigFileError as exc:
            assert exc.problem.path == "f.yaml" and exc.problem.message
    view = load_serving(tmp_path, ["f.yaml"])
    assert all(p.path == "f.yaml" and p.message for p in view.problems)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=300))
def test_parsers_never_crash_on_bytes(tmp_path: Path, raw: bytes) -> None:
    (tmp_path / "f.yaml").write_bytes(raw)
    for parse in (parse_rule_file, parse_alertmanager, parse_otel):
        with contextlib.suppress(ConfigFileError):
            parse(tmp_path, "f.yaml")
    load_serving(tmp_path, ["f.yaml"])


@pytest.mark.parametrize("cut", [10, 200, 700, 1500])
def test_truncated_demo_files_are_findings(tmp_path: Path, cut: int) -> None:
    """The demo's real files cut short: parsed or refused with a problem, never a crash."""
    demo = ROOT / "examples" / "demo-release"
    for rel, parse in (
        ("monitoring/alerts.yaml", parse_rule_file),
        ("monitoring/alertmanager.yaml", parse_alertmanager),
        ("monitoring/otel-collector.yaml", parse_otel),
    ):
        (tmp_path / "f.yaml").write_bytes((demo / rel).read_bytes()[:cut])
        try:
            parse(tmp_path, "f.yaml")
        except ConfigFileError as exc:
            assert exc.problem.message
    (tmp_path / "k.yaml").write_bytes((demo / "deploy/kubernetes.yaml").read_bytes()[:cut])
    load_serving(tmp_path, ["k.yaml"])


def test_deeply_nested_yaml_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f.yaml").write_text("route: " + "[" * 200 + "]" * 200 + "\n")
    with pytest.raises(ConfigFileError, match=r"nesting deeper|nesting too deep"):
        parse_alertmanager(tmp_path, "f.yaml")
