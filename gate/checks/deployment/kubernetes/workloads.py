"""Kubernetes workloads: the pod specs an object holds (known kinds and any kind by shape), their
containers, volumes and annotations, KServe predictors and Knative routes."""

from __future__ import annotations

from typing import Any

from gate.checks.deployment.kubernetes.endpoints import INGRESS_AUTH_ANNOTATIONS
from gate.checks.deployment.kubernetes.objects import KubeObject, fail, list_at, mapping_at, strings_at
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
    ServingView,
    Volume,
    Workload,
)
from gate.yamlsafe import YamlPath

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
MAX_SHAPE_DEPTH = 24
MAX_SHAPE_NODES = 50_000


def _container(d: KubeObject, path: YamlPath, init: bool) -> Container:
    c = mapping_at(d, *path)
    name = str(c.get("name") or "(unnamed)")
    image = c.get("image")
    if image is not None and not isinstance(image, str):
        raise fail(d, (*path, "image"), "expected a string")
    out = Container(
        name=name, image=image, where=d.where(*path), image_where=d.where(*path, "image"), init=init
    )
    for key in ("command", "args"):
        for i, item in enumerate(list_at(d, *path, key)):
            if isinstance(item, dict | list):
                raise fail(d, (*path, key, i), "expected a string")
            out.argv.append((str(item), d.where(*path, key, i)))
    for i, e in enumerate(list_at(d, *path, "env")):
        if not isinstance(e, dict) or not isinstance(e.get("name"), str):
            raise fail(d, (*path, "env", i), "expected an environment variable with a `name`")
        ref = None
        vf = e.get("valueFrom")
        if isinstance(vf, dict) and vf:
            ref = next(iter(vf))
        value = e.get("value")
        if isinstance(value, dict | list):
            raise fail(d, (*path, "env", i, "value"), "expected a string")
        literal = None if value is None else (str(value).lower() if isinstance(value, bool) else str(value))
        out.env.append(
            EnvVar(
                e["name"], literal, ref, d.where(*path, "env", i, "value" if value is not None else "name")
            )
        )
    sc = mapping_at(d, *path, "securityContext")
    if sc.get("privileged") is True:
        out.privileged = d.where(*path, "securityContext", "privileged")
    for i, cap in enumerate(list_at(d, *path, "securityContext", "capabilities", "add")):
        out.capabilities.append((str(cap), d.where(*path, "securityContext", "capabilities", "add", i)))
    out.limits = strings_at(d, *path, "resources", "limits")
    out.limits_where = d.where(*path, "resources", "limits") if out.limits else d.where(*path)
    for i, p in enumerate(list_at(d, *path, "ports")):
        if isinstance(p, dict) and p.get("hostPort"):
            hp = p["hostPort"]
            out.host_ports.append(
                (int(hp) if isinstance(hp, int) else 0, d.where(*path, "ports", i, "hostPort"))
            )
    for i, m in enumerate(list_at(d, *path, "volumeMounts")):
        if not isinstance(m, dict):
            raise fail(d, (*path, "volumeMounts", i), "expected a mapping")
        out.mounts.append((str(m.get("mountPath") or ""), str(m.get("name") or "")))
    return out


def _pod(d: KubeObject, w: Workload, spec: YamlPath) -> None:
    mapping_at(d, *spec)
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if d.get(*spec, key) is True:
            w.host_namespaces.append((key, d.where(*spec, key)))
    for key, init in (("initContainers", True), ("containers", False), ("ephemeralContainers", True)):
        for i, _ in enumerate(list_at(d, *spec, key)):
            w.containers.append(_container(d, (*spec, key, i), init))
    for i, v in enumerate(list_at(d, *spec, "volumes")):
        if not isinstance(v, dict):
            raise fail(d, (*spec, "volumes", i), "expected a mapping")
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


def _annotations(d: KubeObject, w: Workload, *paths: YamlPath) -> None:
    for path in paths:
        for k, v in strings_at(d, *path, "annotations").items():
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


def read_workload(d: KubeObject, view: ServingView, specs: list[YamlPath]) -> None:
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
        w.labels.update(strings_at(d, *tmpl_meta, "labels"))
        if tmpl_meta != ("metadata",):
            _annotations(d, w, tmpl_meta)
        _pod(d, w, spec)
    _declared(w)
    view.workloads.append(w)
    if kind == "Service":  # Knative: the object is also its own route, public unless cluster-local
        _knative_route(d, view, w)


def _knative_route(d: KubeObject, view: ServingView, w: Workload) -> None:
    labels = strings_at(d, "metadata", "labels")
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


def _kserve(d: KubeObject, w: Workload) -> None:
    """KServe: the predictor is a pod spec plus a `model` container with a storageUri."""
    w.labels = {**strings_at(d, "metadata", "labels")}
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
