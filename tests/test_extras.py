"""Missing extras: each command or check that needs one names it and an install that works.

Every test hides an extra's modules in a subprocess (a meta-path finder that refuses them, as an
install without the extra would) and runs the real CLI.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from gate import __version__
from gate.errors import ExitCode
from gate.extras import EXTRAS, REPOSITORY, MissingExtraError, extra_of, install_hint, needs
from tests.support import DEMO_POLICY, MINIMAL_MANIFEST, ROOT, write_release

# Not named DEMO: the adversarial check is left out here, so the demo's model server is not needed.
DEMO_RELEASE = ROOT / "examples" / "demo-release"
SKIP_REDTEAM = ("--skip", "adversarial")

HIDE_AND_RUN = textwrap.dedent(
    """
    import importlib.abc, sys
    hidden = set(sys.argv[1].split(","))

    class Hide(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in hidden:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    for m in list(sys.modules):
        if m.partition(".")[0] in hidden:
            del sys.modules[m]
    sys.meta_path.insert(0, Hide())
    sys.argv = ["model-gate", *sys.argv[2:]]
    from gate.commands import main
    main()
    """
)


def run_without(extra: str, *args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "COLUMNS": "400"}
    return subprocess.run(
        [sys.executable, "-c", HIDE_AND_RUN, ",".join(EXTRAS[extra].modules), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=cwd,
        check=False,
    )


def requiring(tmp_path: Path, *checks: str) -> Path:
    """The demo policy, with these checks required at every tier."""
    path = tmp_path / "policy.yaml"
    path.write_text(
        f"version: 1\nname: needs\nextends: [{DEMO_POLICY}]\ndefaults:\n  required: [{', '.join(checks)}]\n",
        "utf-8",
    )
    return path


def assert_names_extra(text: str, extra: str) -> None:
    assert f"install the `{extra}` extra: pip install '.[{extra}]' from a model-gate checkout" in text
    assert f"'model-gate[{extra}] @ git+{REPOSITORY}@v{__version__}'" in text
    assert "internal error" not in text
    assert "Traceback" not in text


def check_result(report: Path, name: str) -> dict[str, object]:
    data = json.loads(report.read_text("utf-8"))
    return next(c for c in data["checks"] if c["id"] == name)


# --- commands that cannot run at all: exit 2 -------------------------------------------------------


def test_sbom_command_without_the_sbom_extra_is_exit_2_naming_it() -> None:
    proc = run_without("sbom", "sbom", DEMO_RELEASE, "--no-audit")
    assert proc.returncode == ExitCode.USAGE, proc.stderr
    assert "the CycloneDX ML-BOM needs the Python module 'cyclonedx'" in proc.stderr
    assert_names_extra(proc.stderr, "sbom")


def test_waiver_signing_without_the_signing_extra_is_exit_2_naming_it(tmp_path: Path) -> None:
    import datetime as dt

    from cryptography.hazmat.primitives.asymmetric import ec

    from gate.release import load_release
    from gate.waivers import new_waiver
    from tests.support.waiverkit import pem_private

    now = dt.datetime.now(dt.UTC)
    waiver = tmp_path / "w.json"
    waiver.write_bytes(
        new_waiver(
            load_release(DEMO_RELEASE),
            ["GATE-DP001-0123456789abcdef"],
            reason="reviewed tooling, never loaded by the server",
            justification="vulnerable_code_not_in_execute_path",
            expires=now + dt.timedelta(days=10),
            requester="erin@example.com",
            now=now,
        )
    )
    key = tmp_path / "k.pem"
    key.write_bytes(pem_private(ec.generate_private_key(ec.SECP256R1())))
    proc = run_without("signing", "waiver", "sign", waiver, "--key", key)
    assert proc.returncode == ExitCode.USAGE, proc.stderr
    assert_names_extra(proc.stderr, "signing")


# --- required checks: a check error naming the extra, exit 3 (fail closed) ------------------------


def test_required_dependencies_check_without_the_sbom_extra_fails_closed(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    policy = requiring(tmp_path, "dependencies")
    proc = run_without(
        "sbom",
        "check",
        DEMO_RELEASE,
        "--policy",
        policy,
        "--format",
        "json",
        "--output",
        report,
        *SKIP_REDTEAM,
    )
    assert proc.returncode == ExitCode.CHECK_ERROR, proc.stderr
    result = check_result(report, "dependencies")
    assert result["status"] == "error"
    assert_names_extra(str(result["summary"]), "sbom")


def test_required_signature_checks_without_the_signing_extra_fail_closed(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    proc = run_without(
        "signing",
        "check",
        DEMO_RELEASE,
        "--policy",
        DEMO_POLICY,
        "--format",
        "json",
        "--output",
        report,
        *SKIP_REDTEAM,
    )
    assert proc.returncode == ExitCode.CHECK_ERROR, proc.stderr
    result = check_result(report, "provenance")
    assert result["status"] == "error"
    assert_names_extra(str(result["summary"]), "signing")


def test_required_training_data_check_on_parquet_without_the_data_extra_fails_closed(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = write_release(
        tmp_path / "rel",
        MINIMAL_MANIFEST
        + "datasets:\n  - {name: ft, role: fine-tuning, path: data/ft.parquet, format: parquet}\n",
    )
    (root / "data").mkdir()
    pq.write_table(
        pa.table({"prompt": ["hello"] * 20, "completion": ["world"] * 20}), root / "data/ft.parquet"
    )
    report = tmp_path / "r.json"
    policy = requiring(tmp_path, "training-data")
    proc = run_without(
        "data", "check", root, "--policy", policy, "--format", "json", "--output", report, *SKIP_REDTEAM
    )
    assert proc.returncode == ExitCode.CHECK_ERROR, proc.stderr
    result = check_result(report, "training-data")
    assert result["status"] == "error"
    assert "reading Parquet datasets" in str(result["summary"])
    assert_names_extra(str(result["summary"]), "data")


def test_optional_adversarial_check_without_garak_is_an_error_naming_the_redteam_extra(
    tmp_path: Path,
) -> None:
    """Optional means optional: the check could not complete (an error with a warning), which
    does not decide the exit code; its summary says how to install garak."""
    report = tmp_path / "r.json"
    proc = run_without(
        "redteam", "check", DEMO_RELEASE, "--policy", DEMO_POLICY, "--format", "json", "--output", report
    )
    assert proc.returncode == 0, proc.stderr
    result = check_result(report, "adversarial")
    assert result["status"] == "error" and not result["required"]
    assert_names_extra(str(result["summary"]), "redteam")
    assert "set the `redteam` input to fast or broad" in str(result["summary"])


def test_scan_of_an_onnx_file_without_the_formats_extra_names_it(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph), str(path))
    proc = run_without("formats", "scan", path)
    assert proc.returncode == ExitCode.CHECK_ERROR, proc.stdout + proc.stderr
    assert_names_extra(proc.stdout + proc.stderr, "formats")
    # the benign twin: with the extra, the same file is clean
    ok = subprocess.run(
        [sys.executable, "-m", "gate", "scan", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr


# --- the table itself -----------------------------------------------------------------------------


def test_every_extra_of_pyproject_is_described_and_no_other() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]["optional-dependencies"]
    assert set(EXTRAS) == set(declared) - {"dev"}
    sbom = " ".join(declared["sbom"])
    assert "cvss" in sbom and "packaging" in sbom  # imported directly, so declared directly


def test_extra_of_maps_submodules_and_nothing_else() -> None:
    assert extra_of("cyclonedx.model.bom") == "sbom"
    assert extra_of("sigstore.verify") == "signing"
    assert extra_of("gate") is None
    assert extra_of("cyclonedxfake") is None


def test_needs_turns_an_import_error_into_a_missing_extra_error_with_exit_2() -> None:
    with pytest.raises(MissingExtraError) as info, needs("sbom", "the test"):
        raise ModuleNotFoundError("No module named 'cvss'", name="cvss")
    assert info.value.exit_code == ExitCode.USAGE
    assert info.value.extra == "sbom"
    assert info.value.message == "the test needs the Python module 'cvss', which is not installed"
    # a module of another extra is attributed to that extra
    with pytest.raises(MissingExtraError) as other, needs("sbom", "the test"):
        raise ModuleNotFoundError("No module named 'OpenSSL'", name="OpenSSL")
    assert other.value.extra == "signing"
    # present but broken: said so, still with the extra to reinstall
    with pytest.raises(MissingExtraError) as broken, needs("sbom", "the test"):
        raise ImportError("cannot import name 'CVSS4' from 'cvss'", name="cvss")
    assert "cannot be imported (cannot import name 'CVSS4'" in broken.value.message
    assert broken.value.hint == install_hint("sbom")


@pytest.mark.parametrize("extra", sorted(EXTRAS))
def test_install_hints_never_name_an_unpublished_distribution_alone(extra: str) -> None:
    hint = install_hint(extra)
    assert hint.startswith(f"install the `{extra}` extra: ")
    for spec in re.findall(r"pip install '([^']*)'", hint):
        assert spec.startswith(".[") or " @ git+https://" in spec, spec


UNSAFE_INSTALL = re.compile(
    r"""pip install\s+["']?model-gate(\[[^\]]*\])?(?!\[[^\]]*\]\s*@|\s*@)(["'\s]|$)"""
)


def test_no_doc_or_hint_tells_people_to_install_model_gate_from_an_index() -> None:
    files = [ROOT / "README.md", ROOT / "action.yml", ROOT / "Makefile"]
    files += sorted((ROOT / "docs").rglob("*.md")) + sorted((ROOT / "gate").rglob("*.py"))
    files += sorted((ROOT / "examples").rglob("*.yml")) + sorted((ROOT / ".github").rglob("*.yml"))
    offenders = [
        f"{p.relative_to(ROOT)}:{n}: {line.strip()}"
        for p in files
        for n, line in enumerate(p.read_text("utf-8").splitlines(), 1)
        if UNSAFE_INSTALL.search(line)
    ]
    assert offenders == []


def test_the_unsafe_install_pattern_catches_the_old_hint() -> None:
    assert UNSAFE_INSTALL.search("pip install 'model-gate[redteam]'")
    assert UNSAFE_INSTALL.search("pip install model-gate")
    assert not UNSAFE_INSTALL.search(f"pip install 'model-gate[redteam] @ git+{REPOSITORY}@v0.1.0'")
    assert not UNSAFE_INSTALL.search("pip install '.[sbom]'")
