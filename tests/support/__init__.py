"""What test modules share: the example paths, releases built by code, a CLI runner that never
hides tracebacks. Fixtures and hooks stay in tests/conftest.py."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from gate.commands import main

ROOT = Path(__file__).resolve().parent.parent.parent
DEMO = ROOT / "examples" / "demo-release"
BAD = ROOT / "examples" / "bad-release"
TESTS = ROOT / "tests"
DATA = TESTS / "data"  # recorded inputs: schemas, signed fixtures, monitoring files
GOLDEN = TESTS / "golden"  # expected reports (`pytest --update-goldens` rewrites them)
OSV_RECORDS = ROOT / "examples" / "osv-records"
DEMO_POLICY = ROOT / "examples" / "demo-policy.yaml"

MINIMAL_MANIFEST = """\
schema_version: 1
name: tiny
version: 1.0.0
model:
  path: model/
  format: safetensors
  task: text-classification
deployment:
  exposure: internal
  data_sensitivity: none
  autonomy: advisory
"""


def write_release(
    root: Path, manifest: str = MINIMAL_MANIFEST, files: dict[str, bytes] | None = None
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "release.yaml").write_text(textwrap.dedent(manifest), "utf-8")
    for rel, data in (files if files is not None else {"model/weights.bin": b"\x00" * 64}).items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


def reachable(url: str) -> bool:
    """Whether an HTTPS service answers (tests of online paths check both outcomes by it)."""
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def run_cli(*args: str, **kw: Any) -> Result:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False, **kw)
    return result


def run_json(*args: str) -> tuple[int, dict[str, Any]]:
    result = run_cli(*args, "--format", "json")
    return result.exit_code, json.loads(result.stdout)


def stable_mirror_url(text: str) -> str:
    """Reports name the mirror's URL, whose port changes from run to run; goldens use a fixed one."""
    url = os.environ.get("MODEL_GATE_OSV_URL")
    return text.replace(url, "http://127.0.0.1:8765") if url else text
