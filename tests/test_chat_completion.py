"""create_chat_completion on the real SmolLM2 model: shapes, streaming, response_format, tools
(generic templates, chatml-function-calling, functionary), logprobs, the openai objects, and
input validation."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import textwrap
from typing import Any, Dict, Iterator, List, Optional

import jsonschema
import pytest

from llama_cpp import Llama
from llama_cpp import llama_chat_format as lcf
from llama_cpp._chat.dispatch import chat_setup

QUESTION = [{"role": "user", "content": "Name three colors."}]

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "maxLength": 24},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city", "unit"],
        },
    },
}
ADD = {
    "type": "function",
    "function": {
        "name": "add",
        "description": "Add two integers",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"],
        },
    },
}
TOOLS = [WEATHER, ADD]
SCHEMAS = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}
TOOL_QUESTION = [{"role": "user", "content": "What's the weather in Paris?"}]


@pytest.fixture(scope="module")
def llm(model_path: str) -> Iterator[Llama]:
    model = Llama(model_path=model_path, n_ctx=2048, verbose=False)
    yield model
    model.close()


@contextlib.contextmanager
def chat_format(llm: Llama, name: Optional[str], handler: Any = None) -> Iterator[Llama]:
    saved = (llm.chat_format, llm.chat_handler)
    llm.chat_format, llm.chat_handler = name, handler
    try:
        yield llm
    finally:
        llm.chat_format, llm.chat_handler = saved


def content_of(chunks: List[Dict[str, Any]]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)


def assemble_tool_calls(chunks: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Rebuild tool calls from stream deltas the way OpenAI clients do (concatenating strings)."""
    calls: Dict[int, Dict[str, Any]] = {}
    for chunk in chunks:
        for delta in chunk["choices"][0]["delta"].get("tool_calls") or []:
            call = calls.setdefault(delta["index"], {"id": "", "name": "", "arguments": ""})
            call["id"] += delta.get("id") or ""
            call["name"] += delta["function"].get("name") or ""
            call["arguments"] += delta["function"].get("arguments") or ""
    return [calls[i] for i in sorted(calls)]


def message_calls(response: Dict[str, Any]) -> List[Dict[str, Any]]:
    return [
        {"id": c["id"], "name": c["function"]["name"], "arguments": c["function"]["arguments"]}
        for c in response["choices"][0]["message"].get("tool_calls") or []
    ]


def check_call(call: Dict[str, Any]) -> Dict[str, Any]:
    arguments = json.loads(call["arguments"])
    jsonschema.validate(arguments, SCHEMAS[call["name"]])
    return arguments


# ------------------------------------------------------------------ setup from GGUF metadata
def test_default_format_is_the_gguf_template(llm: Llama) -> None:
    assert llm.chat_format == "chat_template.default"
    handler = llm._chat_handlers["chat_template.default"]
    assert handler.chat_formatter.template == llm.metadata["tokenizer.chat_template"]
    assert handler.chat_formatter.eos_token == "<|im_end|>"
    assert handler.chat_formatter.stop_token_ids == {llm.token_eos()}


def test_chat_setup_rules(llm: Llama) -> None:
    saved = (llm.metadata, llm._chat_handlers, llm.chat_format, llm.chat_handler)
    try:
        llm.metadata, llm._chat_handlers, llm.chat_format = {}, {}, None
        chat_setup(llm)
        assert llm.chat_format == "llama-2" and llm._chat_handlers == {}

        llm.metadata, llm._chat_handlers, llm.chat_format = {"tokenizer.chat_template": lcf.CHATML_CHAT_TEMPLATE}, {}, None
        chat_setup(llm)
        assert llm.chat_format == "chatml" and "chat_template.default" in llm._chat_handlers

        llm.metadata = {
            "tokenizer.chat_template": "{% for message in messages %}",
            "tokenizer.chat_template.tool_use": "{{ messages[0]['content'] }} ->",
        }
        llm._chat_handlers, llm.chat_format = {}, None
        chat_setup(llm)
        assert llm.chat_format == "chat_template.default"
        assert set(llm._chat_handlers) == {"chat_template.default", "chat_template.tool_use"}
        with pytest.raises(ValueError) as info:  # a broken template fails when used, not at load
            llm.create_chat_completion(QUESTION, max_tokens=1)
        assert "chat_template.default" in str(info.value) and "chat_format=" in str(info.value)
        llm.chat_format = "chat_template.tool_use"
        out = llm.create_chat_completion(QUESTION, max_tokens=2, temperature=0)
        assert out["usage"]["completion_tokens"] >= 1

        llm._chat_handlers, llm.chat_format, llm.chat_handler = {}, None, lcf.get_chat_completion_handler("chatml")
        chat_setup(llm)
        assert llm.chat_format is None  # an explicit handler is not overridden
    finally:
        llm.metadata, llm._chat_handlers, llm.chat_format, llm.chat_handler = saved


def test_unknown_chat_format(llm: Llama) -> None:
    with chat_format(llm, "no-such-format"):
        with pytest.raises(lcf.LlamaChatCompletionHandlerNotFoundException, match="no-such-format"):
            llm.create_chat_completion(QUESTION)


# ------------------------------------------------------------------ plain chat
def test_non_stream_response_shape(llm: Llama) -> None:
    out = llm.create_chat_completion(QUESTION, max_tokens=24, temperature=0)
    assert out["id"].startswith("chatcmpl-")
    assert out["object"] == "chat.completion"
    assert isinstance(out["created"], int) and out["model"] == llm.model_path
    choice = out["choices"][0]
    assert choice["index"] == 0 and choice["logprobs"] is None
    assert choice["message"]["role"] == "assistant"
    assert isinstance(choice["message"]["content"], str) and choice["message"]["content"].strip()
    assert "tool_calls" not in choice["message"]
    assert choice["finish_reason"] in ("stop", "length")
    usage = out["usage"]
    prompt = llm._chat_handlers["chat_template.default"].chat_formatter(messages=QUESTION).prompt
    assert usage["prompt_tokens"] == len(llm.tokenize(prompt.encode(), add_bos=False, special=True))
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert 1 <= usage["completion_tokens"] <= 24


def test_stream_concatenates_to_the_non_stream_message(llm: Llama) -> None:
    whole = llm.create_chat_completion(QUESTION, max_tokens=24, temperature=0)
    chunks = list(llm.create_chat_completion(QUESTION, max_tokens=24, temperature=0, stream=True))
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant"}
    assert chunks[0]["choices"][0]["finish_reason"] is None
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == chunks[0]["id"] for c in chunks)
    assert chunks[0]["id"].startswith("chatcmpl-")
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])
    assert chunks[-1]["choices"][0]["delta"] == {}
    assert chunks[-1]["choices"][0]["finish_reason"] == whole["choices"][0]["finish_reason"]
    assert all("usage" not in c for c in chunks)
    assert content_of(chunks) == whole["choices"][0]["message"]["content"]


def test_max_tokens_and_stop(llm: Llama) -> None:
    short = llm.create_chat_completion(QUESTION, max_tokens=3, temperature=0)
    assert short["choices"][0]["finish_reason"] == "length"
    assert short["usage"]["completion_tokens"] == 3
    full = llm.create_chat_completion(QUESTION, max_tokens=24, temperature=0)["choices"][0]["message"]["content"]
    word = full.split()[1]
    cut = llm.create_chat_completion(QUESTION, max_tokens=24, temperature=0, stop=[word])
    assert cut["choices"][0]["message"]["content"] == full[: full.index(word)]
    assert cut["choices"][0]["finish_reason"] == "stop"


def test_seed_makes_sampling_repeatable(llm: Llama) -> None:
    a = llm.create_chat_completion(QUESTION, max_tokens=12, temperature=1.0, seed=7)
    b = llm.create_chat_completion(QUESTION, max_tokens=12, temperature=1.0, seed=7)
    assert a["choices"][0]["message"]["content"] == b["choices"][0]["message"]["content"]


def test_openai_and_langchain_style_messages(llm: Llama) -> None:
    reference = llm.create_chat_completion(
        [{"role": "system", "content": "Be brief."}, *QUESTION], max_tokens=6, temperature=0, repeat_penalty=1.1
    )
    # content as a list of text parts, the "developer" role, stop=None and logprobs=False as clients send them
    styled = llm.create_chat_completion(
        messages=[
            {"role": "developer", "content": [{"type": "text", "text": "Be brief."}]},
            {"role": "user", "content": [{"type": "text", "text": "Name three colors."}]},
        ],
        max_tokens=6, temperature=0, stop=None, logprobs=False, top_p=0.95, top_k=40, repeat_penalty=1.1,
    )
    assert styled["choices"][0]["message"]["content"] == reference["choices"][0]["message"]["content"]


# ------------------------------------------------------------------ response_format
JSON_QUESTION = [{"role": "user", "content": "Give a JSON object with keys name and color for an apple."}]
CAT_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 16},
        "age": {"type": "integer"},
        "indoor": {"type": "boolean"},
        "color": {"type": "string", "enum": ["black", "white", "orange"]},
    },
    "required": ["name", "age", "indoor", "color"],
}


def test_json_object(llm: Llama) -> None:
    out = llm.create_chat_completion(JSON_QUESTION, max_tokens=96, temperature=0, response_format={"type": "json_object"})
    assert out["choices"][0]["finish_reason"] == "stop"
    assert isinstance(json.loads(out["choices"][0]["message"]["content"]), dict)


def test_json_object_with_schema_and_json_schema(llm: Llama) -> None:
    messages = [{"role": "user", "content": "Describe a cat as JSON."}]
    openai_style = {"type": "json_schema", "json_schema": {"name": "cat", "schema": CAT_SCHEMA, "strict": True}}
    out = llm.create_chat_completion(messages, max_tokens=80, temperature=0, response_format=openai_style)
    jsonschema.validate(json.loads(out["choices"][0]["message"]["content"]), CAT_SCHEMA)
    chunks = list(llm.create_chat_completion(
        messages, max_tokens=80, temperature=0, stream=True, response_format={"type": "json_object", "schema": CAT_SCHEMA}
    ))
    jsonschema.validate(json.loads(content_of(chunks)), CAT_SCHEMA)
    assert content_of(chunks) == out["choices"][0]["message"]["content"]  # the same grammar either way
    text = llm.create_chat_completion(QUESTION, max_tokens=8, temperature=0, response_format={"type": "text"})
    plain = llm.create_chat_completion(QUESTION, max_tokens=8, temperature=0)
    assert text["choices"][0]["message"]["content"] == plain["choices"][0]["message"]["content"]


# ------------------------------------------------------------------ tools through the model's own template
def test_named_tool_choice_forces_a_valid_call(llm: Llama) -> None:
    choice = {"type": "function", "function": {"name": "get_weather"}}
    out = llm.create_chat_completion(TOOL_QUESTION, tools=TOOLS, tool_choice=choice, max_tokens=48, temperature=0)
    message = out["choices"][0]["message"]
    assert out["choices"][0]["finish_reason"] == "tool_calls"
    assert message["role"] == "assistant" and message["content"] is None
    [call] = message_calls(out)
    assert call["name"] == "get_weather" and call["id"] == f"call__0_get_weather_{out['id'][len('chat'):]}"
    check_call(call)
    assert message["function_call"] == {"name": "get_weather", "arguments": call["arguments"]}
    assert message["tool_calls"][0]["type"] == "function"

    chunks = list(llm.create_chat_completion(TOOL_QUESTION, tools=TOOLS, tool_choice=choice, max_tokens=48,
                                             temperature=0, stream=True))
    first = chunks[0]["choices"][0]["delta"]
    assert first == {"role": "assistant", "content": None, "function_call": None, "tool_calls": None}
    deltas = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks[1:-1]]
    assert deltas[0]["id"] and deltas[0]["function"]["name"] == "get_weather"
    assert all(d["id"] is None and d["function"]["name"] is None for d in deltas[1:])
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    [streamed] = assemble_tool_calls(chunks)
    assert streamed["arguments"] == call["arguments"] and streamed["name"] == "get_weather"


def test_required_tool_choice_calls_one_of_the_tools(llm: Llama) -> None:
    out = llm.create_chat_completion(TOOL_QUESTION, tools=TOOLS, tool_choice="required", max_tokens=64, temperature=0)
    assert out["choices"][0]["finish_reason"] == "tool_calls"
    [call] = message_calls(out)
    check_call(call)
    chunks = list(llm.create_chat_completion(TOOL_QUESTION, tools=TOOLS, tool_choice="required", max_tokens=64,
                                             temperature=0, stream=True))
    assert [(c["name"], c["arguments"]) for c in assemble_tool_calls(chunks)] == [(call["name"], call["arguments"])]


def test_auto_and_none_without_tool_syntax_give_a_message(llm: Llama) -> None:
    plain = llm.create_chat_completion(TOOL_QUESTION, max_tokens=16, temperature=0)
    for tool_choice in ("auto", "none", None):
        out = llm.create_chat_completion(TOOL_QUESTION, tools=TOOLS, tool_choice=tool_choice, max_tokens=16, temperature=0)
        assert out["choices"][0]["message"] == plain["choices"][0]["message"]  # this template ignores tools


def test_legacy_functions(llm: Llama) -> None:
    functions = [t["function"] for t in TOOLS]
    out = llm.create_chat_completion(TOOL_QUESTION, functions=functions, function_call={"name": "add"},
                                     max_tokens=32, temperature=0)
    message = out["choices"][0]["message"]
    assert message["function_call"]["name"] == "add"
    check_call({"name": "add", "arguments": message["function_call"]["arguments"]})
    assert message["tool_calls"][0]["function"] == message["function_call"]


HERMES_TEMPLATE = (
    "{% if tools %}<|im_start|>system\nYou may call these tools, answering with <tool_call>{\"name\": ..., "
    "\"arguments\": ...}</tool_call>:\n{% for t in tools %}{{ t.function | tojson }}\n{% endfor %}<|im_end|>\n{% endif %}"
    "{% for m in messages %}{{ '<|im_start|>' + m.role + '\n' + m.content + '<|im_end|>\n' }}{% endfor %}"
    "<|im_start|>assistant\n"
)
HERMES_GRAMMAR = (
    'root ::= "<tool_call>\\n{\\"name\\": \\"get_weather\\", \\"arguments\\": {\\"city\\": \\"" city '
    '"\\", \\"unit\\": \\"celsius\\"}}\\n</tool_call>"\ncity ::= [A-Z] [a-z]{1,10}\n'
)


def test_auto_turns_tool_call_syntax_into_tool_calls(llm: Llama) -> None:
    from llama_cpp.llama_grammar import LlamaGrammar

    handler = lcf.Jinja2ChatFormatter(HERMES_TEMPLATE, eos_token="<|im_end|>", bos_token="", name="hermes").to_chat_handler()
    with chat_format(llm, None, handler):
        grammar = LlamaGrammar.from_string(HERMES_GRAMMAR)
        out = llm.create_chat_completion(TOOL_QUESTION, tools=[WEATHER], max_tokens=48, temperature=0, grammar=grammar)
        [call] = message_calls(out)
        assert call["name"] == "get_weather" and check_call(call)["unit"] == "celsius"
        assert out["choices"][0]["finish_reason"] == "tool_calls" and out["choices"][0]["message"]["content"] is None
        chunks = list(llm.create_chat_completion(TOOL_QUESTION, tools=[WEATHER], max_tokens=48, temperature=0,
                                                 grammar=grammar, stream=True))
        assert content_of(chunks) == ""  # the call's text is not leaked as content
        assert [(c["name"], c["arguments"]) for c in assemble_tool_calls(chunks)] == [(call["name"], call["arguments"])]
        assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
        none = llm.create_chat_completion(TOOL_QUESTION, tools=[WEATHER], tool_choice="none", max_tokens=48,
                                          temperature=0, grammar=grammar)
        assert none["choices"][0]["message"]["content"].startswith("<tool_call>")
        assert "tool_calls" not in none["choices"][0]["message"]


# ------------------------------------------------------------------ chatml-function-calling
SYSTEM = {"role": "system", "content": "You are a helpful assistant with tools."}
FC_QUESTION = [SYSTEM, {"role": "user", "content": "What's the weather in Paris?"}]


def test_chatml_function_calling_named(llm: Llama) -> None:
    with chat_format(llm, "chatml-function-calling"):
        choice = {"type": "function", "function": {"name": "add"}}
        out = llm.create_chat_completion(FC_QUESTION, tools=TOOLS, tool_choice=choice, max_tokens=32, temperature=0)
        [call] = message_calls(out)
        assert call["name"] == "add" and out["choices"][0]["finish_reason"] == "tool_calls"
        check_call(call)
        chunks = list(llm.create_chat_completion(FC_QUESTION, tools=TOOLS, tool_choice=choice, max_tokens=32,
                                                 temperature=0, stream=True))
        assert [(c["name"], c["arguments"]) for c in assemble_tool_calls(chunks)] == [("add", call["arguments"])]
        with pytest.raises(ValueError, match="Tool with name 'nope' not found in tools"):
            llm.create_chat_completion(FC_QUESTION, tools=TOOLS, tool_choice={"type": "function", "function": {"name": "nope"}})
        legacy = llm.create_chat_completion(FC_QUESTION, functions=[t["function"] for t in TOOLS],
                                            function_call={"name": "add"}, max_tokens=32, temperature=0)
        assert legacy["choices"][0]["message"]["function_call"] == {"name": "add", "arguments": call["arguments"]}


def test_chatml_function_calling_auto(llm: Llama) -> None:
    with chat_format(llm, "chatml-function-calling"):
        out = llm.create_chat_completion(FC_QUESTION, tools=TOOLS, tool_choice="auto", max_tokens=32, temperature=0)
        calls = message_calls(out)
        assert calls, "this prompt makes the model call a tool"
        assert out["choices"][0]["finish_reason"] == "tool_calls"
        assert len({c["id"] for c in calls}) == len(calls)
        for call in calls:
            check_call(call)
        chunks = list(llm.create_chat_completion(FC_QUESTION, tools=TOOLS, tool_choice="auto", max_tokens=32,
                                                 temperature=0, stream=True))
        assert [(c["name"], c["arguments"]) for c in assemble_tool_calls(chunks)] == [
            (c["name"], c["arguments"]) for c in calls
        ]
        assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_chatml_function_calling_auto_can_answer_with_a_message(llm: Llama) -> None:
    message_token = llm.tokenize(b"message", add_bos=False)
    assert len(message_token) == 1
    bias = {str(message_token[0]): 100.0}  # make the model pick "message:" over a call
    with chat_format(llm, "chatml-function-calling"):
        out = llm.create_chat_completion(FC_QUESTION, tools=TOOLS, tool_choice="auto", max_tokens=8, temperature=0,
                                         logit_bias=bias)
        message = out["choices"][0]["message"]
        assert isinstance(message["content"], str) and "tool_calls" not in message
        chunks = list(llm.create_chat_completion(FC_QUESTION, tools=TOOLS, tool_choice="auto", max_tokens=8,
                                                 temperature=0, logit_bias=bias, stream=True))
        assert chunks[0]["choices"][0]["delta"] == {"role": "assistant"}
        assert content_of(chunks) == message["content"]
        # no tool_choice with tools means "auto", as in the OpenAI API
        default = llm.create_chat_completion(FC_QUESTION, tools=TOOLS, max_tokens=8, temperature=0, logit_bias=bias)
        assert default["choices"][0]["message"] == message
        # "required" never answers with a message, even so; handlers take extra options such as
        # parallel_tool_calls when called directly
        handler = lcf.get_chat_completion_handler("chatml-function-calling")
        forced = handler(llama=llm, messages=FC_QUESTION, tools=TOOLS, tool_choice="required", max_tokens=32,
                         temperature=0, logit_bias=bias, parallel_tool_calls=False)
        [call] = message_calls(forced)
        check_call(call)


def test_chatml_function_calling_none_and_history(llm: Llama) -> None:
    with chat_format(llm, "chatml-function-calling"):
        out = llm.create_chat_completion(FC_QUESTION, tools=TOOLS, tool_choice="none", max_tokens=8, temperature=0)
        assert isinstance(out["choices"][0]["message"]["content"], str)
        assert "tool_calls" not in out["choices"][0]["message"]
        history = FC_QUESTION + [
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "get_weather", "arguments": '{"city": "Paris", "unit": "celsius"}'}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "Sunny, 21 degrees"},
        ]
        after = llm.create_chat_completion(history, tools=TOOLS, tool_choice="none", max_tokens=8, temperature=0)
        assert isinstance(after["choices"][0]["message"]["content"], str)


# ------------------------------------------------------------------ functionary handlers
def test_functionary_text_protocol(llm: Llama) -> None:
    with chat_format(llm, "functionary"):
        choice = {"type": "function", "function": {"name": "get_weather"}}
        out = llm.create_chat_completion(TOOL_QUESTION, tools=TOOLS, tool_choice=choice, max_tokens=32, temperature=0)
        [call] = message_calls(out)
        assert call["id"] == "get_weather"
        check_call(call)
        auto = llm.create_chat_completion(TOOL_QUESTION, tools=TOOLS, tool_choice="auto", max_tokens=16, temperature=0)
        message = auto["choices"][0]["message"]
        for c in message_calls(auto):
            check_call(c)
        assert message_calls(auto) or isinstance(message["content"], str)
        none = llm.create_chat_completion(TOOL_QUESTION, tools=TOOLS, tool_choice="none", max_tokens=8, temperature=0)
        assert isinstance(none["choices"][0]["message"]["content"], str)


class FunctionaryV2Tokenizer:
    """Stands in for the functionary-v2 Hugging Face tokenizer: its chat template, written out."""

    additional_special_tokens = ["<|from|>", "<|recipient|>", "<|content|>", "<|stop|>"]

    def apply_chat_template(self, messages: List[Dict[str, Any]], tokenize: bool = False) -> str:
        out = []
        for m in messages:
            if m["role"] in ("system", "user"):
                out.append(f"<|from|>{m['role']}\n<|recipient|>all\n<|content|>{m['content']}\n")
            elif m["role"] == "tool":
                out.append(f"<|from|>{m['name']}\n<|recipient|>all\n<|content|>{m['content']}\n")
            else:
                parts = [f"<|from|>assistant\n<|recipient|>all\n<|content|>{m['content']}"] if m.get("content") else []
                parts += [f"<|from|>assistant\n<|recipient|>{c['function']['name']}\n<|content|>{c['function']['arguments']}"
                          for c in m.get("tool_calls") or []]
                out.append("\n".join(parts) + "<|stop|>\n")
        return "".join(out)


class WithHFTokenizer:
    def __init__(self, inner: Any, hf_tokenizer: Any) -> None:
        self.inner, self.hf_tokenizer = inner, hf_tokenizer

    def tokenize(self, *args: Any, **kwargs: Any) -> List[int]:
        return self.inner.tokenize(*args, **kwargs)

    def detokenize(self, *args: Any, **kwargs: Any) -> bytes:
        return self.inner.detokenize(*args, **kwargs)


def test_functionary_v2(llm: Llama) -> None:
    with chat_format(llm, "functionary-v2"):
        with pytest.raises(ValueError, match="LlamaHFTokenizer"):
            llm.create_chat_completion(TOOL_QUESTION, tools=TOOLS)
        original = llm.tokenizer_
        llm.tokenizer_ = WithHFTokenizer(original, FunctionaryV2Tokenizer())
        try:
            choice = {"type": "function", "function": {"name": "add"}}
            out = llm.create_chat_completion(TOOL_QUESTION, tools=TOOLS, tool_choice=choice, max_tokens=32, temperature=0)
            [call] = message_calls(out)
            assert call["name"] == "add" and call["id"].startswith("call_") and len(call["id"]) == 29
            check_call(call)
            chunks = list(llm.create_chat_completion(TOOL_QUESTION, tools=TOOLS, tool_choice=choice, max_tokens=32,
                                                     temperature=0, stream=True))
            assert [(c["name"], c["arguments"]) for c in assemble_tool_calls(chunks)] == [("add", call["arguments"])]
            auto = llm.create_chat_completion(TOOL_QUESTION, tools=TOOLS, tool_choice="required", max_tokens=32,
                                              temperature=0)
            calls = message_calls(auto)
            assert calls and auto["choices"][0]["finish_reason"] in ("tool_calls", "length")
            assert auto["usage"]["completion_tokens"] <= 32  # max_tokens bounds the whole turn
            for c in calls:
                check_call(c)
        finally:
            llm.tokenizer_ = original


# ------------------------------------------------------------------ vision handler, text only
def test_vision_handler_answers_text_and_names_a_bad_projector(llm: Llama, model_path: str) -> None:
    handler = lcf.Llava15ChatHandler(clip_model_path=model_path, verbose=False)  # a text model, not a projector
    with chat_format(llm, None, handler):
        out = llm.create_chat_completion(QUESTION, max_tokens=4, temperature=0)
        assert out["choices"][0]["message"]["content"]
        image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
        with pytest.raises(ValueError, match="Failed to load the multimodal projector .*SmolLM2"):
            llm.create_chat_completion([{"role": "user", "content": [image, {"type": "text", "text": "?"}]}])
        # the Llama is untouched and still answers the same
        again = llm.create_chat_completion(QUESTION, max_tokens=4, temperature=0)
        assert again["choices"][0]["message"] == out["choices"][0]["message"]
    # MTMDChatHandler renders the model's own template, images as the media marker
    mtmd = lcf.MTMDChatHandler(clip_model_path=model_path, verbose=False)
    prompt, urls = mtmd.render_prompt([{"role": "user", "content": [image, {"type": "text", "text": "?"}]}], llm)
    expected = llm._chat_handlers["chat_template.default"].chat_formatter(
        messages=[{"role": "user", "content": lcf.MEDIA_MARKER + "\n?"}]
    ).prompt
    assert (prompt, urls) == (expected, ["data:image/png;base64,AAAA"])


# ------------------------------------------------------------------ openai objects
def test_openai_v1_objects(llm: Llama) -> None:
    import openai  # a test requirement (noxfile): this must run, never skip
    from openai.types.chat import ChatCompletion, ChatCompletionChunk

    out = llm.create_chat_completion_openai_v1(QUESTION, max_tokens=8, temperature=0)
    assert isinstance(out, ChatCompletion)
    assert out.choices[0].message.role == "assistant" and out.usage is not None
    chunks = list(llm.create_chat_completion_openai_v1(messages=QUESTION, max_tokens=8, temperature=0, stream=True))
    assert all(isinstance(c, ChatCompletionChunk) for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == out.choices[0].message.content
    choice = {"type": "function", "function": {"name": "add"}}
    call = llm.create_chat_completion_openai_v1(TOOL_QUESTION, tools=TOOLS, tool_choice=choice, max_tokens=32, temperature=0)
    assert call.choices[0].message.tool_calls[0].function.name == "add"
    # the openai SDK's own stream accumulator rebuilds the same call from our chunks
    from openai.lib.streaming.chat._completions import ChatCompletionStreamState

    state = ChatCompletionStreamState()
    for chunk in llm.create_chat_completion_openai_v1(TOOL_QUESTION, tools=TOOLS, tool_choice=choice, max_tokens=32,
                                                      temperature=0, stream=True):
        state.handle_chunk(chunk)
    rebuilt = state.get_final_completion().choices[0].message.tool_calls[0]
    original = call.choices[0].message.tool_calls[0]
    assert (rebuilt.function.name, rebuilt.function.arguments) == (original.function.name, original.function.arguments)
    assert openai is not None


def test_openai_v1_without_openai_is_an_import_error(model_path: str) -> None:
    code = textwrap.dedent(f"""
        import sys
        sys.modules["openai"] = None  # hide the package
        from llama_cpp import Llama
        llm = Llama(model_path={model_path!r}, n_ctx=256, verbose=False)
        try:
            llm.create_chat_completion_openai_v1([{{"role": "user", "content": "hi"}}], max_tokens=1)
        except ImportError as e:
            print("IMPORT-ERROR:", e)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "IMPORT-ERROR:" in result.stdout, result.stderr
    assert "pip install openai" in result.stdout


# ------------------------------------------------------------------ logprobs
def test_logprobs(llm: Llama) -> None:
    out = llm.create_chat_completion(QUESTION, max_tokens=6, temperature=0, logprobs=True, top_logprobs=3)
    content = out["choices"][0]["logprobs"]["content"]
    assert out["choices"][0]["logprobs"]["refusal"] is None
    assert len(content) == out["usage"]["completion_tokens"] == 6
    assert "".join(t["token"] for t in content) == out["choices"][0]["message"]["content"]
    for token in content:
        assert set(token) == {"token", "logprob", "bytes", "top_logprobs"}
        assert token["logprob"] <= 0.0 and len(token["top_logprobs"]) == 3
        best = token["top_logprobs"][0]
        assert best["logprob"] >= token["top_logprobs"][1]["logprob"] >= token["top_logprobs"][2]["logprob"]
        assert best["token"] == token["token"] and best["logprob"] == pytest.approx(token["logprob"])  # greedy
    chunks = list(llm.create_chat_completion(QUESTION, max_tokens=6, temperature=0, logprobs=True,
                                                    top_logprobs=3, stream=True))
    streamed = [t for c in chunks if c["choices"][0]["logprobs"] for t in c["choices"][0]["logprobs"]["content"]]
    assert [t["token"] for t in streamed] == [t["token"] for t in content]
    only_chosen = llm.create_chat_completion(QUESTION, max_tokens=2, temperature=0, logprobs=True)
    assert [t["top_logprobs"] for t in only_chosen["choices"][0]["logprobs"]["content"]] == [[], []]
    none = llm.create_chat_completion(QUESTION, max_tokens=2, temperature=0, top_logprobs=3)
    assert none["choices"][0]["logprobs"] is None


# ------------------------------------------------------------------ bad input
BAD_MESSAGES = [
    ([{"content": "no role"}], "has no 'role'"),
    ([{"role": "wizard", "content": "x"}], "unknown role 'wizard'"),
    ([{"role": "user", "content": 42}], "content of type int"),
    ([{"role": "system", "content": {"text": "x"}}], "content of type dict"),
    ([{"role": "system", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}], "only user messages"),
    ([{"role": "user", "content": [{"type": "audio"}]}], "unsupported type 'audio'"),
    ([{"role": "function", "content": "x"}], "needs the string 'name'"),
    ([{"role": "assistant", "content": None, "tool_calls": [{"type": "function"}]}], "needs a 'function' dict"),
    ([], "messages is empty"),
    ("hello", "must be a list"),
    (["hello"], "must be a dict"),
]


@pytest.mark.parametrize(("messages", "problem"), BAD_MESSAGES)
@pytest.mark.parametrize("fmt", ["chat_template.default", "chatml", "chatml-function-calling", "functionary"])
def test_bad_messages_are_value_errors(llm: Llama, fmt: str, messages: Any, problem: str) -> None:
    with chat_format(llm, fmt):
        with pytest.raises(ValueError, match=problem):
            llm.create_chat_completion(messages, max_tokens=1)


BAD_TOOLS = [
    ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "has no JSON schema in 'parameters'"),
    ({"tools": [{"type": "retrieval"}]}, "only 'function' tools"),
    ({"tools": [{"type": "function", "function": {"parameters": {}}}]}, "non-empty string 'name'"),
    ({"tools": [WEATHER, WEATHER]}, "must be unique"),
    ({"tools": TOOLS, "tool_choice": "sometimes"}, "tool_choice must be"),
    ({"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "nope"}}}, "nope"),
    ({"tool_choice": {"type": "function", "function": {"name": "add"}}}, "no tools were given"),
    ({"tool_choice": "required"}, "needs at least one tool"),
    ({"functions": [{"name": "f"}]}, "has no JSON schema"),
    ({"functions": [ADD["function"]], "function_call": 3}, "function_call must be"),
    ({"response_format": {"type": "yaml"}}, "response_format type must be"),
    ({"response_format": {"type": "json_schema"}}, "needs the schema"),
    ({"stop": 5}, "stop must be"),
]


@pytest.mark.parametrize(("kwargs", "problem"), BAD_TOOLS)
@pytest.mark.parametrize("fmt", ["chat_template.default", "chatml-function-calling"])
def test_bad_tools_and_options_are_value_errors(llm: Llama, fmt: str, kwargs: Dict[str, Any], problem: str) -> None:
    with chat_format(llm, fmt):
        with pytest.raises(ValueError, match=problem):
            llm.create_chat_completion(QUESTION, max_tokens=1, **kwargs)


def test_gguf_template_takes_a_tool_call_turn_without_content(llm: Llama) -> None:
    # OpenAI sends an assistant turn that only calls tools with content None; SmolLM2's template concatenates
    # content as a string, so the turn is rendered with empty content instead of failing
    messages = [
        {"role": "user", "content": "What is the weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {
            "name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny, 20 C"},
    ]
    with chat_format(llm, "chat_template.default"):
        r = llm.create_chat_completion(messages, max_tokens=4, temperature=0)
        prompt = llm._chat_handlers["chat_template.default"].chat_formatter(messages=messages).prompt
    assert r["choices"][0]["message"]["role"] == "assistant"
    assert "<|im_start|>assistant\n<|im_end|>" in prompt and "sunny, 20 C" in prompt
