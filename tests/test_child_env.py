"""Secrets stay where the policy says: what each tool the gate starts receives.

Each tool (garak, pip-audit, promtool, git) is replaced by a stand-in that
records its arguments and environment; the job's environment holds the gate's
own secret and a cloud key. No stand-in may see them; the one credential the
policy names reaches garak, and only for a host the policy allows.
"""

from __future__ import annotations

import ast
import json
import os
import stat
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gate.checks.adversarial import AdversarialCheck, AdversarialConfig
from gate.checks.interface import CheckContext, RunOptions
from gate.childenv import child_env
from gate.errors import CheckError
from gate.redteam.credential import CredentialRefused, endpoint_host, grant
from gate.release import load_release
from gate.risk import score
from tests.support import DEMO, ROOT

SECRETS = {
    "MODEL_GATE_KEY_PASSWORD": "gate-own-password-1f2e",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-9a8b",
    "GITHUB_TOKEN": "ghs_token_7c6d",
    "HF_TOKEN": "hf_token_5e4f",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "oidc-request-3a2b",
}
ENDPOINT_KEY = "endpoint-key-k123"


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in SECRETS.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("TARGET_KEY", ENDPOINT_KEY)


def recorder(path: Path, log: Path, body: str = "") -> Path:
    """A Python script that appends {argv, env} to `log`, then runs `body`."""
    path.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        f"with open({str(log)!r}, 'a') as fh:\n"
        "    fh.write(json.dumps({'argv': sys.argv, 'env': dict(os.environ)}) + '\\n')\n"
        + textwrap.dedent(body),
        "utf-8",
    )
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def calls(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def assert_no_secret(call: dict[str, Any]) -> None:
    env = call["env"]
    blob = json.dumps(call)
    for name, value in SECRETS.items():
        assert name not in env, name
        assert value not in blob, name
    assert "TARGET_KEY" not in env
    assert env.get("PATH") and env.get("HOME")  # a working environment all the same


# --- garak --------------------------------------------------------------------------------


FAKE_GARAK = """\
if '--version' in sys.argv:
    print('garak LLM vulnerability scanner v0.17.0 ( https://github.com/NVIDIA/garak )')
sys.exit(0)
"""


def _release(root: Path, endpoint: str) -> Path:
    root.mkdir(parents=True)
    (root / "model").mkdir()
    (root / "model" / "model.safetensors").write_bytes(b"weights")
    (root / "release.yaml").write_text(
        "schema_version: 1\nname: rt\nversion: 1.0.0\n"
        "model: {path: model/, format: safetensors, task: text-generation}\n"
        "deployment: {exposure: internal, data_sensitivity: none, autonomy: advisory}\n"
        + textwrap.dedent(endpoint),
        "utf-8",
    )
    return root


def _run_adversarial(tmp: Path, endpoint: str, *, required: bool = True, **cfg: Any) -> Any:
    tmp.mkdir(exist_ok=True)
    log = tmp / "garak.jsonl"
    garak = recorder(tmp / "fake-garak", log, FAKE_GARAK)
    rel = load_release(_release(tmp / "rel", endpoint))
    config = AdversarialConfig(
        garak_command=(str(garak),), probes=("goodside.ThreatenJSON",), cache=False, **cfg
    )
    ctx = CheckContext(
        release=rel,
        tier=score(rel.manifest),
        config=config,
        options=RunOptions(workdir=tmp / "work"),
        required=required,
    )
    try:
        out: Any = AdversarialCheck().run(ctx)
    except CheckError as exc:
        out = exc
    return out, calls(log)


OPENAI = "endpoint:\n  type: openai\n  url: {url}\n  model: m\n"


def test_garak_gets_the_policys_credential_for_an_allowed_host_and_nothing_else(
    tmp_path: Path, secret_env: None
) -> None:
    out, seen = _run_adversarial(
        tmp_path,
        OPENAI.format(url="http://127.0.0.1:8011/v1") + "  api_key_env: TARGET_KEY\n",
        credential_env="TARGET_KEY",
        credential_hosts=("127.0.0.1:8011",),
    )
    # The stand-in wrote no report: the run errors (fail closed) after garak started twice.
    assert isinstance(out, CheckError) and "garak wrote no report" in out.message
    assert [c["argv"][1:2] for c in seen] == [["--version"], ["--config"]]
    run = seen[1]
    assert run["env"]["OPENAICOMPATIBLE_API_KEY"] == ENDPOINT_KEY
    run["env"].pop("OPENAICOMPATIBLE_API_KEY")
    for call in seen:
        assert_no_secret(call)
    assert run["env"]["HF_HUB_OFFLINE"] == "1"


def test_release_naming_the_gates_own_secret_gets_nothing(tmp_path: Path, secret_env: None) -> None:
    """The attack of the issue: release.yaml names the key password variable and its own host."""
    endpoint = OPENAI.format(url="http://127.0.0.1:8012/v1") + "  api_key_env: MODEL_GATE_KEY_PASSWORD\n"
    out, seen = _run_adversarial(tmp_path, endpoint)
    assert isinstance(out, CheckError)
    assert "MODEL_GATE_KEY_PASSWORD" in out.message and "credential_env" in out.message
    assert seen == []  # garak never started
    # Optional at this tier: a skip that says why, still without starting garak.
    out, seen = _run_adversarial(tmp_path / "opt", endpoint, required=False)
    assert out.skipped and "only the policy chooses" in out.summary and seen == []


def test_release_asking_for_another_variable_than_the_policys_is_refused(
    tmp_path: Path, secret_env: None
) -> None:
    endpoint = OPENAI.format(url="http://127.0.0.1:8013/v1") + "  api_key_env: AWS_SECRET_ACCESS_KEY\n"
    out, seen = _run_adversarial(
        tmp_path, endpoint, credential_env="TARGET_KEY", credential_hosts=("127.0.0.1",)
    )
    assert isinstance(out, CheckError) and "AWS_SECRET_ACCESS_KEY" in out.message
    assert "TARGET_KEY" in out.message and seen == []


@pytest.mark.parametrize(
    "url",
    [
        "http://evil.example:8014/v1",  # another host
        "http://127.0.0.1.evil.example/v1",  # a suffix
        "http://127.0.0.1@evil.example/v1",  # user info: clients disagree on the host
        "http://evil.example\\@127.0.0.1/v1",  # backslash
        "http://evil.example#@127.0.0.1/v1",
    ],
)
def test_credential_is_never_sent_to_a_host_the_policy_does_not_allow(
    tmp_path: Path, secret_env: None, url: str
) -> None:
    out, seen = _run_adversarial(
        tmp_path,
        OPENAI.format(url=json.dumps(url)) + "  api_key_env: TARGET_KEY\n",
        credential_env="TARGET_KEY",
        credential_hosts=("127.0.0.1",),
    )
    assert isinstance(out, CheckError)
    assert "not sent" in out.message or "no credential" in out.message
    assert seen == []


def test_keyless_release_elsewhere_runs_without_the_key(tmp_path: Path, secret_env: None) -> None:
    out, seen = _run_adversarial(
        tmp_path,
        OPENAI.format(url="http://127.0.0.1:8015/v1"),
        credential_env="TARGET_KEY",
        credential_hosts=("llm.internal.example",),
    )
    assert isinstance(out, CheckError) and "garak wrote no report" in out.message
    assert seen[1]["env"]["OPENAICOMPATIBLE_API_KEY"] == "no-key-required"
    for call in seen:
        assert_no_secret(call)


def test_policy_cannot_name_the_gates_own_variables() -> None:
    with pytest.raises(ValueError, match="MODEL_GATE_"):
        AdversarialConfig(credential_env="MODEL_GATE_KEY_PASSWORD")
    with pytest.raises(ValueError, match="host"):
        AdversarialConfig(credential_hosts=("http://x/",))


def test_endpoint_host_parsing() -> None:
    assert endpoint_host("https://LLM.Example./v1") == ("llm.example", 443)
    assert endpoint_host("http://[::1]:81/") == ("::1", 81)
    for bad in ("ftp://x/", "http://u:p@x/", "http://x y/", "http://é.example/", "http://x:99999/"):
        with pytest.raises(ValueError):
            endpoint_host(bad)


def test_grant_rules() -> None:
    from gate.models.manifest import Endpoint

    env = {"K": "v"}
    ep = Endpoint.model_validate({"type": "openai", "url": "https://api.example/v1"})
    assert grant(ep, None, (), env).key is None
    assert grant(ep, "K", ("api.example",), env).key == "v"
    assert grant(ep, "K", ("api.example:443",), env).key == "v"
    assert grant(ep, "K", ("api.example:8443",), env).key is None
    hf = Endpoint.model_validate({"type": "callable", "callable": "m:f"})
    assert grant(hf, "K", ("api.example",), env).key is None  # a callable never gets the key
    with pytest.raises(CredentialRefused):
        grant(ep.model_copy(update={"api_key_env": "OTHER"}), "K", ("api.example",), env)
    with pytest.raises(CredentialRefused, match="not set"):
        grant(ep, "K", ("api.example",), {})


# --- pip-audit ------------------------------------------------------------------------------


FAKE_PIP_AUDIT = """\
out = sys.argv[sys.argv.index('-o') + 1]
req = sys.argv[sys.argv.index('-r') + 1]
deps = []
for line in open(req):
    name, _, version = line.strip().partition('==')
    deps.append({'name': name, 'version': version, 'vulns': []})
with open(out, 'w') as fh:
    json.dump({'dependencies': deps, 'fixes': []}, fh)
"""


def test_pip_audit_sees_no_secret(tmp_path: Path, secret_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from gate.checks.dependencies import DependenciesCheck, DependenciesConfig

    shadow = tmp_path / "shadow"
    (shadow / "pip_audit").mkdir(parents=True)
    (shadow / "pip_audit" / "__init__.py").write_text("")
    log = tmp_path / "pip-audit.jsonl"
    recorder(shadow / "pip_audit" / "__main__.py", log, FAKE_PIP_AUDIT)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(shadow), str(ROOT)]))
    monkeypatch.setenv("PIP_AUDIT_VULNERABILITY_SERVICE", "pypi")
    root = _release(tmp_path / "rel", "serving: {requirements: requirements.txt}\n")
    (root / "requirements.txt").write_text("requests==2.31.0\n")
    rel = load_release(root)
    ctx = CheckContext(
        release=rel,
        tier=score(rel.manifest),
        config=DependenciesConfig(osv_url="http://127.0.0.1:9/"),
        options=RunOptions(workdir=tmp_path),
    )
    # Nothing answers on port 9: after the stand-in ran, the gate's own OSV query fails closed.
    with pytest.raises(CheckError, match="cannot reach the OSV service"):
        DependenciesCheck().run(ctx)
    seen = calls(log)
    assert seen, "the stand-in did not run"
    for call in seen:
        assert_no_secret(call)
        assert not any(k.startswith("PIP_AUDIT_") for k in call["env"])
        assert "--osv-url" in call["argv"]


# --- promtool --------------------------------------------------------------------------------


FAKE_PROMTOOL = """\
if '--version' in sys.argv:
    print('promtool, version 2.53.0')
else:
    print('Checking rules\\n  SUCCESS: 1 rules found')
"""


def test_promtool_sees_no_secret(tmp_path: Path, secret_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support.monitoring import run_check

    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "promtool.jsonl"
    recorder(bindir / "promtool", log, FAKE_PROMTOOL)
    monkeypatch.setenv("PATH", os.pathsep.join([str(bindir), os.environ["PATH"]]))
    run_check(DEMO, "monitoring")
    seen = calls(log)
    assert [c["argv"][1] for c in seen][:2] == ["--version", "check"]
    for call in seen:
        assert_no_secret(call)
        assert call["env"].get("LC_ALL") == "C" or call["argv"][1] == "--version"


# --- git -------------------------------------------------------------------------------------


def test_git_sees_no_secret(tmp_path: Path, secret_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from gate.waivers import default_requester

    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "git.jsonl"
    recorder(bindir / "git", log, "print('dev@example.com')\n")
    monkeypatch.setenv("PATH", os.pathsep.join([str(bindir), os.environ["PATH"]]))
    assert default_requester() == "dev@example.com"
    (call,) = calls(log)
    assert_no_secret(call)


# --- one helper, used by every child process -------------------------------------------------


def test_child_env_is_an_allowlist() -> None:
    parent = {"PATH": "/bin", "HOME": "/h", "LC_ALL": "C", **SECRETS, "HTTPS_PROXY": "http://p:3128"}
    assert child_env(parent=parent) == {"PATH": "/bin", "HOME": "/h", "LC_ALL": "C"}
    assert child_env(parent=parent, network=True)["HTTPS_PROXY"] == "http://p:3128"
    assert child_env(parent=parent, extra={"X": "1"})["X"] == "1"


# The action runs the gate itself, which needs its own secrets (the attestation key's password).
SELF_RUNS = {"gate/action.py"}


def test_every_subprocess_call_in_the_gate_builds_its_environment_with_child_env() -> None:
    offenders = []
    for path in sorted((ROOT / "gate").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("run", "Popen", "call", "check_call", "check_output")
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "subprocess"
            ):
                continue
            env = next((k.value for k in node.keywords if k.arg == "env"), None)
            ok = env is not None and (
                (isinstance(env, ast.Call) and getattr(env.func, "id", "") in ("child_env", "_child_env"))
                or isinstance(env, ast.Name)
            )
            if not ok and rel not in SELF_RUNS:
                offenders.append(f"{rel}:{node.lineno}")
    assert not offenders, offenders


@settings(max_examples=400, deadline=None)
@given(
    st.text(alphabet="abc.:/@#?\\[]%1 9-_é\t", max_size=30).map(lambda s: "http://" + s)
    | st.from_regex(r"\Ahttps?://[a-z0-9.@:\[\]#?/%-]{1,30}\Z")
)
def test_the_host_we_allow_is_the_host_the_http_clients_reach(url: str) -> None:
    """garak reaches endpoints through httpx (OpenAI client) and requests (REST): a URL we accept
    must name the same host and port for both, or a key could go elsewhere."""
    import httpx
    import urllib3.exceptions
    import urllib3.util

    try:
        host, port = endpoint_host(url)
    except ValueError:
        return  # refused: no credential is sent
    default = 443 if url.startswith("https") else 80
    try:
        h = httpx.URL(url)
    except httpx.InvalidURL:
        pass  # a client that cannot parse the URL sends nothing
    else:
        assert (h.host.lower().rstrip("."), default if h.port is None else h.port) == (host, port)
    try:
        u = urllib3.util.parse_url(url)
    except urllib3.exceptions.LocationParseError:
        pass
    else:
        assert ((u.host or "").lower().strip("[]").rstrip("."), default if u.port is None else u.port) == (
            host,
            port,
        )
