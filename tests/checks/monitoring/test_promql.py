from __future__ import annotations

import math
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gate.checks.monitoring.promql import analyse, metric_family, parse_duration, unit_scale


def test_metrics_thresholds_and_kept_label_of_a_latency_quantile() -> None:
    f = analyse(
        'histogram_quantile(0.99, sum by (le, model_version) (rate(req_seconds_bucket{job="m"}[5m]))) > 2',
        "model_version",
    )
    assert f.metrics == {"req_seconds_bucket"}
    assert f.thresholds == [2.0]
    assert f.dropped_by == []
    assert not f.constant


def test_label_names_functions_and_keywords_are_not_metrics() -> None:
    f = analyse(
        'sum by (code) (rate(errors_total{code=~"5.."}[5m])) / ignoring(code) group_left '
        "sum(rate(requests_total[5m])) > 0.05 and on() vector(1)"
    )
    assert f.metrics == {"errors_total", "requests_total"}


def test_aggregations_without_by_and_on_drop_the_label() -> None:
    f = analyse("sum(rate(errors_total[5m])) / sum(rate(requests_total[5m])) > 0.05", "model_version")
    assert len(f.dropped_by) == 2
    assert analyse("max by (model_version)(x) / on(job) y", "model_version").dropped_by == ["on (job)"]
    assert analyse("sum without (model_version) (x)", "model_version").dropped_by
    assert analyse("sum without (instance) (x)", "model_version").dropped_by == []
    # many-to-one matching keeps the labels of the "many" side
    assert analyse("x / on(job) group_left y", "model_version").dropped_by == []
    assert analyse("sum(x) by (model_version)", "model_version").dropped_by == []


def test_constant_expressions_select_no_series() -> None:
    assert analyse("vector(0) > 1").constant
    assert analyse("1 == 0").constant
    assert not analyse("absent(up{job='m'})").constant
    assert analyse('{__name__="model_requests_total"} > 3').metrics == {"model_requests_total"}
    regex = analyse('{__name__=~"model_.*"} > 3')
    assert regex.name_regex and not regex.constant


def test_thresholds_on_either_side_and_non_finite() -> None:
    assert analyse("0.5 < x").thresholds == [0.5]
    assert analyse("x > bool 3").thresholds == [3.0]
    assert analyse("x > -1").thresholds == [-1.0]
    assert math.isinf(analyse("x > +Inf").thresholds[0])
    assert math.isnan(analyse("x > NaN").thresholds[0])
    assert analyse("x > 0.5 * 2").thresholds == []  # not a lone number: no claim about it
    assert analyse("(x > 3)").thresholds == []  # not at the top level
    assert analyse("100 * x / y > 5").percent


def test_durations() -> None:
    assert parse_duration("5m") == 300
    assert parse_duration("1h30m") == 5400
    assert parse_duration("0s") == 0
    assert parse_duration("250ms") == 0.25
    assert parse_duration("1y") == 365 * 86400
    for bad in ("10x", "", "5", "1.5h", "m", "-5m", "5m3h"):
        assert parse_duration(bad) is None, bad


def test_metric_families_and_units() -> None:
    assert "req_seconds" in metric_family("req_seconds_bucket")
    assert "requests" in metric_family("requests_total")
    assert unit_scale("req_duration_seconds_bucket") == 1.0
    assert unit_scale("req_latency_ms") == 0.001
    assert unit_scale("requests_total") is None


def test_huge_expression_is_not_parsed() -> None:
    f = analyse("x + " * 10_000 + "x")
    assert f.too_long and not f.constant


def test_pathological_expression_stays_linear() -> None:
    start = time.perf_counter()
    analyse("(" * 5000 + "x" + ")" * 5000 + " > 1", "model_version")
    analyse('"' + "\\" * 10_000, "model_version")
    assert time.perf_counter() - start < 2


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_never_raises_on_any_text(text: str) -> None:
    f = analyse(text, "model_version")
    assert isinstance(f.metrics, set)


@pytest.mark.parametrize("expr", ["sum(", ")))", "{", "x{a=", "x[5m", "by (", "`unterminated"])
def test_truncated_expressions(expr: str) -> None:
    analyse(expr, "model_version")
