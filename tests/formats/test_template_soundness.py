"""Chat templates, checked against an oracle: every generated template whose sandboxed render reaches a
private or internal attribute is flagged, and realistic templates of the common model families are not."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelseal.core.findings import Finding, Severity
from tests.formats.chat_templates import BENIGN
from tests.formats.helpers import assert_benign, assert_flagged
from tests.formats.template_oracle import render_records
from tests.oracle_settings import oracle_settings

pytest.importorskip("jinja2")

from modelseal.scanners.jinja_template import template_findings

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


def _build(
    builder: tuple[str, str, str],
    lookup: str,
    recv: str,
    name: str,
    wrap: tuple[str, str],
    cut: int | None = None,
) -> str:
    """One template: the lookup of the dunder ``name`` (built by ``builder``, its halves cut at ``cut``)
    on ``recv``, inside ``wrap``."""
    half = len(name) // 2 if cut is None else cut
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


# Template text that changes nothing about the lookup: the kind that surrounds it in real templates.
FILLER = [
    "",
    "{{ bos_token }}",
    "{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}\n{% endfor %}",
    "{%- if tools %}{{ tools|tojson }}{% endif -%}",
    "{# a comment #}",
    "{% set sep = '\n' %}",
]
_JINJA_WORDS = {"and", "or", "not", "in", "is", "if", "else", "for", "true", "false", "none", "loop", "self"}
ALIASES = st.from_regex(r"[a-z][a-z0-9]{0,5}", fullmatch=True).filter(lambda n: n not in _JINJA_WORDS)


@st.composite
def hostile_templates(draw: st.DrawFn) -> str:
    """A lookup of an internal name as the fixed product builds it, varied by Hypothesis: where the name is
    cut, the receiver held under chains of aliases, wrappers nested in any order, filler around it, and
    whitespace control."""
    recv, name = draw(st.sampled_from(RECEIVERS))
    cut = draw(st.integers(1, len(name) - 1))
    template = _build(
        draw(st.sampled_from(BUILDERS)), draw(st.sampled_from(LOOKUPS)), "RECV", name, ("", ""), cut
    )
    held, chain = recv if recv != "hold" else "lipsum", ""
    for alias in draw(st.lists(ALIASES.map(lambda n: f"v_{n}"), max_size=3, unique=True)):
        chain += f"{{% set {alias} = {held} %}}"
        held = alias
    template = chain + template.replace("RECV", held)
    for before, after in draw(st.lists(st.sampled_from(WRAPPERS), max_size=3)):
        template = f"{before}{template}{after}"
    template = draw(st.sampled_from(FILLER)) + template + draw(st.sampled_from(FILLER))
    if draw(st.booleans()):
        template = template.replace("{{ ", "{{- ").replace("{% ", "{%- ")
    return template


@oracle_settings(examples=8)
@given(st.lists(hostile_templates(), min_size=25, max_size=25))
def test_generated_templates_reaching_internals_are_flagged(templates: list[str]) -> None:
    """Hypothesis over the same building blocks: every template whose sandboxed render reaches an internal
    is flagged (one oracle subprocess per batch)."""
    records = render_records(templates)
    assert sum(bool(r["unsafe"]) for r in records) >= len(templates) // 2, "most should reach an internal"
    missed = [
        t for t, r in zip(templates, records, strict=True) if r["unsafe"] and not _loud(template_findings(t))
    ]
    assert not missed, missed[:3]


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
