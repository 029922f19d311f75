"""Chat templates are judged by allowlist: constant keys without a leading `_` (or numbers computed
from numbers), and only the filters and tests transformers' sandbox offers.

Each attack builds every dangerous name at render time, so no dangerous constant appears in the
template; each is first proved live by rendering it with jinja2's unsandboxed Environment (as
llama-cpp-python did before 0.2.72) in a throwaway subprocess that must create a marker file. The
same checker then runs on the three carriers: `.jinja` files, `tokenizer_config.json`
(`chat_template` as a string and as a list of named templates) and GGUF metadata.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.scanner.benign import gguf_file
from tests.support.scanner.helpers import kinds, scan_bytes, scan_path

# Pieces computed at render time: '__init__', '__globals__', 'os', 'system'.
SETS = {
    "tilde": "{% set i = '_' ~ '_init_' ~ '_' %}{% set g = '_' ~ '_globals_' ~ '_' %}"
    "{% set o = 'o' ~ 's' %}{% set s = 'sys' ~ 'tem' %}",
    "star": "{% set u = '_' * 2 %}{% set i = u ~ 'init' ~ u %}{% set g = u ~ 'globals' ~ u %}"
    "{% set o = 'o' ~ 's' %}{% set s = 'sys' ~ 'tem' %}",
    "join": "{% set i = ['_', '_init_', '_'] | join %}{% set g = ['_', '_globals_', '_'] | join %}"
    "{% set o = ['o', 's'] | join %}{% set s = ['sys', 'tem'] | join %}",
    "replace": "{% set i = '..init..' | replace('.', '_') %}{% set g = '..globals..' | replace('.', '_') %}"
    "{% set o = 'Os' | lower %}{% set s = 'SYSTEM' | lower %}",
    "format": "{% set i = '%sinit%s' | format('_' * 2, '_' * 2) %}"
    "{% set g = '%sglobals%s' | format('_' * 2, '_' * 2) %}"
    "{% set o = '%ss' | format('o') %}{% set s = '%stem' | format('sys') %}",
    "namespace": "{% set ns = namespace(i='_' * 2 ~ 'init' ~ '_' * 2, g='_' * 2 ~ 'globals' ~ '_' * 2) %}"
    "{% set i = ns.i %}{% set g = ns.g %}{% set o = 'o' ~ 's' %}{% set s = 'sys' ~ 'tem' %}",
}
CALL = "{{ namespace[i][g][o][s]('touch MARKER') }}"
EXTRA = {
    # attr() with computed names
    "attr-filter": SETS["tilde"] + "{{ (namespace | attr(i) | attr(g))[o][s]('touch MARKER') }}",
    # map(attribute=...) with a computed name
    "map-attribute": SETS["tilde"]
    + "{{ ([namespace] | map(attribute=i) | first)[g][o][s]('touch MARKER') }}",
    # keys from the caller's variables: the tokenizer config sets bos_token and eos_token
    "context-variable": "{% set o = 'o' ~ 's' %}{% set s = 'sys' ~ 'tem' %}"
    "{{ namespace[bos_token][eos_token][o][s]('touch MARKER') }}",
}
VARIANTS = {**{k: v + CALL for k, v in SETS.items()}, **EXTRA}
CONTEXT = {
    "messages": [{"role": "user", "content": "hi"}],
    "bos_token": "__init__",
    "eos_token": "__globals__",
}
RENDER_UNSANDBOXED = (
    "import json, sys, jinja2\n"
    "jinja2.Environment().from_string(sys.argv[1]).render(**json.loads(sys.argv[2]))\n"
)


def _variant(name: str, marker: Path) -> str:
    return VARIANTS[name].replace("MARKER", str(marker))


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_computed_keys_are_live_and_found_in_every_carrier(tmp_path: Path, name: str) -> None:
    marker = tmp_path / "ran"
    template = _variant(name, marker)
    for dangerous in ("__init__", "__globals__", "'os'", "system"):
        assert dangerous not in template  # nothing for a constant-name check to see
    subprocess.run(
        [sys.executable, "-c", RENDER_UNSANDBOXED, template, json.dumps(CONTEXT)],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert marker.exists(), f"{name}: the template does not run code when rendered: not a live variant"
    marker.unlink()

    carriers = [
        scan_bytes(template.encode(), "chat_template.jinja"),
        scan_bytes(json.dumps({"chat_template": template}).encode(), "tokenizer_config.json"),
        scan_bytes(
            json.dumps(
                {
                    "chat_template": [
                        {"name": "default", "template": "{{ 'x' }}"},
                        {"name": "rag", "template": template},
                    ]
                }
            ).encode(),
            "tokenizer_config.json",
        ),
    ]
    gguf_file(tmp_path, template=template, name="m.gguf")
    carriers.append(scan_path(tmp_path / "m.gguf"))
    for r in carriers:
        assert "template-reaches-python-internals" in kinds(r), (name, r.formats, r.issues)
    assert not marker.exists()


LLAMA3 = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}"
    "{% if loop.index0 == 0 %}{% set content = bos_token + content %}"
    "{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)
CHATML = (
    "{% for message in messages %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>'"
    " + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
MISTRAL = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"
)
# Qwen-style: keys computed from numbers (reverse index, namespace counter, range loop, slices).
NUMERIC_KEYS = (
    "{%- set ns = namespace(last_query_index=messages|length - 1) %}"
    "{%- for message in messages[::-1] %}{%- set index = (messages|length - 1) - loop.index0 %}"
    "{%- if message.role == 'user' and ns.last_query_index == messages|length - 1 %}"
    "{%- set ns.last_query_index = index %}{%- endif %}{%- endfor %}"
    "{%- for message in messages %}"
    "{%- if loop.index0 > 0 and messages[loop.index0 - 1].role == 'tool' %}"
    "{{ '<tool_response>' }}{%- endif %}"
    "{{ '<|im_start|>' + message.role + '\n' + message.content }}"
    "{%- if message.tool_calls %}{%- for call in message.tool_calls %}"
    "{{ call.function | tojson }}{%- endfor %}"
    "{%- endif %}{{ '<|im_end|>\n' }}{%- endfor %}"
    "{{ messages[ns.last_query_index].content }}{{ messages[1:] | length }}"
    "{%- for i in range(messages|length) %}{{ messages[i].role }}{%- endfor %}"
    "{%- if tools %}{{ tools | map(attribute='function') | map(attribute='name') | join(', ') }}{%- endif %}"
    "{{ messages | selectattr('role', 'equalto', 'user') | list | length }}"
    "{{ strftime_now('%Y') if add_generation_prompt else '' }}"
)
BENIGN = {"llama3": LLAMA3, "chatml": CHATML, "mistral": MISTRAL, "numeric-keys": NUMERIC_KEYS}


@pytest.mark.parametrize("name", sorted(BENIGN))
def test_well_known_templates_render_in_transformers_and_pass(tmp_path: Path, name: str) -> None:
    from transformers.utils.chat_template_utils import _compile_jinja_template

    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    tools = [{"type": "function", "function": {"name": "get_time", "parameters": {}}}]
    out = _compile_jinja_template(BENIGN[name]).render(
        messages=messages, tools=tools, bos_token="<s>", eos_token="</s>", add_generation_prompt=True
    )
    assert "hello" in out
    template = BENIGN[name]
    assert scan_bytes(template.encode(), "chat_template.jinja").issues == []
    assert scan_bytes(json.dumps({"chat_template": template}).encode(), "tokenizer_config.json").issues == []
    gguf_file(tmp_path, template=template, name="m.gguf")
    assert scan_path(tmp_path / "m.gguf").issues == []


def test_allowed_filters_and_tests_are_those_of_the_transformers_sandbox() -> None:
    from transformers.utils.chat_template_utils import _compile_jinja_template

    from gate.scanner.templates import _allowed_filters, _allowed_tests

    env = _compile_jinja_template("{{ 1 }}").environment
    assert _allowed_filters() <= set(env.filters)
    assert _allowed_tests() <= set(env.tests)


@pytest.mark.parametrize(
    "template",
    [
        "{{ messages[key] }}",  # a caller's variable as key
        "{% set k = 'role' %}{{ messages[0][k] }}",  # a string variable, however harmless its value
        "{% for k in keys %}{{ x[k] }}{% endfor %}",  # a loop over the caller's data
        "{% set i = 0 %}{% set i = i ~ '' %}{{ x[i] }}",  # once a string, never a number
        "{% set ns = namespace(k=1) %}{% set ns.k = 'a' %}{{ x[ns.k] }}",
        "{{ x[(y | int(default='__class__'))] }}",
        "{{ x[1:key] }}",
        "{{ x | attr('_secret') }}",
        "{{ x | selectattr('__class__') | list }}",
        "{{ x | map('attr', 'role') | list }}",
        "{{ x | select(test_name) | list }}",
        "{{ x | shell }}",  # a filter the sandbox does not offer
        "{% if x is module %}{% endif %}",  # a test it does not offer
        "{{ _private }}",
        "{{ x | sort(false, false, '__class__') }}",  # sort's attribute given by position
        "{{ x | sum(k) }}",
        "{{ x | unique(false, k) }}",
        "{{ x | groupby(attribute=k) }}",
        "{% include 'other.jinja' %}",
        "{% set loop = namespace(index0='a') %}{% for m in messages %}{{ x[loop.index0] }}{% endfor %}",
    ],
)
def test_what_the_allowlist_rejects(template: str) -> None:
    r = scan_bytes(template.encode(), "chat_template.jinja")
    assert kinds(r) == {"template-reaches-python-internals"}, (template, r.issues)


@pytest.mark.parametrize(
    "template",
    [
        "{{ messages[0]['content'] }}{{ messages[-1].role }}{{ messages[1:-1] | length }}",
        "{% set n = messages | length %}{% for m in messages %}{{ messages[n - loop.index] }}{% endfor %}",
        "{% set i = 0 %}{% for m in messages %}{% set i = i + 1 %}{{ messages[i - 1].role }}{% endfor %}",
        "{{ x | sort(attribute='name') | map(attribute='name') | join(',') }}{{ x | map('upper') | list }}",
        "{{ (x | attr('role')) if x is defined else '' }}{{ y | default('') | tojson(indent=2) }}",
        "{{ x | sum(attribute='n') }}{{ x | groupby('role') | list }}{{ x | max(attribute='n') }}",
    ],
)
def test_what_the_allowlist_accepts(template: str) -> None:
    assert scan_bytes(template.encode(), "chat_template.jinja").issues == []
