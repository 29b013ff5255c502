"""Chat templates, checked against an oracle: every generated template whose sandboxed render reaches a private
or internal attribute is flagged, and realistic templates of the common model families are not."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from modelseal.core.findings import Finding, Severity
from tests.formats.helpers import assert_benign, assert_flagged
from tests.formats.template_oracle import render_records

pytest.importorskip("jinja2")

from modelseal.scanners.jinja_template import template_findings  # noqa: E402

# Ways to build a dunder name: (prelude, expression, postlude) with {a}/{b} the name's halves, {core} its
# middle and {name} all of it. The lookup under test is placed between prelude and postlude.
BUILDERS = [
    ("", "'{name}'", ""),
    ("", "'{a}' ~ '{b}'", ""),
    ("", "('{a}' + '{b}')", ""),
    ("", "('%c%c'|format(95, 95) ~ '{core}' ~ '%c%c'|format(95, 95))", ""),
    ("", "('%c%c%s%c%c' % (95, 95, '{core}', 95, 95))", ""),
    ("", "(['{a}', '{b}']|join)", ""),
    ("", "('XX{core}XX'|replace('X', '_'))", ""),
    ("", "('{reversed}'|reverse)", ""),
    ("", "('{upper}'|lower)", ""),
    ("", "('{a}Q{b}'.replace('Q', ''))", ""),
    ("", "(['x', '{a}' ~ '{b}'][1])", ""),
    ("", "({{'k': '{a}' ~ '{b}'}}['k'])", ""),
    ("", "(['{a}' ~ '{b}']|first)", ""),
    ("", "('xy{name}'[2:])", ""),
    ("", "(nothing_here|default('{a}' ~ '{b}'))", ""),
    ("", "('{{}}{{}}{core}{{}}{{}}'.format('_', '_', '_', '_'))", ""),
    ("", "(bos_token[0:0] ~ '{a}' ~ '{b}')", ""),
    ("{{% set k = '{a}' ~ '{b}' %}}", "k", ""),
    ("{{% set k %}}{{{{ '{a}' }}}}{b}{{% endset %}}", "k", ""),
    ("{{% set ns = namespace(k='') %}}{{% set ns.k = '{a}' ~ '{b}' %}}", "ns.k", ""),
    ("{{% for k in ['{a}' ~ '{b}'] %}}", "k", "{{% endfor %}}"),
    ("{{% for k, v in {{'{a}' ~ '{b}': 1}}.items() %}}", "k", "{{% endfor %}}"),
    ("{{% macro m(k) %}}", "k", "{{% endmacro %}}{{{{ m('{a}' ~ '{b}') }}}}"),
    ("{{% macro m(k='{a}' ~ '{b}') %}}", "k", "{{% endmacro %}}{{{{ m() }}}}"),
    ("{{% set l = [] %}}{{% do l.append('{a}' ~ '{b}') %}}", "l[0]", ""),
    ("{{% set c = cycler('{a}' ~ '{b}') %}}", "c.next()", ""),
    ("{{% for _ in [1] %}}", "loop.cycle('{a}' ~ '{b}')", "{{% endfor %}}"),
]
LOOKUPS = [
    "{{{{ {recv}[{key}] }}}}",
    "{{{{ {recv}|attr({key}) }}}}",
    "{{{{ [{recv}]|map(attribute={key})|list }}}}",
    "{{{{ [{recv}]|map('attr', {key})|list }}}}",
    "{{{{ [{recv}]|selectattr({key})|list }}}}",
    "{{{{ [{recv}]|sort(attribute={key})|list }}}}",
    "{{{{ [{recv}]|groupby({key})|list }}}}",
]
# Receivers, and the dunder that exists on them.
RECEIVERS = [
    ("lipsum", "__globals__"),
    ("cycler", "__init__"),
    ("joiner", "__init__"),
    ("namespace", "__init__"),
    ("raise_exception", "__globals__"),
    ("range", "__class__"),
    ("dict", "__class__"),
    ("messages", "__class__"),
    ("messages[0]", "__class__"),
    ("''", "__class__"),
    ("self", "__class__"),
    ("hold", "__globals__"),
]
WRAPPERS = [
    ("", ""),
    ("{% if add_generation_prompt %}", "{% endif %}"),
    ("{% for message in messages %}{% if loop.first %}", "{% endif %}{% endfor %}"),
]


def _build(builder: tuple[str, str, str], lookup: str, recv: str, name: str, wrap: tuple[str, str]) -> str:
    half = len(name) // 2
    parts = {
        "name": name,
        "a": name[:half],
        "b": name[half:],
        "core": name.strip("_"),
        "reversed": name[::-1],
        "upper": name.upper(),
    }
    prelude, expr, postlude = (p.format(**parts) for p in builder)
    hold = "{% set hold = lipsum %}" if recv == "hold" else ""
    body = lookup.format(recv=recv, key=expr)
    return f"{hold}{wrap[0]}{prelude}{body}{postlude}{wrap[1]}"


def generated() -> list[str]:
    """Every builder, lookup and receiver; the wrappers taken in turn, to keep the run CI-sized."""
    combos = itertools.product(BUILDERS, LOOKUPS, RECEIVERS)
    return [
        _build(builder, lookup, recv, name, WRAPPERS[i % len(WRAPPERS)])
        for i, (builder, lookup, (recv, name)) in enumerate(combos)
    ]


def _loud(found: list[Finding]) -> list[Finding]:
    return [f for f in found if f.severity >= Severity.MEDIUM]


def test_every_template_the_oracle_sees_reaching_internals_is_flagged() -> None:
    templates = generated()
    records = render_records(templates)
    reached = [t for t, r in zip(templates, records, strict=True) if r["unsafe"]]
    assert len(reached) > len(templates) * 0.8, "the oracle should see most generated lookups"
    missed = [t for t in reached if not _loud(template_findings(t))]
    assert not missed, f"{len(missed)} of {len(reached)} missed, e.g. {missed[:5]}"


# Realistic templates in the style of the common families (written for this test).
BENIGN = {
    "llama3-tools": (
        "{{- bos_token }}{%- if custom_tools is defined %}{%- set tools = custom_tools %}{%- endif %}"
        "{%- if not tools_in_user_message is defined %}{%- set tools_in_user_message = true %}{%- endif %}"
        "{%- if not date_string is defined %}{%- set date_string = strftime_now('%d %b %Y') %}{%- endif %}"
        "{%- if messages[0]['role'] == 'system' %}{%- set system_message = messages[0]['content']|trim %}"
        "{%- set messages = messages[1:] %}{%- else %}{%- set system_message = '' %}{%- endif %}"
        "{{- '<|start_header_id|>system<|end_header_id|>\\n\\n' }}"
        "{{- 'Today Date: ' + date_string + '\\n\\n' }}{{- system_message }}{{- '<|eot_id|>' }}"
        "{%- if tools_in_user_message and tools is not none %}"
        "{%- if messages | length != 0 %}{%- set first_user_message = messages[0]['content']|trim %}"
        "{%- set messages = messages[1:] %}{%- else %}{{- raise_exception('No first user message!') }}{%- endif %}"
        "{{- '<|start_header_id|>user<|end_header_id|>\\n\\n' -}}"
        "{%- for t in tools %}{{- t | tojson(indent=4) }}{{- '\\n\\n' }}{%- endfor %}"
        "{{- first_user_message + '<|eot_id|>'}}{%- endif %}"
        "{%- for message in messages %}"
        "{%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}"
        "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
        "+ message['content'] | trim + '<|eot_id|>' }}"
        "{%- elif 'tool_calls' in message %}{%- set tool_call = message.tool_calls[0].function %}"
        "{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}"
        '{{- \'{"name": "\' + tool_call.name + \'", \' }}{{- \'"parameters": \' }}'
        "{{- tool_call.arguments | tojson }}{{- '}' }}{{- '<|eot_id|>' }}"
        "{%- elif message.role == 'tool' or message.role == 'ipython' %}"
        "{{- '<|start_header_id|>ipython<|end_header_id|>\\n\\n' }}"
        "{%- if message.content is mapping or message.content is iterable %}"
        "{{- message.content | tojson }}{%- else %}{{- message.content }}{%- endif %}"
        "{{- '<|eot_id|>' }}{%- endif %}{%- endfor %}"
        "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}"
    ),
    "chatml-qwen-tools": (
        "{%- if tools %}{{- '<|im_start|>system\\n' }}"
        "{%- if messages[0]['role'] == 'system' %}{{- messages[0]['content'] }}"
        "{%- else %}{{- 'You are a helpful assistant.' }}{%- endif %}"
        "{{- '\\n\\n# Tools\\n\\n<tools>' }}{%- for tool in tools %}{{- '\\n' }}{{- tool | tojson }}{%- endfor %}"
        "{{- '\\n</tools><|im_end|>\\n' }}"
        "{%- else %}{%- if messages[0]['role'] == 'system' %}"
        "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
        "{%- else %}{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{%- endif %}{%- endif %}"
        "{%- for message in messages %}"
        '{%- if (message.role == "user") or (message.role == "system" and not loop.first) or '
        '(message.role == "assistant" and not message.tool_calls) %}'
        "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}"
        '{%- elif message.role == "assistant" %}{{- \'<|im_start|>\' + message.role }}'
        "{%- if message.content %}{{- '\\n' + message.content }}{%- endif %}"
        "{%- for tool_call in message.tool_calls %}"
        "{%- if tool_call.function is defined %}{%- set tool_call = tool_call.function %}{%- endif %}"
        '{{- \'\\n<tool_call>\\n{"name": "\' }}{{- tool_call.name }}{{- \'", "arguments": \' }}'
        "{{- tool_call.arguments | tojson }}{{- '}\\n</tool_call>' }}{%- endfor %}{{- '<|im_end|>\\n' }}"
        '{%- elif message.role == "tool" %}'
        '{%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}'
        "{{- '<|im_start|>user' }}{%- endif %}"
        "{{- '\\n<tool_response>\\n' }}{{- message.content }}{{- '\\n</tool_response>' }}"
        '{%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}{{- \'<|im_end|>\\n\' }}{%- endif %}'
        "{%- endif %}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
    ),
    "mistral": (
        "{%- if messages[0]['role'] == 'system' %}{%- set system_message = messages[0]['content'] %}"
        "{%- set loop_messages = messages[1:] %}{%- else %}{%- set loop_messages = messages %}{%- endif %}"
        "{{- bos_token }}{%- for message in loop_messages %}"
        "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
        "{{- raise_exception('After the optional system message, conversation roles must alternate "
        "user/assistant/user/assistant...') }}{%- endif %}"
        "{%- if message['role'] == 'user' %}"
        "{%- if loop.first and system_message is defined %}"
        "{{- ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}"
        "{%- else %}{{- ' [INST] ' + message['content'] + ' [/INST]' }}{%- endif %}"
        "{%- elif message['role'] == 'assistant' %}{{- ' ' + message['content'] + eos_token}}"
        "{%- else %}{{- raise_exception('Only user and assistant roles are supported') }}{%- endif %}"
        "{%- endfor %}"
    ),
    "gemma": (
        "{{ bos_token }}{% if messages[0]['role'] == 'system' %}"
        "{{ raise_exception('System role not supported') }}{% endif %}"
        "{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
        "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
        "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}"
        "{% set role = message['role'] %}{% endif %}"
        "{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}"
        "{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}"
    ),
    "phi3": (
        "{% for message in messages %}{% if message['role'] == 'system' and message['content'] %}"
        "{{'<|system|>\\n' + message['content'] + '<|end|>\\n'}}{% elif message['role'] == 'user' %}"
        "{{'<|user|>\\n' + message['content'] + '<|end|>\\n'}}{% elif message['role'] == 'assistant' %}"
        "{{'<|assistant|>\\n' + message['content'] + '<|end|>\\n'}}{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}"
    ),
    "llama2-role-map": (
        "{% set role_prefix = {'user': '[INST] ', 'assistant': ''} %}"
        "{% set role_suffix = {'user': ' [/INST]', 'assistant': ' ' + eos_token} %}"
        "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
        "{% set system_message = '<<SYS>>\\n' + messages[0]['content'] + '\\n<</SYS>>\\n\\n' %}"
        "{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}"
        "{% for message in loop_messages %}{% if loop.index0 == 0 and system_message != false %}"
        "{% set content = system_message + message['content'] %}{% else %}"
        "{% set content = message['content'] %}{% endif %}"
        "{% if message['role'] in role_prefix %}{{ bos_token if message['role'] == 'user' else '' }}"
        "{{ role_prefix[message['role']] + content | trim + role_suffix[message['role']] }}{% endif %}"
        "{% endfor %}"
    ),
    "zephyr-namespace": (
        "{% set ns = namespace(found_system=false, turns=0) %}"
        "{% for message in messages %}{% if message['role'] == 'system' %}{% set ns.found_system = true %}"
        "{% endif %}{% set ns.turns = ns.turns + 1 %}"
        "{{ '<|' + message['role'] + '|>\\n' + message['content'] + eos_token + '\\n' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
        "{% if not ns.found_system %}{# no system prompt #}{% endif %}"
    ),
    "hermes-macro-types": (
        "{%- macro json_to_python_type(json_spec) %}"
        "{%- set basic_type_map = {'string': 'str', 'number': 'float', 'integer': 'int', 'boolean': 'bool'} %}"
        "{%- if basic_type_map[json_spec.type] is defined %}{{- basic_type_map[json_spec.type] }}"
        '{%- elif json_spec.type == "array" %}{{- "list[" + json_to_python_type(json_spec|items) + "]" }}'
        '{%- elif json_spec.type == "object" %}{%- if json_spec.additionalProperties is defined %}'
        "{{- 'dict[str, ' + json_to_python_type(json_spec.additionalProperties) + ']' }}"
        "{%- else %}{{- 'dict' }}{%- endif %}"
        "{%- elif json_spec.type is iterable %}"
        "{{- 'Union[' }}{%- for t in json_spec.type %}{{- json_to_python_type({'type': t}) }}"
        "{%- if not loop.last %}{{- ',' }}{%- endif %}{%- endfor %}{{- ']' }}"
        '{%- else %}{{- "Any" }}{%- endif %}{%- endmacro %}'
        "{{- bos_token }}{{- '<|im_start|>system\\nYou may call functions:<tools> ' }}"
        "{%- for tool in tools %}{%- if tool.function is defined %}{%- set tool = tool.function %}{%- endif %}"
        "{{- tool.name + '(' }}{%- for param_name, param_fields in tool.parameters.properties|items %}"
        "{{- param_name + ': ' + json_to_python_type(param_fields) }}{%- if not loop.last %}{{- ', ' }}{%- endif %}"
        "{%- endfor %}{{- ')' }}{%- if tool.description is defined %}{{- ' - ' + tool.description }}{%- endif %}"
        "{%- endfor %}{{- ' </tools><|im_end|>\\n' }}"
        "{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' + message.content|string }}"
        "{{- '<|im_end|>\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
    ),
    "command-style-joiner": (
        "{{ bos_token }}{% set sep = joiner(' | ') %}{% set c = cycler('odd', 'even') %}"
        "{% for message in messages %}{{ sep() }}{{ c.next() }}:{{ message.role | upper }}"
        "{% if message.content is string %}{{ message.content }}{% else %}"
        "{% for part in message.content | selectattr('type', 'equalto', 'text') %}{{ part.text }}{% endfor %}"
        "{% endif %}{% endfor %}"
        "{% for tool in tools | map(attribute='function') | list %}{{ tool.name }}{% endfor %}"
        "{% if add_generation_prompt %}<|CHATBOT_TOKEN|>{% endif %}"
    ),
    "deepseek-split-think": (
        "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
        "{% set ns = namespace(is_first=false, system_prompt='') %}"
        "{%- for message in messages %}{%- if message['role'] == 'system' %}"
        "{% set ns.system_prompt = message['content'] %}{%- endif %}{%- endfor %}{{ bos_token }}{{ ns.system_prompt }}"
        "{%- for message in messages %}{%- if message['role'] == 'user' %}"
        "{{ '<|User|>' + message['content'] }}{%- endif %}"
        "{%- if message['role'] == 'assistant' and message['content'] is not none %}"
        "{% set content = message['content'] %}{% if '</think>' in content %}"
        "{% set content = content.split('</think>')[-1] %}{% endif %}"
        "{{ '<|Assistant|>' + content + '<|end_of_sentence|>' }}{%- endif %}{%- endfor -%}"
        "{% if add_generation_prompt %}{{ '<|Assistant|>' }}{% endif %}"
    ),
    "vision-content-parts": (
        "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' }}"
        "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
        "{% for content in message['content'] %}{% if content['type'] == 'image' %}{{ '<image>' }}"
        "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}{% endfor %}{% endif %}"
        "{{ '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
    ),
}


@pytest.mark.parametrize("name", sorted(BENIGN))
def test_realistic_templates_are_not_flagged(name: str) -> None:
    source = BENIGN[name]
    record = render_records([source])[0]
    # Gemma and Mistral refuse the oracle's system and tool turns through raise_exception (a ValueError).
    assert not record["unsafe"] and record["error"] in ("", "ValueError"), record
    assert not _loud(template_findings(source)), [(f.rule_id, f.message) for f in template_findings(source)]


# -- every form transformers reads a chat template from -----------------------------------------------
EVIL = "{% set k = '__gl' ~ 'obals__' %}{{ lipsum|attr(k) }}"


@pytest.mark.parametrize(
    ("relpath", "content"),
    [
        ("tokenizer_config.json", {"chat_template": EVIL}),
        ("tokenizer_config.json", {"chat_template": [{"name": "default", "template": EVIL}]}),
        ("tokenizer_config.json", {"chat_template": {"tool_use": EVIL}}),
        ("chat_template.json", {"chat_template": EVIL}),
        ("processor_config.json", {"chat_template": EVIL}),
        ("chat_template.jinja", EVIL),
        ("additional_chat_templates/tool_use.jinja", EVIL),
    ],
)
def test_every_template_form_is_analysed(tmp_path: Path, relpath: str, content: object) -> None:
    target = tmp_path / relpath
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(content if isinstance(content, str) else json.dumps(content))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    hits = assert_flagged(tmp_path, "MS-TEMPLATE-INJECTION")
    assert hits[0].file == relpath


def test_benign_templates_in_every_form_pass(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (tmp_path / "chat_template.jinja").write_text(BENIGN["gemma"])
    (tmp_path / "additional_chat_templates").mkdir()
    (tmp_path / "additional_chat_templates" / "tool_use.jinja").write_text(BENIGN["llama3-tools"])
    (tmp_path / "tokenizer_config.json").write_text(
        json.dumps({"chat_template": {"default": BENIGN["phi3"], "rag": BENIGN["mistral"]}})
    )
    assert_benign(tmp_path)
