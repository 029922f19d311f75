"""Alertmanager routing and the OTel collector's pipelines, on realistic files."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gate.checks.configfile import ConfigFileError
from gate.checks.monitoring.alertmanager import compile_regex, parse_alertmanager
from gate.checks.monitoring.otel import parse_otel
from tests.support import DEMO
from tests.support.monitoring import FIX

# These tests check the demo release, whose adversarial check attacks its served endpoint.
pytestmark = pytest.mark.demo_endpoint


def _am(tmp_path: Path, text: str) -> Path:
    (tmp_path / "am.yaml").write_text(text)
    return tmp_path


def test_demo_routing_pages_critical_and_chats_everything() -> None:
    am = parse_alertmanager(DEMO, "monitoring/alertmanager.yaml")
    crit = {
        rec.name
        for _r, rec in am.receivers_for({"alertname": "X", "model": "demo-tiny-gpt2", "severity": "critical"})
    }
    warn = {
        rec.name
        for _r, rec in am.receivers_for({"alertname": "X", "model": "demo-tiny-gpt2", "severity": "warning"})
    }
    other = {rec.name for _r, rec in am.receivers_for({"alertname": "X", "model": "other"})}
    assert crit == {"ml-oncall-pager", "ml-platform-chat"}  # continue: true reaches both
    assert warn == {"ml-platform-chat"}
    assert other == {"ml-platform-chat"}  # the root route's receiver
    assert am.receivers["ml-oncall-pager"].integrations == ["pagerduty_configs"]


def test_routing_semantics_first_match_wins_and_children_inherit(tmp_path: Path) -> None:
    am = parse_alertmanager(
        _am(
            tmp_path,
            """
route:
  receiver: root
  routes:
    - match_re: {service: "model-.*"}
      receiver: models
      routes:
        - matchers: ['severity!="critical"']   # no receiver: inherits 'models'
        - matchers: ['severity=~"crit.*"']
          receiver: pager
    - matchers: ['service="model-a"']
      receiver: never-reached
receivers:
  - {name: root, email_configs: [{to: a@example.com}]}
  - {name: models, email_configs: [{to: b@example.com}]}
  - {name: pager, pagerduty_configs: [{routing_key_file: /k}]}
  - {name: never-reached}
""",
        ),
        "am.yaml",
    )

    def names(labels: dict[str, str]) -> list[str]:
        return [rec.name for _r, rec in am.receivers_for(labels)]

    assert names({"service": "model-a", "severity": "warning"}) == ["models"]
    assert names({"service": "model-a", "severity": "critical"}) == ["pager"]
    assert names({"service": "model-a"}) == ["models"]  # a missing label equals ""
    assert names({"service": "db"}) == ["root"]
    assert names({"service": "xmodel-a"}) == ["root"]  # regexes are anchored


def test_null_receiver_is_recognised() -> None:
    am = parse_alertmanager(FIX, "alertmanager/null-receiver.yaml")
    [(_route, rec)] = am.receivers_for({"alertname": "ModelLatencyHigh"})
    assert rec.name == "blackhole" and rec.is_null


@pytest.mark.parametrize(
    ("fixture", "line", "text"),
    [
        ("alertmanager/undefined-receiver.yaml", 5, "undefined receiver 'pagr'"),
        ("alertmanager/catastrophic-regex.yaml", 5, "nested quantifiers"),
        ("hostile/tabs.yaml", 2, "invalid YAML"),
        ("hostile/two-documents.yaml", None, "expected one YAML document, found 2"),
    ],
)
def test_broken_alertmanager_configs(fixture: str, line: int | None, text: str) -> None:
    with pytest.raises(ConfigFileError) as exc:
        parse_alertmanager(FIX, fixture)
    assert text in exc.value.problem.message
    assert exc.value.problem.line == line


def test_catastrophic_regex_is_refused_quickly() -> None:
    start = time.perf_counter()
    assert isinstance(compile_regex("(a+)+$"), str)
    assert isinstance(compile_regex("(x*)*y"), str)
    assert isinstance(compile_regex("(" * 600 + ")" * 600), str)
    assert not isinstance(compile_regex("Model(Latency|Error)High"), str)
    assert time.perf_counter() - start < 1


def test_billion_laughs_in_an_alertmanager_config_fails_fast() -> None:
    start = time.perf_counter()
    with pytest.raises(ConfigFileError, match="document too large"):
        parse_alertmanager(FIX, "hostile/billion-laughs.yaml")
    assert time.perf_counter() - start < 5


def test_matcher_strings_in_braces_and_quotes(tmp_path: Path) -> None:
    am = parse_alertmanager(
        _am(
            tmp_path,
            """
route:
  receiver: a
  routes:
    - matchers: ['{team="ml", alertname=~"Model.*,x"}']
      receiver: b
receivers: [{name: a, webhook_configs: [{url: https://a}]}, {name: b, webhook_configs: [{url: https://b}]}]
""",
        ),
        "am.yaml",
    )
    assert [r.name for _x, r in am.receivers_for({"team": "ml", "alertname": "ModelX,x"})] == ["b"]
    assert [r.name for _x, r in am.receivers_for({"team": "ml", "alertname": "Other"})] == ["a"]


# OTel -------------------------------------------------------------------------------------------


def test_demo_collector_redacts_every_content_pipeline_and_sets_the_version() -> None:
    otel = parse_otel(DEMO, "monitoring/otel-collector.yaml")
    content = [p for p in otel.pipelines if p.signal in ("logs", "traces")]
    assert len(content) == 2 and all(otel.redacted(p) for p in content)
    assert otel.redaction_reason("transform/pii-in-bodies") == "transform processor using replace_pattern"
    assert otel.sets_label("model_version") == ["resource/model-version"]
    assert otel.insecure_exporters() == []


def test_unredacted_pipeline() -> None:
    otel = parse_otel(FIX, "otel/unredacted.yaml")
    logs = next(p for p in otel.pipelines if p.id == "logs")
    assert not otel.redacted(logs)
    assert logs.line == 18


def test_redaction_through_a_connector() -> None:
    otel = parse_otel(FIX, "otel/connector-redacted.yaml")
    out = next(p for p in otel.pipelines if p.id == "logs/out")
    assert otel.exports_out(out) == ["otlphttp/logs"]
    assert otel.redacted(out)
    assert otel.sets_label("model_version") == ["resource/model-version"]


def test_redaction_processor_that_allows_everything_does_not_count(tmp_path: Path) -> None:
    (tmp_path / "o.yaml").write_text(
        """
receivers: {otlp: {protocols: {grpc: {}}}}
processors:
  redaction: {allow_all_keys: true}
exporters: {otlphttp: {endpoint: "https://x"}}
service: {pipelines: {logs: {receivers: [otlp], processors: [redaction], exporters: [otlphttp]}}}
"""
    )
    otel = parse_otel(tmp_path, "o.yaml")
    assert not otel.redacted(otel.pipelines[0])


def test_undefined_processor_names_the_line() -> None:
    with pytest.raises(ConfigFileError) as exc:
        parse_otel(FIX, "otel/undefined-processor.yaml")
    assert exc.value.problem.line == 14
    assert "'redaction/pii' is not defined under `processors`" in exc.value.problem.message


def test_insecure_exporter() -> None:
    otel = parse_otel(FIX, "otel/insecure.yaml")
    assert [(c.id, why) for c, why in otel.insecure_exporters()] == [("otlp/logs", "tls.insecure: true")]
