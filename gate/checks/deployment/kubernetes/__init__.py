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

The package's face.

- `objects`: one object and typed access to its fields (with their lines), `List`s expanded;
- `workloads`: pod specs found by shape, their containers and volumes, KServe and Knative;
- `endpoints`: Services, Ingresses, Istio policies, monitors, ConfigMaps and Secrets;
- `manifest`: a file's objects read by kind and linked (endpoints to the workloads they reach).
"""

from __future__ import annotations

from gate.checks.deployment.kubernetes.manifest import add_objects, parse_kubernetes
from gate.checks.deployment.kubernetes.objects import MAX_LIST_DEPTH, KubeObject, expand
from gate.checks.deployment.kubernetes.workloads import WORKLOAD_KINDS, known_workload_kind, pod_specs

__all__ = [
    "MAX_LIST_DEPTH",
    "WORKLOAD_KINDS",
    "KubeObject",
    "add_objects",
    "expand",
    "known_workload_kind",
    "parse_kubernetes",
    "pod_specs",
]
