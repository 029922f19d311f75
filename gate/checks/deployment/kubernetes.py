"""Kubernetes manifests (multi-document YAML) into the serving view.

Workloads are found by shape, not by a list of kinds: any object (other than
the kinds read below) whose document holds a pod spec (a mapping with a
`containers` list of mappings), wherever it sits, is a workload, and every
such pod spec in it is checked. That covers Pod, Deployment, StatefulSet,
DaemonSet, ReplicaSet, Job, CronJob, Argo Rollout, Knative Service and any
custom kind that embeds a PodSpec; a kind not in WORKLOAD_KINDS is also
reported (view.shape_workloads), so a reviewer sees what was judged by shape.
KServe InferenceService adds its predictor's model containers. `List`
objects are expanded, nested ones too (up to MAX_LIST_DEPTH).
Endpoints: Service and Ingress. Also read: ConfigMap and Secret (plain
values), Istio AuthorizationPolicy and PeerAuthentication (mesh
authentication and mTLS), ServiceMonitor and PodMonitor (labels put on
scraped metrics). Other kinds without a pod spec are listed as ignored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gate.checks.configfile import ConfigFileError, Problem, first_line, load_all
from gate.checks.deployment.view import (
    AUTH_ANNOTATION,
    EXPORTED_METRICS_ANNOTATION,
    METRIC_LABELS_ANNOTATION,
    MODEL_DIGEST_ANNOTATION,
    RATE_LIMIT_ANNOTATION,
    Container,
    Endpoint,
    EnvVar,
    ModelSource,
    PlainValue,
    ServingView,
    Volume,
    Where,
    Workload,
)
from gate.yamlsafe import YamlDoc, YamlPath, format_path

# Kinds known to run a pod template (apiVersion prefix, kind); others found by shape are reported.
WORKLOAD_KINDS = frozenset(
    {
        ("", "Pod"),
        ("apps/", "Deployment"),
        ("apps/", "StatefulSet"),
        ("apps/", "DaemonSet"),
        ("apps/", "ReplicaSet"),
        ("", "ReplicationController"),
        ("batch/", "Job"),
        ("batch/", "CronJob"),
        ("argoproj.io/", "Rollout"),
        ("serving.knative.dev/", "Service"),
        ("serving.kserve.io/", "InferenceService"),
    }
)
# Where a known kind keeps its pod spec: always read (and type-checked) even when it holds no
# containers, so a malformed template is a problem rather than a workload with nothing to check.
CANONICAL_POD_SPEC: dict[str, YamlPath] = {
    "Pod": ("spec",),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
MAX_LIST_DEPTH = 8
MAX_SHAPE_DEPTH = 24
MAX_SHAPE_NODES = 50_000
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
# Kinds read for what they are (never workloads, whatever they hold).
NOT_WORKLOADS = frozenset(
    {"Service", "Ingress", "AuthorizationPolicy", "PeerAuthentication", "ServiceMonitor", "PodMonitor"}
    | {"ConfigMap", "Secret"}
)
_AUTH_WORDS = ("auth", "oidc", "jwt", "key-auth", "basic-auth", "oauth")
_RATE_WORDS = ("ratelimit", "rate-limit", "rate_limit", "rate-limiting")


class _Doc:
    """One Kubernetes object and where its fields are."""

    def __init__(self, doc: YamlDoc, rel: str, prefix: YamlPath, data: dict[str, Any]) -> None:
        self.doc, self.rel, self.prefix, self.data = doc, rel, prefix, data

    def where(self, *path: str | int) -> Where:
        full = (*self.prefix, *path)
        return Where(self.rel, self.doc.line_of(full), format_path(tuple(path)) if path else None)

    def object_where(self) -> Where:
        """The object itself: the line of its `kind`, no field."""
        return Where(self.rel, self.doc.line_of((*self.prefix, "kind")), None)

    def get(self, *path: str | int) -> Any:
        cur: Any = self.data
        for p in path:
            if isinstance(p, int):
                cur = cur[p] if isinstance(cur, list) and -len(cur) <= p < len(cur) else None
            else:
                cur = cur.get(p) if isinstance(cur, dict) else None
            if cur is None:
                return None
        return cur

    @property
    def kind(self) -> str:
        return str(self.data.get("kind"))

    @property
    def name(self) -> str:
        return str(self.get("metadata", "name") or "(unnamed)")

    @property
    def namespace(self) -> str | None:
        ns = self.get("metadata", "namespace")
        return str(ns) if ns is not None else None


def _fail(d: _Doc, path: YamlPath, message: str) -> ConfigFileError:
    w = d.where(*path)
    where = f"{d.kind} {d.name}: {w.field}" if w.field else f"{d.kind} {d.name}"
    return ConfigFileError(Problem(d.rel, w.line, f"{where}: {message}", w.field))


def _mapping(d: _Doc, *path: str | int) -> dict[str, Any]:
    v = d.get(*path)
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise _fail(d, path, "expected a mapping")
    return v


def _list(d: _Doc, *path: str | int) -> list[Any]:
    v = d.get(*path)
    if v is None:
        return []
    if not isinstance(v, list):
        raise _fail(d, path, "expected a list")
    return v


def _strings(d: _Doc, *path: str | int) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in _mapping(d, *path).items():
        if isinstance(v, dict | list):
            raise _fail(d, (*path, k), "expected a string")
        out[str(k)] = "" if v is None else (str(v).lower() if isinstance(v, bool) else str(v))
    return out


def _container(d: _Doc, path: YamlPath, init: bool) -> Container:
    c = _mapping(d, *path)
    name = str(c.get("name") or "(unnamed)")
    image = c.get("image")
    if image is not None and not isinstance(image, str):
        raise _fail(d, (*path, "image"), "expected a string")
    out = Container(
        name=name, image=image, where=d.where(*path), image_where=d.where(*path, "image"), init=init
    )
    for key in ("command", "args"):
        for i, item in enumerate(_list(d, *path, key)):
            if isinstance(item, dict | list):
                raise _fail(d, (*path, key, i), "expected a string")
            out.argv.append((str(item), d.where(*path, key, i)))
    for i, e in enumerate(_list(d, *path, "env")):
        if not isinstance(e, dict) or not isinstance(e.get("name"), str):
            raise _fail(d, (*path, "env", i), "expected an environment variable with a `name`")
        ref = None
        vf = e.get("valueFrom")
        if isinstance(vf, dict) and vf:
            ref = next(iter(vf))
        value = e.get("value")
        if isinstance(value, dict | list):
            raise _fail(d, (*path, "env", i, "value"), "expected a string")
        literal = None if value is None else (str(value).lower() if isinstance(value, bool) else str(value))
        out.env.append(
            EnvVar(
                e["name"], literal, ref, d.where(*path, "env", i, "value" if value is not None else "name")
            )
        )
    sc = _mapping(d, *path, "securityContext")
    if sc.get("privileged") is True:
        out.privileged = d.where(*path, "securityContext", "privileged")
    for i, cap in enumerate(_list(d, *path, "securityContext", "capabilities", "add")):
        out.capabilities.append((str(cap), d.where(*path, "securityContext", "capabilities", "add", i)))
    out.limits = _strings(d, *path, "resources", "limits")
    out.limits_where = d.where(*path, "resources", "limits") if out.limits else d.where(*path)
    for i, p in enumerate(_list(d, *path, "ports")):
        if isinstance(p, dict) and p.get("hostPort"):
            hp = p["hostPort"]
            out.host_ports.append(
                (int(hp) if isinstance(hp, int) else 0, d.where(*path, "ports", i, "hostPort"))
            )
    for i, m in enumerate(_list(d, *path, "volumeMounts")):
        if not isinstance(m, dict):
            raise _fail(d, (*path, "volumeMounts", i), "expected a mapping")
        out.mounts.append((str(m.get("mountPath") or ""), str(m.get("name") or "")))
    return out


def _pod(d: _Doc, w: Workload, spec: YamlPath) -> None:
    _mapping(d, *spec)
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if d.get(*spec, key) is True:
            w.host_namespaces.append((key, d.where(*spec, key)))
    for key, init in (("initContainers", True), ("containers", False), ("ephemeralContainers", True)):
        for i, _ in enumerate(_list(d, *spec, key)):
            w.containers.append(_container(d, (*spec, key, i), init))
    for i, v in enumerate(_list(d, *spec, "volumes")):
        if not isinstance(v, dict):
            raise _fail(d, (*spec, "volumes", i), "expected a mapping")
        name = str(v.get("name") or f"volume-{i}")
        kind = next((k for k in v if k != "name"), "emptyDir")
        src = v.get(kind)
        source = None
        if kind == "hostPath" and isinstance(src, dict):
            source = str(src.get("path") or "")
        elif kind == "image" and isinstance(src, dict):
            source = str(src.get("reference") or "")
        elif kind == "persistentVolumeClaim" and isinstance(src, dict):
            source = str(src.get("claimName") or "")
        w.volumes[name] = Volume(name, kind, source, d.where(*spec, "volumes", i, kind))


def _annotations(d: _Doc, w: Workload, *paths: YamlPath) -> None:
    for path in paths:
        for k, v in _strings(d, *path, "annotations").items():
            w.annotations[k] = (v, d.where(*path, "annotations", k))
    for key in (MODEL_DIGEST_ANNOTATION,):
        if key in w.annotations:
            w.model_digest = w.annotations[key]


def known_workload_kind(api_version: str, kind: str) -> bool:
    return any(
        kind == k and (api_version.startswith(prefix) if prefix else "/" not in api_version)
        for prefix, k in WORKLOAD_KINDS
    )


def pod_specs(data: Any) -> list[YamlPath]:
    """Paths of every pod spec in an object, by shape: a mapping with a `containers` list of
    mappings. Bounded in depth and size; a pod spec is not searched for further pod specs."""
    found: list[YamlPath] = []
    seen = 0
    stack: list[tuple[Any, YamlPath]] = [(data, ())]
    while stack:
        node, path = stack.pop()
        seen += 1
        if seen > MAX_SHAPE_NODES or len(path) > MAX_SHAPE_DEPTH:
            break
        if isinstance(node, dict):
            c = node.get("containers")
            if path and isinstance(c, list) and c and all(isinstance(x, dict) for x in c):
                found.append(path)
                continue
            stack += [(v, (*path, str(k))) for k, v in node.items() if isinstance(v, dict | list)]
        elif isinstance(node, list):
            stack += [(v, (*path, i)) for i, v in enumerate(node) if isinstance(v, dict | list)]
    return sorted(found, key=lambda p: [str(x) for x in p])


def _workload(d: _Doc, view: ServingView, specs: list[YamlPath]) -> None:
    kind = d.kind
    w = Workload(kind=kind, name=d.name, namespace=d.namespace, where=d.object_where())
    if kind == "InferenceService":
        _kserve(d, w)
        specs = [sp for sp in specs if sp != ("spec", "predictor")]
    else:
        _annotations(d, w, ("metadata",))
        canonical = CANONICAL_POD_SPEC.get(kind, ("spec", "template", "spec"))
        if known_workload_kind(d.data["apiVersion"], kind) and canonical not in specs:
            specs = [canonical, *specs]
    for spec in specs:
        # The pod template's metadata sits beside its spec (Pod: the object's own metadata).
        tmpl_meta: YamlPath = (*spec[:-1], "metadata") if len(spec) > 1 else ("metadata",)
        w.labels.update(_strings(d, *tmpl_meta, "labels"))
        if tmpl_meta != ("metadata",):
            _annotations(d, w, tmpl_meta)
        _pod(d, w, spec)
    _declared(w)
    view.workloads.append(w)
    if kind == "Service":  # Knative: the object is also its own route, public unless cluster-local
        _knative_route(d, view, w)


def _knative_route(d: _Doc, view: ServingView, w: Workload) -> None:
    labels = _strings(d, "metadata", "labels")
    visibility = labels.get("networking.knative.dev/visibility", "")
    exposed = visibility != "cluster-local"
    ep = Endpoint(
        kind="KnativeService",
        name=d.name,
        where=d.object_where(),
        exposed=exposed,
        exposure="Knative Service route" + ("" if exposed else " (cluster-local)"),
        targets=[w],
    )
    for key, what in INGRESS_AUTH_ANNOTATIONS.items():
        if key in w.annotations:
            ep.auth.append(f"{what} ({key})")
    view.endpoints.append(ep)


def _kserve(d: _Doc, w: Workload) -> None:
    """KServe: the predictor is a pod spec plus a `model` container with a storageUri."""
    w.labels = {**_strings(d, "metadata", "labels")}
    w.labels.setdefault("serving.kserve.io/inferenceservice", d.name)
    _annotations(d, w, ("metadata",))
    pred: YamlPath = ("spec", "predictor")
    _pod(d, w, pred)
    for fmt in ("model", "huggingface", "sklearn", "pytorch", "onnx", "triton", "tensorflow", "xgboost"):
        if isinstance(d.get(*pred, fmt), dict):
            c = _container(d, (*pred, fmt), False)
            c.name = c.name if c.name != "(unnamed)" else "kserve-container"
            w.containers.append(c)
            uri = d.get(*pred, fmt, "storageUri")
            if isinstance(uri, str):
                w.model_sources.append(ModelSource(uri, d.where(*pred, fmt, "storageUri")))
    uri = d.get(*pred, "storageUri")
    if isinstance(uri, str):
        w.model_sources.append(ModelSource(uri, d.where(*pred, "storageUri")))


def _declared(w: Workload) -> None:
    """Evidence declared through model-gate annotations."""
    if AUTH_ANNOTATION in w.annotations:
        w.auth.append(f"declared by annotation {AUTH_ANNOTATION}: {w.annotations[AUTH_ANNOTATION][0]}")
    if RATE_LIMIT_ANNOTATION in w.annotations:
        w.rate_limits.append(
            f"declared by annotation {RATE_LIMIT_ANNOTATION}: {w.annotations[RATE_LIMIT_ANNOTATION][0]}"
        )
    if EXPORTED_METRICS_ANNOTATION in w.annotations:
        text = w.annotations[EXPORTED_METRICS_ANNOTATION][0]
        w.exported_metrics = [m for m in text.replace(",", " ").split() if m]
    if METRIC_LABELS_ANNOTATION in w.annotations:
        text = w.annotations[METRIC_LABELS_ANNOTATION][0]
        w.metric_labels += [m for m in text.replace(",", " ").split() if m]


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _same_ns(a: str | None, b: str | None) -> bool:
    return (a or "default") == (b or "default")


def _service(d: _Doc, view: ServingView, pending: list[tuple[Endpoint, dict[str, str], str | None]]) -> None:
    stype = str(d.get("spec", "type") or "ClusterIP")
    annotations = _strings(d, "metadata", "annotations")
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
    for i, p in enumerate(_list(d, "spec", "ports")):
        if isinstance(p, dict) and str(p.get("appProtocol", "")).lower() in (
            "https",
            "grpcs",
            "kubernetes.io/h2c-tls",
        ):
            ep.tls.append(f"port {p.get('port')} appProtocol {p.get('appProtocol')}")
        elif not isinstance(p, dict):
            raise _fail(d, ("spec", "ports", i), "expected a mapping")
    for key, what in INGRESS_AUTH_ANNOTATIONS.items():
        if key in annotations:
            ep.auth.append(f"{what} ({key})")
    pending.append((ep, _strings(d, "spec", "selector"), d.namespace))
    view.endpoints.append(ep)


def _ingress(d: _Doc, view: ServingView, backends: list[tuple[Endpoint, list[str], str | None]]) -> None:
    annotations = _strings(d, "metadata", "annotations")
    ep = Endpoint(kind="Ingress", name=d.name, where=d.object_where(), exposed=True, exposure="Ingress")
    tls_hosts: set[str] = set()
    tls_any_hostless = False
    for i, t in enumerate(_list(d, "spec", "tls")):
        if not isinstance(t, dict):
            raise _fail(d, ("spec", "tls", i), "expected a mapping")
        entry_hosts = t.get("hosts") or []
        if not entry_hosts:
            tls_any_hostless = True
        tls_hosts.update(str(h) for h in entry_hosts)
    services: list[str] = []
    hosts: list[str] = []
    default = d.get("spec", "defaultBackend", "service", "name")
    if isinstance(default, str):
        services.append(default)
    for i, rule in enumerate(_list(d, "spec", "rules")):
        if not isinstance(rule, dict):
            raise _fail(d, ("spec", "rules", i), "expected a mapping")
        hosts.append(str(rule.get("host") or "*"))
        for j, p in enumerate(_list(d, "spec", "rules", i, "http", "paths")):
            name = d.get("spec", "rules", i, "http", "paths", j, "backend", "service", "name")
            if isinstance(name, str):
                services.append(name)
            elif not isinstance(p, dict):
                raise _fail(d, ("spec", "rules", i, "http", "paths", j), "expected a mapping")
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


def _mesh(
    d: _Doc,
    mesh_auth: list[tuple[dict[str, str], str | None, str]],
    mesh_tls: list[tuple[dict[str, str], str | None, str]],
) -> None:
    selector = _strings(d, "spec", "selector", "matchLabels")
    if d.kind == "AuthorizationPolicy":
        action = str(d.get("spec", "action") or "ALLOW")
        rules = _list(d, "spec", "rules")
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


def _monitor(d: _Doc, view: ServingView) -> None:
    labels: list[str] = []
    for key in ("podTargetLabels", "targetLabels"):
        labels += [str(x) for x in _list(d, "spec", key)]
    for key in ("endpoints", "podMetricsEndpoints"):
        for ep in _list(d, "spec", key):
            if not isinstance(ep, dict):
                continue
            for r in ep.get("relabelings") or []:
                if isinstance(r, dict) and r.get("targetLabel"):
                    labels.append(str(r["targetLabel"]))
    view.monitors.append((f"{d.kind} {d.name}", labels))


def _plain(d: _Doc, view: ServingView) -> None:
    if d.kind == "ConfigMap":
        for k, v in _strings(d, "data").items():
            view.plain_values.append(PlainValue(f"ConfigMap {d.name}", k, v, d.where("data", k)))
    else:
        keys = [*_mapping(d, "data"), *_mapping(d, "stringData")]
        if keys:
            view.secret_objects.append((d.name, d.object_where(), [str(k) for k in keys]))


def expand(doc: YamlDoc, rel: str) -> list[_Doc]:
    """The objects of one YAML document: itself, or the items of a `List` (nested Lists too)."""
    out: list[_Doc] = []

    def walk(data: dict[str, Any], prefix: YamlPath, depth: int) -> None:
        if data.get("kind") == "List" and isinstance(data.get("items"), list):
            if depth >= MAX_LIST_DEPTH:
                raise ConfigFileError(
                    Problem(rel, doc.line_of(prefix), f"`List` nested more than {MAX_LIST_DEPTH} deep")
                )
            for i, item in enumerate(data["items"]):
                if not isinstance(item, dict):
                    raise ConfigFileError(
                        Problem(rel, doc.line_of((*prefix, "items", i)), "a List item is not an object")
                    )
                walk(item, (*prefix, "items", i), depth + 1)
            return
        out.append(_Doc(doc, rel, prefix, data))

    if not isinstance(doc.data, dict):
        raise ConfigFileError(Problem(rel, first_line(doc), "expected a Kubernetes object (a mapping)"))
    walk(doc.data, (), 0)
    return out


def parse_kubernetes(root: Path, rel: str, docs: list[YamlDoc] | None = None) -> ServingView:
    """Every object of a manifest file, linked: Services and Ingresses to the workloads they reach."""
    view = ServingView(files=[rel])
    docs = docs if docs is not None else load_all(root, rel, allow_aliases=True)
    objects: list[_Doc] = []
    for doc in docs:
        objects += expand(doc, rel)
    add_objects(view, objects)
    return view


def add_objects(view: ServingView, objects: list[_Doc]) -> None:
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
        _mapping(d, "metadata")
        kind = d.kind
        api = d.data["apiVersion"]
        known = known_workload_kind(api, kind)
        specs = pod_specs(d.data) if known or kind not in NOT_WORKLOADS else []
        if known or specs:
            _workload(d, view, specs)
            if not known:
                # Judged by shape: say so, a custom kind may run its pods in ways we do not know.
                view.shape_workloads.append((f"{api} {kind}", d.name, d.object_where()))
        elif kind == "Service":
            _service(d, view, pending_services)
        elif kind == "Ingress":
            _ingress(d, view, pending_ingress)
        elif kind in ("AuthorizationPolicy", "PeerAuthentication"):
            _mesh(d, mesh_auth, mesh_tls)
        elif kind in ("ServiceMonitor", "PodMonitor"):
            _monitor(d, view)
        elif kind in ("ConfigMap", "Secret"):
            _plain(d, view)
        else:
            view.ignored_kinds.append(kind)
    for w in view.workloads:
        for selector, ns, what in mesh_auth:
            if _same_ns(ns, w.namespace) and (not selector or _selects(selector, w.labels)):
                w.auth.append(what)
        for selector, ns, what in mesh_tls:
            if _same_ns(ns, w.namespace) and (not selector or _selects(selector, w.labels)):
                w.tls.append(what)
    by_name: dict[tuple[str, str], Endpoint] = {}
    for ep, selector, ns in pending_services:
        ep.targets = [w for w in view.workloads if _same_ns(ns, w.namespace) and _selects(selector, w.labels)]
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
