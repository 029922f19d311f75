"""The action's environment: its locks (CPU torch) and the cache verifier, action/venvcheck.py."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.support.actionrunner import ROOT


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


venvcheck = _load("model_gate_venvcheck", ROOT / "action" / "venvcheck.py")
lock_torch = _load("model_gate_lock_torch_cpu", ROOT / "scripts" / "lock_torch_cpu.py")

# Distributions only a CUDA build of torch needs. nvidia-riva-client is not one: it is garak's
# client for NVIDIA's hosted speech service (pure Python, gRPC), a requirement of garak itself.
GPU_ONLY = re.compile(r"^(?:triton|pytorch-triton.*|nvidia-(?!riva-client$).*|cuda-.*)$")


def _names(lock: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for pin in venvcheck.Locks.read([ROOT / "action" / lock]).pins:
        out.setdefault(pin.name, []).append(pin.version)
    return out


# the locks ------------------------------------------------------------------------------------


def test_the_red_team_locks_install_no_cuda() -> None:
    for lock in ("requirements.txt", "requirements-redteam.txt", "requirements-torch.txt"):
        gpu = [n for n in _names(lock) if GPU_ONLY.match(n)]
        assert gpu == [], f"{lock}: {gpu}"
        assert "torch" not in _names(lock) or lock == "requirements-torch.txt"
    text = (ROOT / "action" / "requirements-redteam.txt").read_text("utf-8")
    assert not re.search(r"^(?:triton|nvidia-cu|nvidia-nccl|cuda-)", text, re.M)


def test_torch_comes_from_the_cpu_index_pinned_by_hash() -> None:
    pins = venvcheck.Locks.read([ROOT / "action" / "requirements-torch.txt"]).pins
    by_marker = {p.marker: p for p in pins}
    assert {p.name for p in pins} == {"torch"}
    linux = by_marker["sys_platform == 'linux' or sys_platform == 'win32'"]
    mac = by_marker["sys_platform == 'darwin'"]
    assert linux.version.endswith("+cpu") and mac.version == linux.version.removesuffix("+cpu")
    assert len(linux.hashes) >= 8 and mac.hashes and not linux.hashes & mac.hashes
    # torch's own requirements are pinned in the red-team lock (installed with --no-deps).
    redteam = _names("requirements-redteam.txt")
    assert set(redteam) >= lock_torch.CPU_TORCH_REQUIRES
    # The version the project's setup installs as a CPU build (Makefile) is the one locked.
    assert "torch==" + mac.version in (ROOT / "Makefile").read_text("utf-8")
    action = (ROOT / "action.yml").read_text("utf-8")
    assert "--index-url https://download.pytorch.org/whl/cpu" in action


def test_a_local_cpu_wheel_matches_the_lock() -> None:
    """Where the CPU wheel of this machine's Python is at hand (pip's find-links), its digest is one
    the lock pins: the lock names the files PyTorch's CPU index serves."""
    import hashlib
    import os

    tag = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    dirs = [Path(d) for d in os.environ.get("PIP_FIND_LINKS", "").split() if Path(d).is_dir()]
    wheels = [w for d in dirs for w in d.glob(f"torch-*+cpu-{tag}-{tag}-manylinux*_x86_64.whl")]
    if not wheels:
        pytest.skip("no local CPU torch wheel")
    (linux,) = [
        p
        for p in venvcheck.Locks.read([ROOT / "action" / "requirements-torch.txt"]).pins
        if "+cpu" in p.version
    ]
    for wheel in wheels:
        if f"torch-{linux.version}-" in wheel.name:
            assert hashlib.sha256(wheel.read_bytes()).hexdigest() in linux.hashes


SAMPLE_LOCK = """\
# via nothing
torch==2.15.0 ; sys_platform == 'linux' \\
    --hash=sha256:{h1}
    # via garak
nvidia-cudnn-cu13==9.26.0.51 ; sys_platform == 'linux' \\
    --hash=sha256:{h2}
    # via torch
nvidia-cublas==13.4.1.3 ; sys_platform == 'linux' \\
    --hash=sha256:{h3}
    # via
    #   cuda-toolkit
    #   nvidia-cudnn-cu13
cuda-toolkit==13.2.2 ; sys_platform == 'linux' \\
    --hash=sha256:{h4}
    # via torch
nvidia-riva-client==2.16.0 \\
    --hash=sha256:{h5}
    # via garak
sympy==1.14.0 \\
    --hash=sha256:{h6}
    # via torch
jinja2==3.1.6 \\
    --hash=sha256:{h7}
    # via
    #   garak
    #   torch
"""


def test_split_drops_what_only_cuda_torch_pulls_in() -> None:
    text = SAMPLE_LOCK.format(**{f"h{i}": str(i) * 64 for i in range(1, 8)})
    out = lock_torch.split(text)
    names = [m.group(1) for m in re.finditer(r"^([a-z0-9-]+)==", out, re.M)]
    # The CUDA runtime goes, found through `# via` (nvidia-cublas only through dropped parents);
    # garak's riva client and torch's CPU requirements stay.
    assert names == ["nvidia-riva-client", "sympy", "jinja2"]
    assert "# via torch (requirements-torch.txt)" in out and "cuda-toolkit" not in out


def test_torch_lock_from_the_index_listing() -> None:
    listing = "\n".join(
        [
            f"{'a' * 64}  torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl",
            f"{'b' * 64}  torch-2.13.0+cpu-cp310-cp310-manylinux_2_28_x86_64.whl",  # too old a Python
            f"{'c' * 64}  torch-2.13.0+cpu-cp312-cp312-linux_s390x.whl",  # no such runner
            f"{'d' * 64}  torch-2.13.0-cp312-cp312-macosx_14_0_arm64.whl",
            f"{'e' * 64}  torch-2.12.0+cpu-cp312-cp312-win_amd64.whl",  # another version
        ]
    )
    out = lock_torch.torch_lock("2.13.0", listing)
    assert f"sha256:{'a' * 64}" in out and f"sha256:{'d' * 64}" in out
    assert not any(f"sha256:{c * 64}" in out for c in "bce")
    with pytest.raises(SystemExit):
        lock_torch.torch_lock("2.14.0", listing)


# the cache verifier ---------------------------------------------------------------------------


def _fake_install(venv: Path, tmp: Path, lock: str = "requirements.txt") -> list[Path]:
    """A venv holding one file per pin of the lock, and pip's reports saying it installed them."""
    site = venv / "lib" / "site-packages"
    site.mkdir(parents=True)
    items = []
    for pin in venvcheck.Locks.read([ROOT / "action" / lock]).pins:
        (site / f"{pin.name}-{pin.version}.py").write_text(pin.name, "utf-8")
        items.append(
            {
                "metadata": {"name": pin.name, "version": pin.version},
                "download_info": {"archive_info": {"hashes": {"sha256": sorted(pin.hashes)[0]}}},
            }
        )
    items.append({"metadata": {"name": "model_gate", "version": "0.1"}, "download_info": {"dir_info": {}}})
    (venv / "bin").mkdir()
    (venv / "bin" / "python").symlink_to(sys.executable)
    report = tmp / "report.json"
    report.write_text(json.dumps({"install": items}), "utf-8")
    return [report]


@pytest.fixture
def recorded(tmp_path: Path) -> tuple[Path, str]:
    venv = tmp_path / "venv"
    key = venvcheck.key(venv, "core")
    venvcheck.record(venv, "core", key, _fake_install(venv, tmp_path))
    assert venvcheck.problems(venv, "core", key) == []
    return venv, key


def test_key_names_os_python_locks_path_and_source(tmp_path: Path) -> None:
    a = venvcheck.key(tmp_path / "v", "core")
    assert a == venvcheck.key(tmp_path / "v", "core")
    assert a.startswith(f"model-gate-venv-{sys.platform.replace('win32', 'windows')}")
    assert f"py{sys.version_info[0]}.{sys.version_info[1]}.{sys.version_info[2]}-core-" in a
    assert a != venvcheck.key(tmp_path / "w", "core") != venvcheck.key(tmp_path / "v", "redteam")


def test_key_follows_the_source_and_the_locks(tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "action-checkout"
    for part in ("pyproject.toml", "README.md", "gate/__init__.py"):
        (root / part).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / part, root / part)
    before = venvcheck.source_digest(root)
    (root / "gate" / "__init__.py").write_text("changed", "utf-8")
    assert venvcheck.source_digest(root) != before
    (root / "gate" / "__pycache__").mkdir()
    after = venvcheck.source_digest(root)
    (root / "gate" / "__pycache__" / "x.pyc").write_bytes(b"")
    assert venvcheck.source_digest(root) == after  # byte code is not source


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda v: (v / "lib/site-packages/pyyaml-6.0.4.py").write_text("evil"), "changed file"),
        (lambda v: (v / "lib/site-packages/usercustomize.pth").write_text("import os"), "unexpected file"),
        (lambda v: (v / "lib/site-packages/pyyaml-6.0.4.py").unlink(), "missing file"),
        (
            lambda v: ((v / "bin/python").unlink(), (v / "bin/python").symlink_to("/bin/sh")),
            "changed file bin/python",
        ),
        (
            lambda v: (
                (v / "lib/site-packages/sub").mkdir() or (v / "lib/site-packages/sub/x.py").write_text("")
            ),
            "unexpected",
        ),
    ],
)
def test_verify_catches_changed_added_and_missing_files(
    recorded: tuple[Path, str], change, reason: str
) -> None:  # type: ignore[no-untyped-def]
    venv, key = recorded
    change(venv)
    assert any(reason in p for p in venvcheck.problems(venv, "core", key))


def test_verify_checks_the_manifest_against_the_locks(recorded: tuple[Path, str]) -> None:
    venv, key = recorded
    path = venv / venvcheck.MANIFEST
    data = json.loads(path.read_text("utf-8"))
    # A manifest rewritten to describe another archive of a pinned package is refused...
    data["dists"]["pyyaml"]["sha256"] = "0" * 64
    path.write_text(json.dumps(data), "utf-8")
    assert venvcheck.problems(venv, "core", key) == [
        "pyyaml 6.0.4: its archive is not pinned by the core locks"
    ]
    # ...and so is one missing a pinned package, or naming another key.
    del data["dists"]["pyyaml"]
    path.write_text(json.dumps(data), "utf-8")
    assert venvcheck.problems(venv, "core", key) == ["pyyaml: pinned but not installed"]
    assert "another key" in venvcheck.problems(venv, "core", key + "x")[0]
    # A core environment is not a red-team one.
    assert any("garak: pinned but not installed" in p for p in venvcheck.problems(venv, "redteam", key))


def test_record_refuses_an_archive_the_locks_do_not_pin(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    reports = _fake_install(venv, tmp_path)
    data = json.loads(reports[0].read_text("utf-8"))
    data["install"].append(
        {
            "metadata": {"name": "requests", "version": "0.0.1"},
            "download_info": {"archive_info": {"hashes": {"sha256": "1" * 64}}},
        }
    )
    reports[0].write_text(json.dumps(data), "utf-8")
    with pytest.raises(venvcheck.VenvError, match=r"requests 0\.0\.1: the archive pip installed"):
        venvcheck.record(venv, "core", "k", reports)


def test_lock_entries_without_hashes_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lock = tmp_path / "requirements.txt"
    lock.write_text("pyyaml==6.0.4\n", "utf-8")
    with pytest.raises(venvcheck.VenvError, match="pinned with == and carry hashes"):
        venvcheck.Locks.read([lock])


def test_cli_exit_codes_and_messages(recorded: tuple[Path, str]) -> None:
    venv, key = recorded
    script = str(ROOT / "action" / "venvcheck.py")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-I", script, *args], capture_output=True, text=True, timeout=60
        )

    ok = run("verify", "--venv", str(venv), "--mode", "core", "--key", key)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    (venv / "lib" / "site-packages" / "a.pth").write_text("x", "utf-8")
    bad = run("verify", "--venv", str(venv), "--mode", "core", "--key", key)
    assert bad.returncode == 1 and "unexpected file lib/site-packages/a.pth" in bad.stdout
    assert run("verify", "--venv", str(venv.parent / "none"), "--mode", "core", "--key", key).returncode == 1
    assert run("key", "--venv", str(venv), "--mode", "core").stdout.strip() == key
