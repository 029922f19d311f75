"""Load every serving manifest a release declares into one serving view.

Each file is either Kubernetes YAML (every document has `apiVersion` and
`kind`) or a serving.yaml (one document with `version`). Kubernetes objects of
all files are linked together, so a Service in one file reaches a Deployment in
another. A file that cannot be read becomes a problem in the view and is left
out; the others are still judged.
"""

from __future__ import annotations

from pathlib import Path

from gate.checks.configfile import ConfigFileError, Problem, first_line, load_all, load_one
from gate.checks.deployment.kubernetes import KubeObject, add_objects, expand, parse_kubernetes
from gate.checks.deployment.runtime import collect_evidence
from gate.checks.deployment.serving_yaml import looks_like_serving_yaml, parse_serving_yaml
from gate.checks.deployment.view import ServingView


def load_serving(root: Path, rels: tuple[str, ...] | list[str]) -> ServingView:
    view = ServingView()
    k8s_objects: list[KubeObject] = []
    for rel in rels:
        view.files.append(rel)
        path = root / rel
        if not path.exists():
            continue  # reported once, by release-integrity (declared-path-missing)
        if not path.is_file():
            view.problems.append(Problem(rel, None, "declared in release.yaml but not a regular file"))
            continue
        try:
            docs = load_all(root, rel, allow_aliases=True)
            if not docs:
                raise ConfigFileError(Problem(rel, None, "empty: no YAML document"))
            if len(docs) == 1 and looks_like_serving_yaml(docs[0]):
                # Our own format: no anchors or aliases, and exactly one document.
                one = parse_serving_yaml(root, rel, load_one(root, rel, allow_aliases=False))
                _merge(view, one)
                continue
            if not all(isinstance(d.data, dict) and "apiVersion" in d.data for d in docs):
                bad = next(d for d in docs if not (isinstance(d.data, dict) and "apiVersion" in d.data))
                what = (
                    "a serving.yaml holds exactly one document"
                    if len(docs) > 1 and looks_like_serving_yaml(bad)
                    else "neither Kubernetes objects (apiVersion, kind) nor a serving.yaml (version: 1)"
                )
                raise ConfigFileError(Problem(rel, first_line(bad), what))
            parse_kubernetes(root, rel, docs)  # validates this file on its own
        except ConfigFileError as exc:
            view.problems.append(exc.problem)
            continue
        for doc in docs:
            k8s_objects += expand(doc, rel)
    if k8s_objects:
        combined = ServingView()
        add_objects(combined, k8s_objects)
        _merge(view, combined)
    collect_evidence(view)
    return view


def _merge(into: ServingView, other: ServingView) -> None:
    into.workloads += other.workloads
    into.endpoints += other.endpoints
    into.plain_values += other.plain_values
    into.secret_objects += other.secret_objects
    into.ignored_kinds += other.ignored_kinds
    into.shape_workloads += other.shape_workloads
    into.monitors += other.monitors
    into.problems += other.problems
