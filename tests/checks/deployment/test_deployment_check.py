"""The deployment check: Kubernetes and serving.yaml, good and broken."""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path

import pytest

from gate.checks.deployment.model_digest import release_digests
from gate.checks.deployment.secrets import classify
from gate.release import load_release
from tests.support import BAD, DEMO, run_cli, run_json
from tests.support.monitoring import DEMO_DIGEST, FIX, demo_with, fixture_text, of, rule_names, run_check

# These tests check the demo release, whose adversarial check attacks its served endpoint.
pytestmark = pytest.mark.demo_endpoint

K8S = "deploy/kubernetes.yaml"


def _k8s(tmp_path: Path, fixture: str) -> Path:
    return demo_with(tmp_path, {K8S: fixture_text(fixture)})


def _line(rel: Path, path: str, lineno: int | None) -> str:
    assert lineno is not None
    return (rel / path).read_text().splitlines()[lineno - 1].strip()


def test_demo_manifest_passes_with_evidence() -> None:
    out = run_check(DEMO, "deployment")
    assert out.findings == []
    assert out.details["workloads"] == ["Deployment demo-tiny-gpt2"]
    auth = out.details["authentication"]["Deployment demo-tiny-gpt2"]
    assert auth == ["vllm: VLLM_API_KEY"]
    ingress = next(e for e in out.details["endpoints"] if e["kind"] == "Ingress")
    assert ingress["exposed"] and ingress["tls"] == ["Ingress spec.tls"]
    assert out.details["model_digest"]["expected"] == DEMO_DIGEST
    assert out.details["model_digest"]["deployed"] == {"Deployment demo-tiny-gpt2": DEMO_DIGEST}
    assert out.details["ignored_kinds"] == ["NetworkPolicy"]


def test_privileged_host_network_host_path(tmp_path: Path) -> None:
    rel = _k8s(tmp_path, "kubernetes/privileged.yaml")
    out = run_check(rel, "deployment")
    # the weights under /models come from that host path too
    assert rule_names(out) == {
        "privileged-container",
        "host-path-mounted",
        "host-namespace-shared",
        "weights-not-pinned-by-digest",
    }
    priv = of(out, "privileged-container")
    assert sorted(f.severity.value for f in priv) == ["critical", "high"]  # privileged; SYS_ADMIN
    assert not any("NET_BIND_SERVICE" in f.title for f in priv)  # allowed by the default policy
    assert (
        _line(rel, K8S, next(f for f in priv if f.severity.value == "critical").location.line)
        == "privileged: true"
    )
    ns = sorted(f.title for f in of(out, "host-namespace-shared"))
    assert ns == ["Deployment llm: hostNetwork: true", "Deployment llm: hostPID: true"]
    [hp] = of(out, "host-path-mounted")
    assert hp.evidence == {"host_path": "/mnt/models"}
    [w] = of(out, "weights-not-pinned-by-digest")
    assert "hostPath volume 'models'" in w.title
    allowed = run_check(rel, "deployment", allowed_host_paths=["/mnt/models"])
    assert not of(allowed, "host-path-mounted")


def test_tags_unpinned_weights(tmp_path: Path) -> None:
    rel = _k8s(tmp_path, "kubernetes/tag-image.yaml")
    out = run_check(rel, "deployment")
    images = sorted(f.evidence["image"] for f in of(out, "image-not-pinned-by-digest"))
    assert images == ["amazon/aws-cli:2.15.0", "vllm/vllm-openai:latest"]
    [w] = of(out, "weights-not-pinned-by-digest")
    assert "revision 'main' is not a commit hash" in w.title
    assert (
        _line(rel, K8S, w.location.line)
        == "args: [--model, example-org/llm-7b, --revision, main, --api-key-file, /secrets/key]"
    )
    pinned = fixture_text("kubernetes/tag-image.yaml").replace("--revision, main", "--revision, " + "a" * 40)
    out2 = run_check(demo_with(tmp_path / "p", {K8S: pinned}), "deployment")
    assert not of(out2, "weights-not-pinned-by-digest")


def test_missing_limits(tmp_path: Path) -> None:
    rel = _k8s(tmp_path, "kubernetes/no-limits.yaml")
    out = run_check(rel, "deployment")
    found = sorted(f.title for f in of(out, "resource-limits-missing"))
    assert found == [
        "StatefulSet llm, container log-shipper has no cpu or memory limit",
        "StatefulSet llm, container vllm has no cpu or memory limit",
    ]
    assert all(f.severity.value == "medium" for f in of(out, "resource-limits-missing"))
    # weights at /models/llm are inside the image, which is pinned: no finding
    assert not of(out, "weights-not-pinned-by-digest")


def test_no_auth_no_tls_plain_secrets_remote_code(tmp_path: Path) -> None:
    rel = _k8s(tmp_path, "kubernetes/no-auth.yaml")
    out = run_check(rel, "deployment")
    auth = sorted(f.title for f in of(out, "endpoint-without-auth"))
    assert auth == [
        "Ingress llm (Ingress) reaches the model without authentication",
        "Service llm-public (Service of type LoadBalancer) reaches the model without authentication",
    ]
    tls = sorted(f.title for f in of(out, "exposed-endpoint-without-tls"))
    assert tls == [
        "Ingress llm is exposed (Ingress) without TLS for host(s) llm-internal.example.com",
        "Service llm-public is exposed (Service of type LoadBalancer) without TLS",
    ]
    secrets = {f.title for f in of(out, "secret-in-plain-text")}
    assert secrets == {
        "Deployment llm, container tgi: environment variable HF_TOKEN holds a Hugging Face token "
        "in plain text",
        "Deployment llm, container tgi: environment variable DB_PASSWORD holds a value of a secret-like name "
        "(DB_PASSWORD) in plain text",
        "ConfigMap llm-config: key OPENAI_API_KEY holds an OpenAI API key in plain text",
        "Secret llm-api is shipped in the manifests with its values (key)",
    }
    remote = sorted(f.title for f in of(out, "trust-remote-code-enabled"))
    assert remote == [
        "ConfigMap llm-config: key generation.json enables trust_remote_code",
        "Deployment llm: tgi: TRUST_REMOTE_CODE=true",
    ]
    # Never the secret itself in the report.
    dumped = json.dumps([f.model_dump(mode="json") for f in out.findings])
    for secret in (
        "hf_QwErTyUiOpAsDfGhJkLzXcVbNm1234567890",
        "changeme-now",
        "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz012345",
        "3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b",
    ):
        assert secret not in dumped and secret[:12] not in dumped


def test_kserve_storage_uri_and_mesh_auth(tmp_path: Path) -> None:
    out = run_check(_k8s(tmp_path, "kubernetes/kserve.yaml"), "deployment")
    assert rule_names(out) == {"weights-not-pinned-by-digest"}
    [w] = of(out, "weights-not-pinned-by-digest")
    assert "s3:// location without a digest" in w.title
    assert out.details["authentication"]["InferenceService llm"] == [
        "Istio AuthorizationPolicy llm-require-jwt"
    ]


def test_mesh_auth_and_mtls_satisfy_a_node_port_but_the_digest_is_missing(tmp_path: Path) -> None:
    out = run_check(_k8s(tmp_path, "kubernetes/mesh-auth.yaml"), "deployment")
    assert rule_names(out) == {"model-digest-not-declared"}
    [f] = of(out, "model-digest-not-declared")
    assert DEMO_DIGEST in f.title
    assert not of(
        run_check(
            _k8s(tmp_path / "x", "kubernetes/mesh-auth.yaml"), "deployment", require_model_digest=False
        ),
        "model-digest-not-declared",
    )


def test_allow_all_mesh_policy_is_not_authentication(tmp_path: Path) -> None:
    text = fixture_text("kubernetes/mesh-auth.yaml").replace(
        '    - from:\n        - source:\n            principals: ["cluster.local/ns/apps/sa/chat-frontend"]',
        "    - {}",
    )
    out = run_check(demo_with(tmp_path, {K8S: text}), "deployment")
    assert [f.title for f in of(out, "endpoint-without-auth")] == [
        "Service llm (Service of type NodePort) reaches the model without authentication"
    ]


def test_declared_auth_annotation_counts_unless_the_policy_refuses_it(tmp_path: Path) -> None:
    k8s = (
        (DEMO / K8S).read_text().replace("            - name: VLLM_API_KEY\n", "            - name: UNUSED\n")
    )
    rel = demo_with(tmp_path, {K8S: k8s})
    assert len(of(run_check(rel, "deployment"), "endpoint-without-auth")) == 2  # Service and Ingress
    declared = k8s.replace(
        "    model-gate.dev/model-digest:",
        "    model-gate.dev/auth: api gateway (Kong key-auth)\n    model-gate.dev/model-digest:",
    )
    rel2 = demo_with(tmp_path / "2", {K8S: declared})
    assert not of(run_check(rel2, "deployment"), "endpoint-without-auth")
    assert len(of(run_check(rel2, "deployment", accept_declared_auth=False), "endpoint-without-auth")) == 2


def test_secret_as_flag_value_and_inside_a_shell_command(tmp_path: Path) -> None:
    k8s = (
        (DEMO / K8S)
        .read_text()
        .replace(
            "            - --ssl-keyfile\n            - /etc/tls/tls.key\n",
            "            - --ssl-keyfile\n            - /etc/tls/tls.key\n"
            "            - --api-key\n            - s3cr3t-token-value\n",
        )
    )
    out = run_check(demo_with(tmp_path, {K8S: k8s}), "deployment")
    [f] = of(out, "secret-in-plain-text")
    assert "secret passed as a flag value" in f.title
    shell = (
        (DEMO / K8S)
        .read_text()
        .replace(
            "          args:\n            - --model\n",
            '          command: ["sh", "-c", "vllm serve /models/demo-tiny-gpt2 --trust-remote-code '
            '--hf-token hf_abcdefghijklmnopqrstuvwxyz0123456789"]\n'
            "          args:\n            - --model\n",
        )
    )
    out2 = run_check(demo_with(tmp_path / "s", {K8S: shell}), "deployment")
    assert {f.rule.name for f in out2.findings} == {"trust-remote-code-enabled", "secret-in-plain-text"}


@pytest.mark.parametrize(
    ("value", "name", "kind"),
    [
        ("AKIAIOSFODNN7EXAMPLE", "AWS_ACCESS_KEY_ID", "AWS access key id"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIE", "TLS_KEY", "private key (PEM)"),
        ("postgres://app:hunter2@db:5432/x", "DATABASE_URL", "credentials in a URL"),
        ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlc2lnbmF0dXJl", None, "JSON web token"),
        ("Zx8Qp2Lm7Rt4Vw9Ks3Dn6Hb1Jc5Fg0Ya", "SOMETHING", "high-entropy string (5.0 bits/char)"),
        ("hunter22", "ADMIN_PASSWORD", "value of a secret-like name (ADMIN_PASSWORD)"),
    ],
)
def test_secret_detection(value: str, name: str | None, kind: str) -> None:
    hit = classify(
        value, name=name, patterns=("*PASSWORD*", "*_KEY", "*TOKEN*"), min_length=20, min_entropy=4.0
    )
    assert hit is not None and hit.kind == kind


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("false", "TOKENIZERS_PARALLELISM"),
        ("4096", "MAX_TOTAL_TOKENS"),
        ("/var/run/secrets/token", "HF_TOKEN_PATH"),
        ("/etc/key.pem", "TLS_KEY"),
        ("3f1c2a9d0b7e4c6a8f5d1e2b3c4a5f6e7d8c9b0a", "MODEL_REVISION"),  # a commit id, not random text
        ("meta-llama/Llama-3.1-8B-Instruct", "MODEL_ID"),
        ("$(API_KEY_FROM_SECRET)", "API_KEY"),
        ("https://api.example.com/v1", "API_BASE"),
        ("my-secret", "SECRET_NAME"),
        ("", "API_KEY"),
    ],
)
def test_not_secrets(value: str, name: str) -> None:
    assert (
        classify(value, name=name, patterns=("*_KEY", "*TOKEN*", "*SECRET*"), min_length=20, min_entropy=4.0)
        is None
    )


# model digest ----------------------------------------------------------------------------------


def test_model_digest_is_the_model_signing_root_digest(tmp_path: Path) -> None:
    """Sign the demo model with model-signing (a real EC key) and compare its subject with ours."""
    pytest.importorskip("model_signing")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from model_signing import signing

    rel = demo_with(tmp_path)  # the demo declares `signature: model.sig`; re-signed below
    key = tmp_path / "key.pem"
    key.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    signing.Config().use_elliptic_key_signer(private_key=key).sign(rel / "model", rel / "model.sig")
    bundle = json.loads((rel / "model.sig").read_text())
    subject = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))["subject"][0]["digest"][
        "sha256"
    ]
    digests = release_digests(load_release(rel))
    assert digests.computed == digests.signed == f"sha256:{subject}" == DEMO_DIGEST
    assert run_check(rel, "deployment").findings == []


def test_model_digest_mismatch_blocks_and_cannot_be_waived(tmp_path: Path) -> None:
    k8s = (DEMO / K8S).read_text().replace(DEMO_DIGEST or "", "sha256:" + "ab" * 32)
    rel = demo_with(tmp_path, {K8S: k8s})
    out = run_check(rel, "deployment")
    [f] = of(out, "model-digest-mismatch")
    assert f.severity.value == "critical" and f.evidence["expected"] == [DEMO_DIGEST]
    assert _line(rel, K8S, f.location.line).startswith("model-gate.dev/model-digest: sha256:abab")
    # Changing one model byte changes the expected digest: the old annotation no longer matches.
    changed = demo_with(tmp_path / "c", {"model/generation_config.json": '{"max_length": 8}\n'})
    assert of(run_check(changed, "deployment"), "model-digest-mismatch")


def test_single_file_model_digest(tmp_path: Path) -> None:
    rel = demo_with(
        tmp_path, manifest=lambda t: t.replace("  path: model/\n", "  path: model/model.safetensors\n")
    )
    import hashlib

    inner = hashlib.sha256((rel / "model/model.safetensors").read_bytes()).digest()
    assert release_digests(load_release(rel)).computed == "sha256:" + hashlib.sha256(inner).hexdigest()


# serving.yaml -----------------------------------------------------------------------------------


def _serving(tmp_path: Path, fixture: str) -> Path:
    return demo_with(
        tmp_path,
        {"deploy/serving.yaml": fixture_text(fixture)},
        manifest=lambda t: t.replace(
            "manifests: [deploy/kubernetes.yaml]", "manifests: [deploy/serving.yaml]"
        ),
    )


def test_good_serving_yaml_passes_both_checks(tmp_path: Path) -> None:
    rel = _serving(tmp_path, "serving/serving.yaml")
    assert run_check(rel, "deployment").findings == []
    mon = run_check(rel, "monitoring")
    assert mon.findings == [] and mon.details["score"] == 1.0


def test_bad_serving_yaml(tmp_path: Path) -> None:
    rel = _serving(tmp_path, "serving/serving-bad.yaml")
    out = run_check(rel, "deployment")
    assert rule_names(out) == {
        "endpoint-without-auth",
        "exposed-endpoint-without-tls",
        "privileged-container",
        "host-namespace-shared",
        "host-path-mounted",
        "secret-in-plain-text",
        "resource-limits-missing",
        "trust-remote-code-enabled",
        "image-not-pinned-by-digest",
        "weights-not-pinned-by-digest",
        "model-digest-mismatch",
    }
    for f in out.findings:
        assert f.location.path == "deploy/serving.yaml" and f.location.line, f.title
    [rc] = of(out, "trust-remote-code-enabled")
    assert _line(rel, "deploy/serving.yaml", rc.location.line) == "trust_remote_code: true"


@pytest.mark.parametrize(
    ("fixture", "needle", "at"),
    [
        (
            "serving/serving-unknown-key.yaml",
            "endpoint.tsl: unknown key",
            "  tsl: {cert_file: a, key_file: b}",
        ),
        ("serving/serving-alias.yaml", "anchors and aliases are not allowed", "model: &m"),
        ("serving/serving-two-docs.yaml", "a serving.yaml holds exactly one document", "version: 1"),
        ("hostile/invalid.yaml", "invalid YAML", "       for: 5m"),
        ("hostile/wrong-types.yaml", "neither Kubernetes objects", None),
    ],
)
def test_invalid_serving_files_are_findings(
    tmp_path: Path, fixture: str, needle: str, at: str | None
) -> None:
    rel = demo_with(
        tmp_path,
        {"deploy/serving.yaml": (FIX / fixture).read_bytes()},
        manifest=lambda t: t.replace(
            "manifests: [deploy/kubernetes.yaml]", "manifests: [deploy/serving.yaml]"
        ),
    )
    [f] = run_check(rel, "deployment").findings
    assert f.rule.name == "serving-manifest-invalid" and needle in f.title, f.title
    if at is not None:
        assert (rel / "deploy/serving.yaml").read_text().splitlines()[(f.location.line or 0) - 1] == at


def test_billion_laughs_kubernetes_manifest_is_a_fast_finding(tmp_path: Path) -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    bomb = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"
        + "\n".join(lines).replace("a: &a", "data: &a", 0)
        + "\n"
    )
    rel = demo_with(tmp_path, {K8S: bomb})
    start = time.perf_counter()
    [f] = run_check(rel, "deployment").findings
    assert time.perf_counter() - start < 5
    assert f.rule.name == "serving-manifest-invalid" and "document too large" in f.title


def test_not_a_kubernetes_object_and_empty_files(tmp_path: Path) -> None:
    rel = demo_with(
        tmp_path, {K8S: "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\n- just\n- a list\n"}
    )
    [f] = run_check(rel, "deployment").findings
    assert "neither Kubernetes objects" in f.title and f.location.line == 5
    empty = demo_with(tmp_path / "e", {K8S: "# nothing\n"})
    [g] = run_check(empty, "deployment").findings
    assert "empty" in g.title
    kinds = demo_with(
        tmp_path / "k",
        {K8S: "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {selector: {app: x}}\n"},
    )
    [h] = run_check(kinds, "deployment").findings
    assert h.rule.name == "serving-workload-missing"


def test_wrong_types_inside_objects(tmp_path: Path) -> None:
    cases = {
        "containers: {name: x}": "expected a list",
        "containers: [{name: x, image: [a]}]": "image: expected a string",
        "containers: [{name: x, env: [{value: 1}]}]": "expected an environment variable with a `name`",
    }
    for i, (spec, needle) in enumerate(cases.items()):
        text = f"apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec: {{{spec}}}\n"
        [f] = run_check(demo_with(tmp_path / str(i), {K8S: text}), "deployment").findings
        assert f.rule.name == "serving-manifest-invalid" and needle in f.title, f.title
        assert f.title.startswith("deploy/kubernetes.yaml: Pod p: ")


def test_not_declared_is_skipped(tmp_path: Path) -> None:
    rel = demo_with(tmp_path, manifest=lambda t: re.sub(r"  manifests: .*\n", "", t))
    out = run_check(rel, "deployment")
    assert out.skipped and "declares no serving manifests" in out.summary


def test_bad_release_fails_visibly_for_deployment() -> None:
    code, report = run_json("check", str(BAD))
    assert code == 1
    mine = {f["rule"]["name"] for f in report["findings"] if f["check"] == "deployment" and f["blocking"]}
    assert mine >= {
        "privileged-container",
        "model-digest-mismatch",
        "endpoint-without-auth",
        "exposed-endpoint-without-tls",
        "secret-in-plain-text",
        "trust-remote-code-enabled",
        "image-not-pinned-by-digest",
        "weights-not-pinned-by-digest",
        "host-path-mounted",
        "host-namespace-shared",
    }
    text = run_cli("check", str(BAD)).output
    assert "GATE-DE004 privileged-container" in text and "deploy/kubernetes.yaml:" in text
    assert "hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789" not in text


def test_huge_hostile_values_are_scanned_in_linear_time(tmp_path: Path) -> None:
    # Shapes that make naive secret regexes backtrack: a long scheme, a URL without '@'.
    values = {"a": "a" * 600_000 + "://x:y", "b": "x://" + "b" * 600_000 + ":c", "c": "eyJ" + "d" * 600_000}
    data = "\n".join(f"  {k}: {v}" for k, v in values.items())
    rel = demo_with(
        tmp_path,
        {
            K8S: (DEMO / K8S).read_text()
            + f"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: big}}\ndata:\n{data}\n"
        },
    )
    start = time.perf_counter()
    out = run_check(rel, "deployment")
    assert time.perf_counter() - start < 15
    assert out.findings == []  # none of them is a secret
