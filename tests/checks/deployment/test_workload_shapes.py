"""Every kind that runs a pod template is checked: found by shape, Lists expanded.

Each manifest runs one privileged container; the benign twin is the same object without
`privileged`. Kinds the gate does not know are checked by the shape of their pod specs and
reported (GATE-DE015), never skipped.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from gate.checks.interface import CheckOutcome
from tests.support.monitoring import demo_with, of, run_check

CONTAINER = """\
- name: server
  image: ghcr.io/example/server@sha256:{digest}
  securityContext: {{privileged: {privileged}}}
  resources: {{limits: {{cpu: "1", memory: 1Gi}}}}
"""


def containers(indent: int, privileged: bool) -> str:
    text = CONTAINER.format(digest="a" * 64, privileged=str(privileged).lower())
    return textwrap.indent(text, " " * indent)


def template(indent: int, privileged: bool) -> str:
    """A pod template (metadata + spec with containers) at `indent`."""
    pad = " " * indent
    return f"{pad}metadata: {{labels: {{app: m}}}}\n{pad}spec:\n{pad}  containers:\n" + containers(
        indent + 4, privileged
    )


MANIFESTS = {
    "Pod": lambda p: (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: m}\nspec:\n  containers:\n" + containers(4, p)
    ),
    "Deployment": lambda p: (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: m}\nspec:\n  template:\n" + template(4, p)
    ),
    "StatefulSet": lambda p: (
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: m}\nspec:\n  template:\n" + template(4, p)
    ),
    "DaemonSet": lambda p: (
        "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: m}\nspec:\n  template:\n" + template(4, p)
    ),
    "ReplicaSet": lambda p: (
        "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: m}\nspec:\n  template:\n" + template(4, p)
    ),
    "Job": lambda p: (
        "apiVersion: batch/v1\nkind: Job\nmetadata: {name: m}\nspec:\n  template:\n" + template(4, p)
    ),
    "CronJob": lambda p: (
        "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: m}\nspec:\n"
        "  schedule: '* * * * *'\n  jobTemplate:\n    spec:\n      template:\n" + template(8, p)
    ),
    "Rollout": lambda p: (
        "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: m}\n"
        "spec:\n  strategy: {canary: {}}\n  template:\n" + template(4, p)
    ),
    "KnativeService": lambda p: (
        "apiVersion: serving.knative.dev/v1\nkind: Service\n"
        "metadata: {name: m}\nspec:\n  template:\n" + template(4, p)
    ),
    "InferenceService": lambda p: (
        "apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\n"
        "metadata: {name: m}\nspec:\n  predictor:\n    containers:\n" + containers(6, p)
    ),
    "NestedList": lambda p: (
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: List\n"
        "  items:\n  - apiVersion: apps/v1\n    kind: Deployment\n    metadata: {name: m}\n    spec:\n"
        "      template:\n" + template(8, p)
    ),
}
CUSTOM = lambda p: (  # noqa: E731 - a custom kind embedding pod specs deep inside
    "apiVersion: example.com/v1\nkind: ModelServer\nmetadata: {name: m}\nspec:\n  stages:\n"
    "  - name: one\n    podTemplate:\n" + template(6, p)
)


def deployment(tmp_path: Path, text: str) -> CheckOutcome:
    rel = demo_with(tmp_path, {"deploy/kubernetes.yaml": text})
    return run_check(rel, "deployment")


@pytest.mark.parametrize("kind", sorted(MANIFESTS))
def test_every_pod_running_kind_is_checked(tmp_path: Path, kind: str) -> None:
    out = deployment(tmp_path / "bad", MANIFESTS[kind](True))
    assert of(out, "privileged-container"), [f.title for f in out.findings]
    assert not of(out, "workload-kind-unrecognised")
    twin = deployment(tmp_path / "good", MANIFESTS[kind](False))
    assert not of(twin, "privileged-container")
    assert not of(twin, "serving-manifest-invalid")


def test_an_unknown_kind_holding_containers_is_checked_and_reported(tmp_path: Path) -> None:
    out = deployment(tmp_path / "bad", CUSTOM(True))
    assert of(out, "privileged-container")
    (unknown,) = of(out, "workload-kind-unrecognised")
    assert "example.com/v1 ModelServer m" in unknown.title
    twin = deployment(tmp_path / "good", CUSTOM(False))
    assert not of(twin, "privileged-container")
    assert of(twin, "workload-kind-unrecognised")  # judged by shape is still said
    # A kind without containers stays ignored, without a finding.
    plain = deployment(
        tmp_path / "plain", "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {a: 1}\n"
    )
    assert not of(plain, "workload-kind-unrecognised")
    assert "Widget" in plain.details["ignored_kinds"]


def test_lists_nested_too_deep_are_a_problem(tmp_path: Path) -> None:
    text = "apiVersion: v1\nkind: Pod\nmetadata: {name: m}\nspec:\n  containers:\n" + containers(4, True)
    for _ in range(10):  # each round wraps the document in one more List
        body = textwrap.indent(text, "  ")
        text = "apiVersion: v1\nkind: List\nitems:\n-" + body[1:]
    out = deployment(tmp_path, text)
    assert any("nested more than" in f.title for f in of(out, "serving-manifest-invalid"))


def test_a_knative_service_is_a_public_route_unless_cluster_local(tmp_path: Path) -> None:
    out = deployment(tmp_path / "pub", MANIFESTS["KnativeService"](False))
    routes = [e for e in out.details["endpoints"] if "Knative" in str(e)]
    assert routes, out.details["endpoints"]
    assert of(out, "endpoint-without-auth") and of(out, "exposed-endpoint-without-tls")
    local_only = "metadata: {name: m, labels: {networking.knative.dev/visibility: cluster-local}}"
    local = MANIFESTS["KnativeService"](False).replace("metadata: {name: m}", local_only, 1)
    out = deployment(tmp_path / "local", local)
    assert not of(out, "exposed-endpoint-without-tls")
