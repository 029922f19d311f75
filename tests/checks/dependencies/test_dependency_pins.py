"""Reading pins from requirements files and lock files: what is pinned, what is not, hostile input."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gate.checks.dependencies import pins as P
from gate.checks.dependencies.pins import dependency_files, lock_kind, read_pins

SHA = "a" * 64


def write(root: Path, rel: str, text: str | bytes) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(textwrap.dedent(text), "utf-8")


def kinds(ps: P.PinSet) -> list[tuple[str, str | None, int | None]]:
    return [(p.kind, p.name, p.line) for p in ps.problems]


def test_requirements_pins_hashes_markers_extras_and_continuations(tmp_path: Path) -> None:
    write(
        tmp_path,
        "requirements.txt",
        f"""\
        # serving deps
        Requests[socks]==2.19.0 ; python_version >= "3.8"   # a comment
        safetensors==0.8.0 \\
            --hash=sha256:{SHA} \\
            --hash=sha256:{"b" * 64}
        zope.interface===5.4.0
        --index-url https://pypi.org/simple
        """,
    )
    ps = read_pins(tmp_path, ["requirements.txt"])
    assert ps.problems == []
    got = {(p.name, p.version, p.line, p.hashes) for p in ps.pins}
    assert got == {
        ("requests", "2.19.0", 2, ()),
        ("safetensors", "0.8.0", 3, (f"sha256:{SHA}", f"sha256:{'b' * 64}")),
        ("zope-interface", "5.4.0", 6, ()),
    }
    assert ps.ignored_options == ["requirements.txt:7: --index-url https://pypi.org/simple"]


def test_unpinned_and_unauditable_requirements_are_problems_with_lines(tmp_path: Path) -> None:
    write(
        tmp_path,
        "requirements.txt",
        """\
        numpy>=1.24
        torch
        pandas==2.*
        flask~=3.0.0
        lib @ https://example.org/lib-1.0-py3-none-any.whl
        -e git+https://github.com/org/x.git#egg=x
        ./local/pkg
        git+https://github.com/org/y.git
        wheels/thing-1.0-py3-none-any.whl
        weird==not a version
        """,
    )
    ps = read_pins(tmp_path, ["requirements.txt"])
    assert ps.pins == []
    assert kinds(ps) == [
        (P.UNPINNED, "numpy", 1),
        (P.UNPINNED, "torch", 2),
        (P.UNPINNED, "pandas", 3),
        (P.UNPINNED, "flask", 4),
        (P.NOT_AUDITABLE, "lib", 5),
        (P.NOT_AUDITABLE, None, 6),
        (P.NOT_AUDITABLE, None, 7),
        (P.NOT_AUDITABLE, None, 8),
        (P.NOT_AUDITABLE, None, 9),
        (P.UNREADABLE, None, 10),
    ]


def test_includes_are_followed_inside_the_release_only(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("evil==1.0\n")
    root = tmp_path / "rel"
    write(root, "deps/base.txt", "requests==2.19.0\n")
    write(
        root,
        "requirements.txt",
        """\
        -r deps/base.txt
        --requirement=deps/base.txt
        -r ../outside.txt
        -r /etc/passwd
        -r https://example.org/reqs.txt
        -r missing.txt
        -rdeps/link.txt
        """,
    )
    os.symlink(outside, root / "deps" / "link.txt")
    ps = read_pins(root, ["requirements.txt"])
    assert [(p.name, p.source) for p in ps.pins] == [("requests", "deps/base.txt")]
    problems = [(p.kind, p.line, p.source) for p in ps.problems]
    assert problems == [
        (P.UNREADABLE, None, "deps/base.txt"),  # included twice
        (P.UNREADABLE, 3, "requirements.txt"),  # leaves the release
        (P.UNREADABLE, 4, "requirements.txt"),  # absolute
        (P.NOT_AUDITABLE, 5, "requirements.txt"),  # URL include
        (P.UNREADABLE, None, "missing.txt"),  # missing
        (P.UNREADABLE, None, "deps/link.txt"),  # symlink out of the release
    ]
    assert "evil" not in {p.name for p in ps.pins}


def test_include_cycles_and_depth_are_bounded(tmp_path: Path) -> None:
    write(tmp_path, "a.txt", "-r b.txt\nx==1\n")
    write(tmp_path, "b.txt", "-r a.txt\ny==1\n")
    ps = read_pins(tmp_path, ["a.txt"])
    assert {p.name for p in ps.pins} == {"x", "y"}
    assert any("cycle" in p.reason for p in ps.problems)
    for i in range(10):
        write(tmp_path, f"d{i}.txt", f"-r d{i + 1}.txt\n")
    ps = read_pins(tmp_path, ["d0.txt"])
    assert any("deeper" in p.reason for p in ps.problems)


def test_unknown_options_and_lines_without_requirement(tmp_path: Path) -> None:
    write(tmp_path, "requirements.txt", "--frobnicate yes\n--hash=sha256:abc\n-c constraints.txt\n")
    ps = read_pins(tmp_path, ["requirements.txt"])
    assert [p.kind for p in ps.problems] == [P.UNREADABLE, P.UNREADABLE]
    assert "unknown option" in ps.problems[0].reason
    assert ps.ignored_options == ["requirements.txt:3: -c constraints.txt (constraints are not audited)"]


def test_unreadable_files(tmp_path: Path) -> None:
    write(tmp_path, "requirements.txt", b"\xff\xfe\x00garbage")
    ps = read_pins(tmp_path, ["requirements.txt", "nope.txt", "../x.txt", "Pipfile.lock"])
    reasons = [p.reason for p in ps.problems]
    assert "not UTF-8" in reasons[0]
    assert "no such file" in reasons[1]
    assert "leaves the release" in reasons[2]
    assert "unsupported format" in reasons[3]


def test_oversized_file_is_refused_without_reading_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(P, "MAX_FILE_BYTES", 100)
    write(tmp_path, "requirements.txt", "x==1\n" * 100)
    ps = read_pins(tmp_path, ["requirements.txt"])
    assert ps.pins == [] and "over the 100-byte limit" in ps.problems[0].reason


def test_fifo_is_not_read(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "requirements.txt")
    ps = read_pins(tmp_path, ["requirements.txt"])  # would hang if opened
    assert ps.problems[0].kind == P.UNREADABLE


PYLOCK = f"""\
lock-version = "1.0"
created-by = "pip"

[[packages]]
name = "requests"
version = "2.19.0"
index = "https://pypi.org/simple"
wheels = [{{name = "requests-2.19.0-py2.py3-none-any.whl", hashes = {{sha256 = "{SHA}"}}}}]

[[packages]]
name = "mylib"
version = "0.1"
[packages.vcs]
type = "git"
url = "https://github.com/org/mylib"
commit-id = "abc"

[[packages]]
name = "noversion"
[packages.directory]
path = "./noversion"

[[packages]]
name = "plain"
"""


def test_pylock(tmp_path: Path) -> None:
    write(tmp_path, "pylock.toml", PYLOCK)
    ps = read_pins(tmp_path, ["pylock.toml"])
    assert [(p.name, p.version, p.hashes, p.line) for p in ps.pins] == [
        ("requests", "2.19.0", (f"sha256:{SHA}",), 5)
    ]
    assert [(p.kind, p.name, p.line) for p in ps.problems] == [
        (P.NOT_AUDITABLE, "mylib", 11),
        (P.NOT_AUDITABLE, "noversion", 19),
        (P.NOT_AUDITABLE, "plain", 24),
    ]


UV_LOCK = f"""\
version = 1
requires-python = ">=3.11"

[[package]]
name = "serving"
version = "0.1.0"
source = {{ editable = "." }}
dependencies = [{{ name = "requests" }}]

[[package]]
name = "requests"
version = "2.19.0"
source = {{ registry = "https://pypi.org/simple" }}
sdist = {{ url = "https://files/requests-2.19.0.tar.gz", hash = "sha256:{SHA}", size = 1 }}
wheels = [{{ url = "https://files/requests-2.19.0-py3-none-any.whl", hash = "sha256:{"c" * 64}", size = 1 }}]

[[package]]
name = "forked"
version = "1.0"
source = {{ git = "https://github.com/org/forked?rev=main#abc" }}
"""


def test_uv_lock(tmp_path: Path) -> None:
    write(tmp_path, "uv.lock", UV_LOCK)
    ps = read_pins(tmp_path, ["uv.lock"])
    assert [(p.name, p.version, len(p.hashes), p.line) for p in ps.pins] == [("requests", "2.19.0", 2, 11)]
    assert ps.local_projects == ["serving"]
    assert [(p.kind, p.name) for p in ps.problems] == [(P.NOT_AUDITABLE, "forked")]


POETRY_LOCK = f"""\
[[package]]
name = "requests"
version = "2.19.0"
description = "HTTP"
optional = false
python-versions = "*"
files = [
    {{file = "requests-2.19.0-py2.py3-none-any.whl", hash = "sha256:{SHA}"}},
]

[[package]]
name = "local-thing"
version = "1.0"
[package.source]
type = "directory"
url = "../local-thing"

[metadata]
lock-version = "2.0"
python-versions = "^3.11"
content-hash = "x"
"""


def test_poetry_lock(tmp_path: Path) -> None:
    write(tmp_path, "poetry.lock", POETRY_LOCK)
    ps = read_pins(tmp_path, ["poetry.lock"])
    assert [(p.name, p.version, p.hashes) for p in ps.pins] == [("requests", "2.19.0", (f"sha256:{SHA}",))]
    assert [(p.kind, p.name) for p in ps.problems] == [(P.NOT_AUDITABLE, "local-thing")]


@pytest.mark.parametrize(
    ("name", "text", "reason"),
    [
        ("uv.lock", "version = 1\n[[package]]\nname = 'x'\nversion = [1]\n", "'version' must be a string"),
        ("uv.lock", "this is = = not toml", "not valid TOML"),
        ("uv.lock", "[[package]]\nname='x'\n", "not a uv lock file"),
        ("uv.lock", "version = 1\npackage = 3\n", "must be an array of tables"),
        ("uv.lock", "version = 1\n[[package]]\nname = '../../etc'\n", "valid 'name'"),
        ("uv.lock", "version = 1\n[[package]]\nname='x'\nversion='1'\nsource={a='1',b='2'}\n", "exactly one"),
        ("pylock.toml", 'lock-version = "2.0"\n', "lock-version"),
        ("poetry.lock", "x = 1\n", "not a poetry lock file"),
        ("uv.lock", "version = 1\n" + "a = " + "[" * 5000 + "]" * 5000 + "\n", "not valid TOML"),
    ],
)
def test_malformed_lock_files_are_problems(tmp_path: Path, name: str, text: str, reason: str) -> None:
    write(tmp_path, name, text)
    ps = read_pins(tmp_path, [name])
    assert ps.pins == []
    assert ps.problems and reason in ps.problems[0].reason, ps.problems


def test_lock_kind_and_discovery(tmp_path: Path) -> None:
    assert lock_kind("deploy/pylock.serving.toml") == P.PYLOCK
    assert lock_kind("uv.lock") == P.UV
    assert lock_kind("poetry.lock") == P.POETRY
    assert lock_kind("requirements-serving.in") == P.REQUIREMENTS
    assert lock_kind("requirements.lock") == P.REQUIREMENTS  # pip-compile output named *.lock
    assert lock_kind("Pipfile.lock") is None
    assert lock_kind("environment.yml") is None
    write(tmp_path, "uv.lock", UV_LOCK)
    write(tmp_path, "serving/reqs.txt", "x==1\n")
    os.symlink(tmp_path / "uv.lock", tmp_path / "poetry.lock")
    # Declared first, then well-known names at the root; a symlinked lock file is not picked up.
    assert dependency_files(tmp_path, ["serving/reqs.txt"]) == ["serving/reqs.txt", "uv.lock"]


def test_unique_pins_prefers_hashed_duplicates(tmp_path: Path) -> None:
    write(tmp_path, "requirements.txt", "requests==2.19.0\n")
    write(tmp_path, "uv.lock", UV_LOCK)
    ps = read_pins(tmp_path, ["requirements.txt", "uv.lock"])
    uniq = ps.unique_pins()
    assert len(uniq) == 1 and uniq[0].source == "uv.lock"


LINES = st.lists(
    st.one_of(
        st.text(alphabet=st.characters(codec="utf-8"), max_size=60),
        st.sampled_from(
            ["-r x.txt", "-e .", "a==1", "b>=2", "c @ http://x", "\\", "#", "--hash=sha256:00", "d==1 \\"]
        ),
    ),
    max_size=30,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(LINES)
def test_requirements_parser_never_raises(tmp_path: Path, lines: list[str]) -> None:
    write(tmp_path, "requirements.txt", "\n".join(lines))
    ps = read_pins(tmp_path, ["requirements.txt"])
    for pin in ps.pins:
        assert P._NAME.match(pin.name) and pin.version


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.binary(max_size=400), st.sampled_from(["uv.lock", "pylock.toml", "poetry.lock", "requirements.txt"])
)
def test_any_bytes_in_any_format_never_raise(tmp_path: Path, data: bytes, name: str) -> None:
    write(tmp_path, name, data)
    read_pins(tmp_path, [name])


TOML_VALUES = st.recursive(
    st.one_of(st.integers(), st.text(max_size=10), st.booleans()),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["name", "version", "source", "sdist", "wheels", "vcs"]), TOML_VALUES, max_size=5
        ),
        max_size=4,
    )
)
def test_wrongly_typed_lock_entries_never_raise(tmp_path: Path, entries: list[dict[str, object]]) -> None:
    import json

    def toml_value(v: object) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int):
            return str(v)
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list):
            return "[" + ", ".join(toml_value(x) for x in v) + "]"
        assert isinstance(v, dict)
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items()) + "}"

    body = "version = 1\n" + "".join(
        "[[package]]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in e.items()) for e in entries
    )
    write(tmp_path, "uv.lock", body)
    ps = read_pins(tmp_path, ["uv.lock"])
    for pin in ps.pins:
        assert isinstance(pin.version, str)
