"""Kubernetes endpoints and what guards them: Services and Ingresses (TLS, authentication, rate
limits), Istio policies, metric monitors, and the plain values of ConfigMaps and Secrets."""

from __future__ import annotations

from typing import Any

from gate.checks.deployment.kubernetes.objects import KubeObject, fail, list_at, mapping_at, strings_at
from gate.checks.deployment.view import (
    AUTH_ANNOTATION,
    RATE_LIMIT_ANNOTATION,
    Endpoint,
    PlainValue,
    ServingView,
)

# Ingress annotations that put authentication in front of the backend.
INGRESS_AUTH_ANNOTATIONS = {
    "nginx.ingress.kubernetes.io/auth-url": "nginx external authentication",
    "nginx.ingress.kubernetes.io/auth-type": "nginx basic/digest authentication",
    "nginx.ingress.kubernetes.io/auth-tls-verify-client": "nginx client certificates (mTLS)",
    "alb.ingress.kubernetes.io/auth-type": "AWS ALB OIDC/Cognito authentication",
    "haproxy.org/auth-type": "HAProxy authentication",
    "ingress.kubernetes.io/auth-type": "ingress authentication",
    "konghq.com/plugins": "Kong plugins",
    "traefik.ingress.kubernetes.io/router.middlewares": "Traefik middlewares",
}
INGRESS_RATE_LIMIT_ANNOTATIONS = (
    "nginx.ingress.kubernetes.io/limit-rps",
    "nginx.ingress.kubernetes.io/limit-rpm",
    "nginx.ingress.kubernetes.io/limit-connections",
    "nginx.ingress.kubernetes.io/global-rate-limit",
    "haproxy.org/rate-limit-requests",
)
SERVICE_TLS_ANNOTATIONS = (
    "service.beta.kubernetes.io/aws-load-balancer-ssl-cert",
    "service.beta.kubernetes.io/oci-load-balancer-ssl-ports",
    "service.beta.kubernetes.io/azure-load-balancer-tls",
)
_AUTH_WORDS = ("auth", "oidc", "jwt", "key-auth", "basic-auth", "oauth")
_RATE_WORDS = ("ratelimit", "rate-limit", "rate_limit", "rate-limiting")


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def same_namespace(a: str | None, b: str | None) -> bool:
    return (a or "default") == (b or "default")


def read_service(
    d: KubeObject, view: ServingView, pending: list[tuple[Endpoint, dict[str, str], str | None]]
) -> None:
    stype = str(d.get("spec", "type") or "ClusterIP")
    annotations = strings_at(d, "metadata", "annotations")
    exposed = stype in ("LoadBalancer", "NodePort")
    ep = Endpoint(
        kind="Service",
        name=d.name,
        where=d.object_where(),
        exposed=exposed,
        exposure=f"Service of type {stype}",
    )
    for key in SERVICE_TLS_ANNOTATIONS:
        if annotations.get(key):
            ep.tls.append(f"load balancer TLS ({key})")
    for i, p in enumerate(list_at(d, "spec", "ports")):
        if isinstance(p, dict) and str(p.get("appProtocol", "")).lower() in (
            "https",
            "grpcs",
            "kubernetes.io/h2c-tls",
        ):
            ep.tls.append(f"port {p.get('port')} appProtocol {p.get('appProtocol')}")
        elif not isinstance(p, dict):
            raise fail(d, ("spec", "ports", i), "expected a mapping")
    for key, what in INGRESS_AUTH_ANNOTATIONS.items():
        if key in annotations:
            ep.auth.append(f"{what} ({key})")
    pending.append((ep, strings_at(d, "spec", "selector"), d.namespace))
    view.endpoints.append(ep)


def read_ingress(
    d: KubeObject, view: ServingView, backends: list[tuple[Endpoint, list[str], str | None]]
) -> None:
    annotations = strings_at(d, "metadata", "annotations")
    ep = Endpoint(kind="Ingress", name=d.name, where=d.object_where(), exposed=True, exposure="Ingress")
    tls_hosts: set[str] = set()
    tls_any_hostless = False
    for i, t in enumerate(list_at(d, "spec", "tls")):
        if not isinstance(t, dict):
            raise fail(d, ("spec", "tls", i), "expected a mapping")
        entry_hosts = t.get("hosts") or []
        if not entry_hosts:
            tls_any_hostless = True
        tls_hosts.update(str(h) for h in entry_hosts)
    services: list[str] = []
    hosts: list[str] = []
    default = d.get("spec", "defaultBackend", "service", "name")
    if isinstance(default, str):
        services.append(default)
    for i, rule in enumerate(list_at(d, "spec", "rules")):
        if not isinstance(rule, dict):
            raise fail(d, ("spec", "rules", i), "expected a mapping")
        hosts.append(str(rule.get("host") or "*"))
        for j, p in enumerate(list_at(d, "spec", "rules", i, "http", "paths")):
            name = d.get("spec", "rules", i, "http", "paths", j, "backend", "service", "name")
            if isinstance(name, str):
                services.append(name)
            elif not isinstance(p, dict):
                raise fail(d, ("spec", "rules", i, "http", "paths", j), "expected a mapping")
    if tls_hosts or tls_any_hostless:
        ep.tls.append("Ingress spec.tls")
        ep.tls_gaps = [h for h in hosts if h not in tls_hosts and not (h == "*" and tls_any_hostless)]
    for key, what in INGRESS_AUTH_ANNOTATIONS.items():
        value = annotations.get(key)
        if value is None:
            continue
        if key.endswith(("plugins", "middlewares")):
            if any(word in value.lower() for word in _AUTH_WORDS):
                ep.auth.append(f"{what} '{value}' ({key})")
            if any(word in value.lower() for word in _RATE_WORDS):
                ep.rate_limits.append(f"{what} '{value}' ({key})")
        elif key.endswith("auth-tls-verify-client") and value.lower() not in ("on", "require"):
            continue
        else:
            ep.auth.append(f"{what} ({key})")
    for key in INGRESS_RATE_LIMIT_ANNOTATIONS:
        if annotations.get(key):
            ep.rate_limits.append(f"{key}: {annotations[key]}")
    if annotations.get(AUTH_ANNOTATION):
        ep.auth.append(f"declared by annotation {AUTH_ANNOTATION}: {annotations[AUTH_ANNOTATION]}")
    if annotations.get(RATE_LIMIT_ANNOTATION):
        ep.rate_limits.append(
            f"declared by annotation {RATE_LIMIT_ANNOTATION}: {annotations[RATE_LIMIT_ANNOTATION]}"
        )
    backends.append((ep, services, d.namespace))
    view.endpoints.append(ep)


def read_mesh_policy(
    d: KubeObject,
    mesh_auth: list[tuple[dict[str, str], str | None, str]],
    mesh_tls: list[tuple[dict[str, str], str | None, str]],
) -> None:
    selector = strings_at(d, "spec", "selector", "matchLabels")
    if d.kind == "AuthorizationPolicy":
        action = str(d.get("spec", "action") or "ALLOW")
        rules = list_at(d, "spec", "rules")
        requires = False
        for r in rules:
            if not isinstance(r, dict):
                continue
            froms = r.get("from") or []
            src: list[dict[str, Any]] = [
                f["source"] for f in froms if isinstance(f, dict) and isinstance(f.get("source"), dict)
            ]
            if any(s.get("principals") or s.get("requestPrincipals") for s in src):
                requires = True
            whens = r.get("when") or []
            if any(isinstance(w, dict) and str(w.get("key", "")).startswith("request.auth") for w in whens):
                requires = True
        if action == "ALLOW" and rules and requires:
            mesh_auth.append((selector, d.namespace, f"Istio AuthorizationPolicy {d.name}"))
    elif d.kind == "PeerAuthentication" and str(d.get("spec", "mtls", "mode") or "").upper() == "STRICT":
        mesh_tls.append((selector, d.namespace, f"Istio PeerAuthentication {d.name} (mTLS STRICT)"))


def read_monitor(d: KubeObject, view: ServingView) -> None:
    labels: list[str] = []
    for key in ("podTargetLabels", "targetLabels"):
        labels += [str(x) for x in list_at(d, "spec", key)]
    for key in ("endpoints", "podMetricsEndpoints"):
        for ep in list_at(d, "spec", key):
            if not isinstance(ep, dict):
                continue
            for r in ep.get("relabelings") or []:
                if isinstance(r, dict) and r.get("targetLabel"):
                    labels.append(str(r["targetLabel"]))
    view.monitors.append((f"{d.kind} {d.name}", labels))


def read_plain_values(d: KubeObject, view: ServingView) -> None:
    if d.kind == "ConfigMap":
        for k, v in strings_at(d, "data").items():
            view.plain_values.append(PlainValue(f"ConfigMap {d.name}", k, v, d.where("data", k)))
    else:
        keys = [*mapping_at(d, "data"), *mapping_at(d, "stringData")]
        if keys:
            view.secret_objects.append((d.name, d.object_where(), [str(k) for k in keys]))
