"""The rules of the `deployment` check: what each finding means, why it matters, how to fix it."""

from __future__ import annotations

from gate.checks.deployment.view import AUTH_ANNOTATION, MODEL_DIGEST_ANNOTATION
from gate.models.finding import Severity, rule_maker

CHECK = "deployment"

_rule = rule_maker(CHECK)

RULES = (
    _rule(
        "GATE-DE001",
        "serving-manifest-invalid",
        Severity.HIGH,
        "A serving manifest cannot be read: invalid YAML, anchors where none are allowed, too large, "
        "or neither Kubernetes objects nor a valid serving.yaml.",
        "Nothing in an unreadable manifest can be checked, and the orchestrator would reject or misread it.",
        "`serving.manifests: [deploy/k8s.yaml]` where k8s.yaml has a tab-indented line.",
        "Fix the file at the line given; `kubectl apply --dry-run=client -f FILE` helps for Kubernetes.",
    ),
    _rule(
        "GATE-DE002",
        "endpoint-without-auth",
        Severity.HIGH,
        "A model endpoint accepts requests without authentication.",
        "Anyone who reaches an unauthenticated model can use it at your cost, extract it through its "
        "answers and attack it with no trace of who did; quotas and abuse alerts need an identity.",
        "A Service in front of `vllm serve` started without `--api-key`, no auth annotations on the "
        "Ingress and no mesh authorization policy.",
        "Require a credential: `VLLM_API_KEY` from a Secret (vLLM), an authenticating Ingress "
        "(`nginx.ingress.kubernetes.io/auth-url`), an Istio AuthorizationPolicy requiring principals, or "
        f"an authenticating proxy; if authentication happens elsewhere, say so with the `{AUTH_ANNOTATION}` "
        "annotation.",
        technique=("LLM10:2025", "AML.T0040", "AML.T0024.002"),
    ),
    _rule(
        "GATE-DE003",
        "exposed-endpoint-without-tls",
        Severity.HIGH,
        "An endpoint reachable from outside the cluster or host does not use TLS.",
        "Prompts, answers and API keys cross the network in clear text; anyone on the path can read "
        "or change them.",
        "An Ingress without `spec.tls`, or a Service of type LoadBalancer to a server without a certificate.",
        "Add `spec.tls` with a certificate for every host of the Ingress, terminate TLS at the load "
        "balancer, or start the server with a certificate (`--ssl-certfile`/`--ssl-keyfile`).",
    ),
    _rule(
        "GATE-DE004",
        "privileged-container",
        Severity.CRITICAL,
        "A container runs privileged or adds powerful Linux capabilities.",
        "A privileged container is root on the node: a model-server exploit (or a malicious model file) "
        "becomes a node and cluster compromise.",
        "`securityContext: {privileged: true}` or `capabilities: {add: [SYS_ADMIN]}`.",
        "Remove `privileged: true` and the added capabilities; GPUs need the device plugin, not privileges.",
    ),
    _rule(
        "GATE-DE005",
        "host-path-mounted",
        Severity.HIGH,
        "A pod mounts a directory of the host (hostPath).",
        "Host paths let a compromised server read or change the node's files (credentials, container "
        "runtime socket, other pods' data), and weights read from a host path escape review.",
        "`volumes: [{name: models, hostPath: {path: /mnt/models}}]`.",
        "Use a PersistentVolumeClaim, an image volume pinned by digest or bake the files into the image; "
        "list a reviewed path under `allowed_host_paths` in the policy if it truly must stay.",
    ),
    _rule(
        "GATE-DE006",
        "host-namespace-shared",
        Severity.HIGH,
        "A pod shares the host's network, process or IPC namespace.",
        "With hostNetwork the server listens on the node's interfaces, past network policies; hostPID "
        "and hostIPC expose other processes on the node.",
        "`hostNetwork: true` on a vLLM Deployment.",
        "Remove hostNetwork/hostPID/hostIPC and expose the server through a Service.",
    ),
    _rule(
        "GATE-DE007",
        "secret-in-plain-text",
        Severity.HIGH,
        "A secret (API key, token, password, private key) is written in a manifest in plain text.",
        "Everyone who can read the release, the repository or `kubectl get -o yaml` can read the secret, "
        "and it cannot be rotated without a new release.",
        "`env: [{name: HF_TOKEN, value: hf_...}]` or `args: [--api-key, s3cr3t]`.",
        "Move it to a Secret (or an external secret store) and reference it with `valueFrom.secretKeyRef`; "
        "rotate the exposed value.",
        technique=("LLM02:2025",),
    ),
    _rule(
        "GATE-DE008",
        "resource-limits-missing",
        Severity.MEDIUM,
        "A container has no CPU or memory limit.",
        "Without limits one flood of long prompts can starve the node and every other workload on it "
        "(unbounded consumption).",
        "A model-server container with `resources: {requests: {cpu: 2}}` and no `limits`.",
        "Set `resources.limits.cpu` and `resources.limits.memory` (and the GPU count) for every container.",
        technique=("LLM10:2025",),
    ),
    _rule(
        "GATE-DE009",
        "trust-remote-code-enabled",
        Severity.HIGH,
        "The server is started with trust_remote_code enabled.",
        "With trust_remote_code the server imports and runs Python from the model repository when the "
        "model loads: whoever can change that repository runs code in your serving environment.",
        "`args: [--model, org/model, --trust-remote-code]` or `TRUST_REMOTE_CODE=true`.",
        "Remove the flag; use an architecture that ships with the serving library, or vendor and review "
        "the code in the image.",
        technique=("LLM03:2025", "AML.T0011.000"),
    ),
    _rule(
        "GATE-DE010",
        "image-not-pinned-by-digest",
        Severity.HIGH,
        "A container image is referenced by a tag, not by its digest.",
        "A tag can be moved to other bytes at any time: what runs is not what was reviewed, and a "
        "compromised registry account changes production silently.",
        "`image: vllm/vllm-openai:latest`.",
        "Reference the image as `name@sha256:<digest>` (e.g. from `crane digest` or `docker "
        "buildx imagetools inspect`).",
        technique=("LLM03:2025",),
    ),
    _rule(
        "GATE-DE011",
        "weights-not-pinned-by-digest",
        Severity.HIGH,
        "The model weights are pulled from a location whose content can change.",
        "A model id without a commit, a bucket path or a shared volume can serve other weights than the "
        "ones this release was judged on.",
        "`--model org/model` without `--revision <commit>`, or `storageUri: s3://bucket/model/`.",
        "Pull weights by digest (`oci://...@sha256:`, an image volume by digest), pin a Hugging Face "
        "commit with `--revision`, or bake them into the image pinned by digest.",
        technique=("LLM03:2025", "AML.T0010"),
    ),
    _rule(
        "GATE-DE012",
        "model-digest-not-declared",
        Severity.HIGH,
        f"No serving workload names the model digest it deploys (annotation `{MODEL_DIGEST_ANNOTATION}`).",
        "Without it nothing ties what is deployed to this release: the review and the signature cover "
        "one model, production may run another.",
        "A Deployment without the annotation.",
        f"Add `{MODEL_DIGEST_ANNOTATION}: sha256:<digest>` to the workload (or its pod template), with "
        "the digest the gate reports; in serving.yaml set `model.digest`.",
    ),
    _rule(
        "GATE-DE013",
        "model-digest-mismatch",
        Severity.CRITICAL,
        "The model digest a serving manifest deploys is not the digest of this release's model.",
        "The manifest deploys a different model than the one reviewed and signed.",
        f"`{MODEL_DIGEST_ANNOTATION}: sha256:aaaa...` while the release's model files hash to sha256:bbbb...",
        "Point the manifest at this release's model and set the annotation to the digest in the finding.",
        waivable=False,
        technique=("LLM03:2025", "AML.T0010"),
    ),
    _rule(
        "GATE-DE014",
        "serving-workload-missing",
        Severity.HIGH,
        "The serving manifests declare no workload (Pod, Deployment, StatefulSet, "
        "InferenceService or serving.yaml).",
        "With nothing that runs the model, none of the deployment controls can be verified.",
        "`serving.manifests` naming only a Service.",
        "Include the manifest of the workload that serves the model.",
    ),
    _rule(
        "GATE-DE015",
        "workload-kind-unrecognised",
        Severity.MEDIUM,
        "A manifest object of a kind the gate does not know runs containers (it holds a pod spec).",
        "The gate checks its containers as it finds them, but a custom controller may add, "
        "replace or configure pods in ways the manifest does not show: a person should confirm "
        "what it runs.",
        "`kind: Workflow` (argoproj.io/v1alpha1) with a privileged container in a template.",
        "Review what the controller deploys; if it is a plain workload kind, this finding can be "
        "waived for it.",
    ),
)
