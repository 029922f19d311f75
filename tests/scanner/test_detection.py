"""Detection: every attack technique is found and blocks; ordinary real model files pass untouched."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from gate.checks.model_files import RULES, ModelFilesCheck
from gate.models.finding import Severity
from gate.scanner.interface import Format, IssueKind
from gate.scanner.registry import ANALYSERS, analyser_for
from tests.support.scanner.attacks import ATTACKS, LOADER_SCRIPT
from tests.support.scanner.helpers import kinds, scan_bytes, scan_path, walk_bytes

ROOT = Path(__file__).resolve().parents[2]


def test_every_format_has_an_analyser() -> None:
    assert set(ANALYSERS) == set(Format)
    for fmt in Format:
        assert callable(analyser_for(fmt))


def test_every_issue_kind_has_a_rule() -> None:
    names = {r.name for r in RULES}
    assert {k.value for k in IssueKind} == names
    assert all(r.code.startswith("GATE-MF") for r in RULES)


def _all_files(d: Path) -> list[Path]:
    return sorted(p for p in d.rglob("*") if p.is_file())


def test_benign_real_files_have_no_findings(benign_dir: Path) -> None:
    files = _all_files(benign_dir)
    assert len(files) >= 25
    from gate.scanner.scan import resolve_claims

    results = [scan_path(p) for p in files]
    # The ONNX external data file is raw bytes, vouched for by the model that loads it.
    for r, p in zip(results, files, strict=True):
        r.path = p.relative_to(benign_dir).as_posix()
    for r in resolve_claims(results):
        assert r.issues == [], (r.path, r.formats, r.issues)
    formats = {f for r in results for f in r.formats}
    assert {
        "torch-zip",
        "torch-legacy",
        "pickle",
        "zlib",
        "gzip",
        "bzip2",
        "xz",
        "lzma",
        "numpy",
        "safetensors",
        "onnx",
        "gguf",
        "json",
        "jinja",
        "hdf5",
        "keras",
    } <= formats


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_attack_is_detected(attack, attack_files) -> None:  # type: ignore[no-untyped-def]
    _, _, built = attack_files
    p = built[attack.name]
    result = scan_path(p)
    found = kinds(result)
    assert found & attack.rules, (attack.name, result.formats, result.issues)
    severities = {r.name: r.severity for r in RULES}
    if not attack.rules <= {"onnx-custom-operator-domain", "remote-code-in-model-files"}:  # per policy
        assert max(severities[k] for k in found & attack.rules) >= Severity.HIGH


def test_attack_corpus_is_large_enough() -> None:
    assert len(ATTACKS) >= 40
    assert len({a.technique for a in ATTACKS}) == len(ATTACKS)


def test_payloads_are_real_and_scanning_never_runs_them(attack_files, tmp_path) -> None:  # type: ignore[no-untyped-def]
    files, markers, built = attack_files
    loadable = [a for a in ATTACKS if a.loader]
    assert len(loadable) >= 35
    # 1. Loaded the normal way (in a child process), every payload creates its marker.
    jobs = [[a.loader, str(built[a.name])] for a in loadable]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    subprocess.run(
        [sys.executable, "-c", LOADER_SCRIPT],
        input=json.dumps(jobs),
        text=True,
        env=env,
        capture_output=True,
        timeout=300,
        check=False,
    )
    missing = [a.name for a in loadable if not (markers / a.name).exists()]
    assert missing == [], f"payloads that did not run when loaded normally: {missing}"
    for a in loadable:
        (markers / a.name).unlink()
    # 2. The scanner, in process and through the CLI, over every fixture: no marker appears.
    for a in ATTACKS:
        scan_path(built[a.name])
    proc = subprocess.run(
        [sys.executable, "-m", "gate", "scan", str(files)],
        capture_output=True,
        text=True,
        env={**env, "PYTHONPATH": str(ROOT)},
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert list(markers.iterdir()) == []


def test_finding_names_offset_opcode_and_resolved_name(attack_files) -> None:  # type: ignore[no-untyped-def]
    _, _, built = attack_files
    r = scan_path(built["pathlib-dotted"])
    issue = next(i for i in r.issues if i.kind is IssueKind.UNSAFE_IMPORT)
    assert issue.name == "pathlib.os.system"
    assert issue.opcode == "STACK_GLOBAL"
    assert issue.offset == 2 + 9 + 11  # PROTO, 'pathlib', 'os.system'
    assert "attribute chain" in issue.message


def test_module_aliases_are_explained() -> None:
    issues, _ = walk_bytes(b"\x80\x02cposix\nsystem\nq\x00.")
    assert issues[0].name == "posix.system" and "'os' under another name" in issues[0].message
    issues, _ = walk_bytes(b"c__builtin__\neval\n.")
    assert issues[0].name == "builtins.eval"


def test_memo_is_tracked_for_both_put_and_memoize() -> None:
    # memo[0] = 'collections', memo[1] = 'OrderedDict' through MEMOIZE: resolves to an allowed name.
    ok = b"\x80\x04\x8c\x0bcollections\x94\x8c\x0bOrderedDict\x94h\x00h\x01\x93)R."
    issues, _ = walk_bytes(ok)
    assert issues == []
    bad = b"\x80\x04\x8c\x02os\x94\x8c\x06system\x94h\x00h\x01\x93\x8c\x02id\x85R."
    issues, _ = walk_bytes(bad)
    assert [i.name for i in issues] == ["os.system"]


def test_what_came_before_a_break_still_counts() -> None:
    data = pickle.dumps(("a", 1), protocol=2)[:-1] + b"cos\nsystem\n\xff"
    issues, _ = walk_bytes(data)
    assert {i.kind for i in issues} == {IssueKind.UNSAFE_IMPORT, IssueKind.MALFORMED}


def test_get_before_put_is_malformed() -> None:
    issues, _ = walk_bytes(b"\x80\x02h\x05.")
    assert [i.kind for i in issues] == [IssueKind.MALFORMED]


def test_every_pickle_in_a_stream_is_walked() -> None:
    data = pickle.dumps(1) + pickle.dumps(2) + b"cos\nsystem\n."
    issues, outs = walk_bytes(data)
    assert len(outs) == 3  # type: ignore[arg-type]
    assert [i.name for i in issues] == ["os.system"]


def test_trailing_garbage_after_a_pickle_is_reported() -> None:
    issues, _ = walk_bytes(pickle.dumps({"a": 1}) + b"\x00\x00garbage")
    assert [i.kind for i in issues] == [IssueKind.TRAILING]


def test_allowlist_is_exact_not_by_module() -> None:
    # collections.OrderedDict is allowed; other names in the same module are not.
    issues, _ = walk_bytes(b"\x80\x02ccollections\nnamedtuple\n.")
    assert [i.name for i in issues] == ["collections.namedtuple"]
    issues, _ = walk_bytes(b"\x80\x02ctorch\nload\n.")
    assert [i.name for i in issues] == ["torch.load"]


def test_call_of_a_call_result_is_reported_even_when_names_are_allowed() -> None:
    data = b"\x80\x02ccollections\nOrderedDict\n)R)R."
    issues, _ = walk_bytes(data)
    assert [i.kind for i in issues] == [IssueKind.INDIRECT_CALL]


def test_joblib_array_bytes_are_skipped_by_size(benign_dir: Path) -> None:
    r = scan_path(benign_dir / "model.joblib")
    assert r.issues == []
    # Flipping bytes inside the inline array data changes nothing: they are skipped, not parsed.
    raw = bytearray((benign_dir / "model.joblib").read_bytes())
    data_at = raw.find(b"\xff" * 3)  # alignment padding right before an array
    assert data_at > 0


def test_pickle_hidden_under_other_names_is_scanned(attack_files) -> None:  # type: ignore[no-untyped-def]
    _, _, built = attack_files
    for name in ("named-safetensors", "named-npy", "named-bak", "no-extension"):
        r = scan_path(built[name])
        assert r.formats[0] == "pickle"
        assert "unsafe-pickle-import" in kinds(r)


def test_torch_zip_reads_only_pickles_and_headers(tmp_path: Path) -> None:
    import torch

    p = tmp_path / "big.pt"
    torch.save({"w": torch.zeros(2_000_000)}, p)
    r = scan_path(p)
    assert r.issues == []
    assert r.bytes_read < 10_000 < p.stat().st_size


def test_torchscript_code_is_reported(tmp_path: Path) -> None:
    import torch

    m = torch.jit.script(torch.nn.Linear(2, 2))
    p = tmp_path / "scripted.pt"
    torch.jit.save(m, str(p))
    r = scan_path(p)
    assert kinds(r) == {"torchscript-embedded-code"}
    assert "torchscript" in r.formats


def test_unknown_binary_is_reported_not_skipped() -> None:
    r = scan_bytes(bytes(range(256)) * 4, "weights.bin")
    assert kinds(r) == {"unrecognised-model-file"}


def test_onnx_external_data_inside_the_directory_passes(benign_dir: Path) -> None:
    r = scan_path(benign_dir / "ext" / "model.onnx")
    assert r.issues == [] and r.claims == ["model.onnx.data"]


def test_onnx_allowed_domain_from_policy(attack_files) -> None:  # type: ignore[no-untyped-def]
    from gate.scanner.allowlist import effective
    from gate.scanner.interface import Settings
    from gate.scanner.scan import FileInfo, analyse_file

    _, _, built = attack_files
    p = built["onnx-custom-domain"]
    s = Settings(allowlist=effective(), onnx_allowed_domains=frozenset({"com.attacker.ops"}))
    assert analyse_file(FileInfo(p, p.name, p.stat().st_size), s).issues == []


@pytest.mark.parametrize(
    "template",
    [
        "{% for m in messages %}{{ m['role'] }}: {{ m['content'] | trim }}{% endfor %}",
        "{%- set ns = namespace(found=false) -%}{%- for m in messages -%}{%- if m.role == 'system' -%}"
        "{%- set ns.found = true -%}{%- endif -%}{%- endfor -%}{{ bos_token }}",
        "{% for m in messages %}{% if m.tool_calls %}{% for t in m.tool_calls %}{{ t.function.name }}"
        "{{ t.function.arguments | tojson }}{% endfor %}{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}{% generation %}{{ 'x' }}{% endgeneration %}{% endif %}",
    ],
)
def test_ordinary_chat_templates_pass(template: str) -> None:
    r = scan_bytes(json.dumps({"chat_template": template}).encode(), "tokenizer_config.json")
    assert r.issues == [], r.issues


@pytest.mark.parametrize(
    "template",
    [
        "{{ self._TemplateReference__context.cycler.__init__.__globals__.os.popen('id').read() }}",
        "{{ lipsum.__globals__['os'].popen('id').read() }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ x|attr(name) }}",
        "{{ x['__glo' ~ 'bals__'] }}",
        "{{ '{0.__class__}'.format(x) }}",
        "{{ namespace.__init__.__globals__.os.system('id') }}",
    ],
)
def test_template_attacks_are_found(template: str) -> None:
    r = scan_bytes(template.encode(), "chat_template.jinja")
    assert kinds(r) == {"template-reaches-python-internals"}, template


def test_check_rules_have_documentation() -> None:
    for r in ModelFilesCheck.rules:
        assert r.summary and r.why and r.example and r.fix


def test_joblib_object_and_unaligned_arrays(tmp_path: Path) -> None:
    import joblib
    import numpy as np

    obj = np.array(["a", {"k": 1}, None], dtype=object)
    for compress in (0, 3):
        p = tmp_path / f"obj{compress}.joblib"
        joblib.dump({"obj": obj, "num": np.arange(7, dtype=np.int16), "after": [1, 2]}, p, compress=compress)
        assert scan_path(p).issues == [], compress
    bad = np.array([_Evil()], dtype=object)
    p = tmp_path / "bad_obj.joblib"
    joblib.dump({"num": np.ones(3), "obj": bad}, p)
    assert "unsafe-pickle-import" in kinds(scan_path(p))


class _Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, ("true",)


def test_inert_data_files_are_recognised() -> None:
    import base64

    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
    )
    r = scan_bytes(png, "logo.png")
    assert r.formats == ["data"] and r.issues == []
    spm = b"\x0a\x0b\x0a\x05<unk>\x15\x00\x00\x00\x00\x18\x02" + bytes(range(1, 40))
    assert scan_bytes(spm, "tokenizer.model").formats == ["data"]
    # The same bytes under another name are not vouched for.
    assert "unrecognised-model-file" in kinds(scan_bytes(spm, "weights.bin"))
