"""Fixtures and hooks only; what test modules import lives in tests.support."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings

# Helpers live in tests.support: the fixtures below use some, and test modules written before
# the move may still import them from here.
from tests.support import (  # noqa: F401
    BAD,
    DEMO,
    DEMO_POLICY,
    MINIMAL_MANIFEST,
    OSV_RECORDS,
    ROOT,
    reachable,
    run_cli,
    run_json,
    stable_mirror_url,
    write_release,
)
from tests.support.tooling import INSTALL_HINT, OPTIONAL_TOOLS, hidden_tools, parse_hidden, tool_available

# The hostile-input properties: `make test` (what CI runs) takes the "fixed" profile, the same
# examples on every run, so a red run is a change's doing and not the draw; `make fuzz` draws
# fresh examples with each seed it is given, to find what the fixed draw does not.
settings.register_profile("fixed", derandomize=True, print_blob=True)
settings.register_profile("explore", print_blob=True)


@pytest.fixture(autouse=True)
def _decision_log_in_tmp(monkeypatch: pytest.MonkeyPatch) -> None:
    """`check` appends to a decision log by default: each test gets its own, in the session's
    state directory (see pytest_configure), never the user's."""
    log = Path(tempfile.mkdtemp(dir=os.environ["MODEL_GATE_TEST_STATE"])) / "decisions.jsonl"
    monkeypatch.setenv("MODEL_GATE_DECISION_LOG", str(log))


@pytest.fixture(autouse=True)
def _rows_dir_in_tmp(monkeypatch: pytest.MonkeyPatch) -> None:
    """A report on standard output puts its training-data row lists in $MODEL_GATE_ROWS_DIR (else
    ./model-gate-rows): each test gets its own, never the working directory."""
    rows = Path(tempfile.mkdtemp(dir=os.environ["MODEL_GATE_TEST_STATE"])) / "rows"
    monkeypatch.setenv("MODEL_GATE_ROWS_DIR", str(rows))


@pytest.fixture
def release(tmp_path: Path) -> Path:
    return write_release(tmp_path / "rel")


@pytest.fixture
def demo_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "demo"
    shutil.copytree(DEMO, dst, symlinks=True)
    return dst


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-goldens", action="store_true", help="Rewrite golden files.")
    parser.addoption(
        "--hide-tools",
        default=os.environ.get("MODEL_GATE_TEST_HIDE_TOOLS", ""),
        metavar="TOOL,...|all",
        help="Run as a machine without these optional tools would (promtool, garak, chromium, or "
        "all): they are removed from PATH (garak from this interpreter too).",
    )


def pytest_configure(config: pytest.Config) -> None:
    # Before any fixture or subprocess runs: the default decision log and every other state file
    # resolve inside a directory of this session, even where a test drops MODEL_GATE_DECISION_LOG.
    config.stash[_USER_LOG] = _users_log()
    state = Path(tempfile.mkdtemp(prefix="model-gate-test-state-"))
    os.environ["MODEL_GATE_TEST_STATE"] = str(state)
    os.environ["XDG_STATE_HOME"] = str(state)
    os.environ["MODEL_GATE_DECISION_LOG"] = str(state / "decisions.jsonl")
    config.add_cleanup(lambda: shutil.rmtree(state, ignore_errors=True))
    try:
        hidden = parse_hidden(str(config.getoption("--hide-tools")))
    except ValueError as exc:
        raise pytest.UsageError(f"--hide-tools: {exc}") from None
    config.stash[HIDDEN_TOOLS] = hidden
    if hidden:
        shadow = Path(tempfile.mkdtemp(prefix="model-gate-hidden-tools-"))
        stack = contextlib.ExitStack()
        stack.enter_context(hidden_tools(hidden, shadow))
        stack.callback(shutil.rmtree, shadow, ignore_errors=True)
        config.stash[_HIDING] = stack


_USER_LOG = pytest.StashKey[tuple[Path, int]]()


def _users_log() -> tuple[Path, int]:
    """Where `check` would log for the user running the tests, and its size: read before the
    session changes the environment (pytest_configure), as gate.decision_log.default_path reads it."""
    from gate import decision_log

    path = decision_log.default_path()
    try:
        return path, path.stat().st_size
    except OSError:
        return path, 0


def _ours(entry: bytes, roots: tuple[Path, ...]) -> bool:
    try:
        release = json.loads(entry).get("release", {}).get("path", "")
    except (ValueError, AttributeError):
        return False
    return isinstance(release, str) and any(Path(release).is_relative_to(r) for r in roots)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A test (or a subprocess it started) that wrote to the user's real decision log fails the run.

    Lines that other programs append meanwhile (the user's own runs) are not ours: only entries
    for releases under this session's temporary directory or this checkout count."""
    before = session.config.stash.get(_USER_LOG, None)
    if before is None:
        return
    path, size = before
    try:
        with path.open("rb") as f:
            f.seek(size)
            added = f.read()
    except OSError:
        return
    factory = getattr(session.config, "_tmp_path_factory", None)
    roots = (ROOT, *((factory.getbasetemp(),) if factory is not None else ()))
    ours = [line for line in added.splitlines() if line.strip() and _ours(line, roots)]
    if ours:
        sys.stderr.write(
            f"\nERROR: the test run added {len(ours)} line(s) to the user's decision log {path}\n"
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_unconfigure(config: pytest.Config) -> None:
    stack = config.stash.get(_HIDING, None)
    if stack is not None:
        stack.close()


def pytest_report_header(config: pytest.Config) -> str:
    hidden = config.stash.get(HIDDEN_TOOLS, ())
    present = [t for t in OPTIONAL_TOOLS if tool_available(t)]
    return f"optional tools present: {', '.join(present) or 'none'}" + (
        f"; hidden: {', '.join(hidden)}" if hidden else ""
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    """`@pytest.mark.needs_tool("promtool")`: skipped, saying why, where the tool is absent."""
    hidden = item.config.stash.get(HIDDEN_TOOLS, ())
    for mark in item.iter_markers("needs_tool"):
        for name in mark.args:
            if name not in OPTIONAL_TOOLS:
                raise pytest.UsageError(
                    f"needs_tool({name!r}): not an optional tool ({', '.join(OPTIONAL_TOOLS)})"
                )
            if not tool_available(name):
                why = "hidden by --hide-tools" if name in hidden else f"install {INSTALL_HINT[name]}"
                pytest.skip(f"needs {name}, which is absent ({why})")


HIDDEN_TOOLS = pytest.StashKey[tuple[str, ...]]()
_HIDING = pytest.StashKey[contextlib.ExitStack]()


@pytest.fixture
def without_tools(
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[..., contextlib.AbstractContextManager[None]]:
    """`with without_tools("promtool"): ...` runs the block as on a machine without those tools
    (all of them when none is named)."""

    def hide(*names: str) -> contextlib.AbstractContextManager[None]:
        return hidden_tools(names or tuple(OPTIONAL_TOOLS), tmp_path_factory.mktemp("shadow-bin"))

    return hide


@pytest.fixture
def update_goldens(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-goldens"))


@pytest.fixture(scope="session")
def osv_mirror() -> Iterator[str]:
    """A real OSV-compatible API on 127.0.0.1 serving the recorded advisories (gate.osv_mirror)."""
    from gate.osv_mirror import running

    with running(OSV_RECORDS) as server:
        yield server.url


@pytest.fixture(scope="session", autouse=True)
def vulnerability_source(osv_mirror: str) -> Iterator[str]:
    """The examples audit their serving dependencies, and the tests have no internet: their
    vulnerability source is the recorded mirror, named the way an air-gapped runner names its own
    (MODEL_GATE_OSV_URL). Tests of the no-source case remove it with monkeypatch.delenv."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MODEL_GATE_OSV_URL", osv_mirror)
        yield osv_mirror


@pytest.fixture(scope="session")
def demo_policy(osv_mirror: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/demo-policy.yaml with the dependency audit pointed at this session's mirror.

    The examples (and every policy built on `default`) audit dependencies; without the
    internet that needs a vulnerability source, as `make demo` provides on a fixed port.
    """
    path = tmp_path_factory.mktemp("policy") / "demo-policy.yaml"
    path.write_text(
        f"version: 1\nname: demo-test\nextends: [{DEMO_POLICY}]\n"
        f"defaults:\n  checks:\n    dependencies:\n      osv_url: {osv_mirror}\n",
        "utf-8",
    )
    return path


DEMO_PORT = 18765  # the endpoint examples/demo-release/release.yaml declares


@pytest.fixture(scope="session")
def demo_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The demo release's model served on its declared loopback port, as `make demo` does.

    Red-team results go to a cache of this session, filled here by one real
    attack on the demo: every later check of the demo in the session reads the
    same results from the cache, so reports (and goldens) do not depend on
    which test ran first.
    """
    from gate.commands.redteam import run_redteam
    from gate.redteam.demo_server import serve

    old = os.environ.get("MODEL_GATE_CACHE_DIR")
    os.environ["MODEL_GATE_CACHE_DIR"] = str(tmp_path_factory.mktemp("demo-cache"))
    # The port is the one release.yaml declares: another test session on this machine may hold it
    # for a while. Wait for it (bounded) rather than erroring every test of the demo.
    deadline = time.monotonic() + 600
    while True:
        try:
            srv = serve(DEMO / "model", port=DEMO_PORT, max_requests=5000)
            break
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE or time.monotonic() > deadline:
                raise
            time.sleep(2)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        if not tool_available("garak"):
            # The adversarial check is optional in the demo's policy: without garak it is a skip
            # that names the extra, and tests of its results are marked needs_tool("garak").
            yield f"http://127.0.0.1:{DEMO_PORT}/v1"
            return
        warm = run_redteam(
            DEMO,
            policy_ref="default",
            broad=False,
            shard=None,
            offline=False,
            baseline=None,
            cache_dir=None,
            no_cache=False,
            parallel=None,
            workdir=None,
        )
        assert warm.exit_code == 0, [c.summary for c in warm.checks]
        yield f"http://127.0.0.1:{DEMO_PORT}/v1"
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=10)
        if old is None:
            os.environ.pop("MODEL_GATE_CACHE_DIR", None)
        else:
            os.environ["MODEL_GATE_CACHE_DIR"] = old


@pytest.fixture(autouse=True)
def _demo_endpoint_for_marked_tests(request: pytest.FixtureRequest) -> None:
    """Tests marked `demo_endpoint` (those that check the demo release with its adversarial check)
    get the demo's endpoint served, and its red-team results in the session's cache."""
    if request.node.get_closest_marker("demo_endpoint") is not None:
        request.getfixturevalue("demo_endpoint")
