"""A Kubernetes manifest file into the serving view: each object read by its kind, then linked
(mesh policies to workloads, Services to the pods they select, Ingresses to their Services)."""

from __future__ import annotations

from pathlib import Path

from gate.checks.configfile import ConfigFileError, Problem, load_all
from gate.checks.deployment.kubernetes.endpoints import (
    read_ingress,
    read_mesh_policy,
    read_monitor,
    read_plain_values,
    read_service,
    same_namespace,
    selects,
)
from gate.checks.deployment.kubernetes.objects import KubeObject, expand, mapping_at
from gate.checks.deployment.kubernetes.workloads import known_workload_kind, pod_specs, read_workload
from gate.checks.deployment.view import Endpoint, ServingView
from gate.yamlsafe import YamlDoc

IGNORED_KINDS = frozenset(
    {
        "Namespace",
        "ServiceAccount",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "Role",
        "RoleBinding",
        "ClusterRole",
        "ClusterRoleBinding",
        "PersistentVolumeClaim",
        "RequestAuthentication",
        "LimitRange",
        "ResourceQuota",
        "PriorityClass",
    }
)
# Kinds read for what they are (never workloads, whatever they hold).
NOT_WORKLOADS = frozenset(
    {"Service", "Ingress", "AuthorizationPolicy", "PeerAuthentication", "ServiceMonitor", "PodMonitor"}
    | {"ConfigMap", "Secret"}
)


def parse_kubernetes(root: Path, rel: str, docs: list[YamlDoc] | None = None) -> ServingView:
    """Every object of a manifest file, linked: Services and Ingresses to the workloads they reach."""
    view = ServingView(files=[rel])
    docs = docs if docs is not None else load_all(root, rel, allow_aliases=True)
    objects: list[KubeObject] = []
    for doc in docs:
        objects += expand(doc, rel)
    add_objects(view, objects)
    return view


def add_objects(view: ServingView, objects: list[KubeObject]) -> None:
    pending_services: list[tuple[Endpoint, dict[str, str], str | None]] = []
    pending_ingress: list[tuple[Endpoint, list[str], str | None]] = []
    mesh_auth: list[tuple[dict[str, str], str | None, str]] = []
    mesh_tls: list[tuple[dict[str, str], str | None, str]] = []
    for d in objects:
        if not isinstance(d.data.get("apiVersion"), str) or not isinstance(d.data.get("kind"), str):
            raise ConfigFileError(
                Problem(
                    d.rel,
                    d.doc.line_of(d.prefix),
                    "not a Kubernetes object: `apiVersion` and `kind` are required",
                )
            )
        mapping_at(d, "metadata")
        kind = d.kind
        api = d.data["apiVersion"]
        known = known_workload_kind(api, kind)
        specs = pod_specs(d.data) if known or kind not in NOT_WORKLOADS else []
        if known or specs:
            read_workload(d, view, specs)
            if not known:
                # Judged by shape: say so, a custom kind may run its pods in ways we do not know.
                view.shape_workloads.append((f"{api} {kind}", d.name, d.object_where()))
        elif kind == "Service":
            read_service(d, view, pending_services)
        elif kind == "Ingress":
            read_ingress(d, view, pending_ingress)
        elif kind in ("AuthorizationPolicy", "PeerAuthentication"):
            read_mesh_policy(d, mesh_auth, mesh_tls)
        elif kind in ("ServiceMonitor", "PodMonitor"):
            read_monitor(d, view)
        elif kind in ("ConfigMap", "Secret"):
            read_plain_values(d, view)
        else:
            view.ignored_kinds.append(kind)
    for w in view.workloads:
        for selector, ns, what in mesh_auth:
            if same_namespace(ns, w.namespace) and (not selector or selects(selector, w.labels)):
                w.auth.append(what)
        for selector, ns, what in mesh_tls:
            if same_namespace(ns, w.namespace) and (not selector or selects(selector, w.labels)):
                w.tls.append(what)
    by_name: dict[tuple[str, str], Endpoint] = {}
    for ep, selector, ns in pending_services:
        ep.targets = [
            w for w in view.workloads if same_namespace(ns, w.namespace) and selects(selector, w.labels)
        ]
        by_name[(ns or "default", ep.name)] = ep
    for ep, services, ns in pending_ingress:
        for s in services:
            svc = by_name.get((ns or "default", s))
            if svc is not None:
                ep.targets += [t for t in svc.targets if t not in ep.targets]
    for w in view.workloads:
        for c in w.containers:
            for port, where in c.host_ports:
                view.endpoints.append(
                    Endpoint("hostPort", f"{w.name}/{c.name}:{port}", where, True, "container hostPort", [w])
                )
