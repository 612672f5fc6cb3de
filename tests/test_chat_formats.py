"""Prompt fixtures for every built-in chat format, the registry, and the prompt builders
of the tool-calling, Hugging Face and vision handlers. No model needed."""

from __future__ import annotations

import base64
import os
import sys
from typing import Any, Dict, List, Optional

import jinja2
import pytest

from llama_cpp import llama_chat_format as lcf

SYS_U_A_U: List[Dict[str, Any]] = [
    {"role": "system", "content": "SYS"},
    {"role": "user", "content": "U1"},
    {"role": "assistant", "content": "A1"},
    {"role": "user", "content": "U2"},
]

VICUNA = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)
OPENBUDDY = (
    "You are a helpful, respectful and honest INTP-T AI Assistant named Buddy. You are talking to a human User.\n"
    "Always answer as helpfully and logically as possible, while being safe. Your answers should not include any "
    "harmful, political, religious, unethical, racist, sexist, toxic, dangerous, or illegal content. Please ensure "
    "that your responses are socially unbiased and positive in nature.\n"
    "If a question does not make any sense, or is not factually coherent, explain why instead of answering "
    "something not correct. If you don't know the answer to a question, please don't share false information.\n"
    "You can speak fluently in many languages, for example: English, Chinese.\n"
    "You cannot access the internet, but you have vast knowledge, cutoff: 2021-09.\n"
    "You are trained by OpenBuddy team, (https://openbuddy.ai, https://github.com/OpenBuddy/OpenBuddy), you are "
    "based on LLaMA and Falcon transformers model, not related to GPT or OpenAI.\n\n"
)
OPEN_ORCA = (
    "You are a helpful assistant. Please answer truthfully and write out your thinking step by step to be sure you "
    "get the right answer. If you make a mistake or encounter an error in your thinking, say so out loud and attempt "
    "to correct it. If you don't know or aren't sure about something, say so clearly. You will act as a professional "
    "logician, mathematician, and physicist. You will also act as the most appropriate type of expert to answer any "
    "particular question or solve the relevant problem; state which expert type your are, if so. Also think of any "
    "particular named expert that would be ideal to answer the relevant question or solve the relevant problem; name "
    "and act as them, if appropriate."
)
SNOOZY = (
    "The prompt below is a question to answer, a task to complete, or a conversation to respond to; "
    "decide which and write an appropriate response."
)
LLAMA3_HEADER = "<|start_header_id|>{}<|end_header_id|>\n\n"

# name -> (formatter, prompt for [system SYS, user U1, assistant A1, user U2], stop)
FIXTURES = {
    "llama-2": (lcf.format_llama2, "[INST] <<SYS>>\nSYS\n<</SYS>> U1 [/INST]A1 </s><s>[INST]U2  [/INST]", None),
    "llama-3": (
        lcf.format_llama3,
        "".join(LLAMA3_HEADER.format(r) + c + "<|eot_id|>" for r, c in
                [("system", "SYS"), ("user", "U1"), ("assistant", "A1"), ("user", "U2")]) + LLAMA3_HEADER.format("assistant"),
        "<|eot_id|>",
    ),
    "alpaca": (lcf.format_alpaca, "SYS\n\n### Instruction: U1\n\n### Response: A1</s>### Instruction: U2\n\n", None),
    "qwen": (
        lcf.format_qwen,
        "<|im_start|>system\nSYS<|im_end|>\n<|im_start|>user\nU1<|im_end|>\n<|im_start|>assistant\nA1<|im_end|>\n"
        "<|im_start|>user\nU2<|im_end|>\n<|im_start|>assistant\n",
        "<|endoftext|>",
    ),
    "vicuna": (lcf.format, VICUNA + " USER: U1 ASSISTANT: A1</s>USER: U2 ASSISTANT:", None),
    "oasst_llama": (
        lcf.format_oasst_llama,
        "[INST] <<SYS>>\nSYS\n<</SYS>>\n\n<|prompter|>U1</s><|assistant|>A1</s><|prompter|>U2</s><|assistant|>",
        None,
    ),
    "baichuan-2": (lcf.format_baichuan2, "SYS<reserved_106>U1<reserved_107>A1<reserved_106>U2<reserved_107>", None),
    "baichuan": (lcf.format_baichuan, "SYS<reserved_102>U1<reserved_103>A1<reserved_102>U2<reserved_103>", None),
    "openbuddy": (lcf.format_openbuddy, OPENBUDDY + "\nUser: U1\nAssistant: A1\nUser: U2\nAssistant:", None),
    "redpajama-incite": (lcf.format_redpajama_incite, "SYS\n<human>: U1\n<bot>: A1\n<human>: U2\n<bot>:", "<human>"),
    "snoozy": (lcf.format_snoozy, "SYS\n### Prompt: U1\n### Response: A1\n### Prompt: U2\n### Response:", "###"),
    "phind": (
        lcf.format_phind,
        "### System Prompt\nYou are an intelligent programming assistant.\n\n### User Message: U1\n\n"
        "### Assistant: A1\n\n### User Message: U2\n\n### Assistant:",
        None,
    ),
    "intel": (
        lcf.format_intel,
        "### System:\n{system_message}\n### User:: U1\n### Assistant:: A1\n### User:: U2\n### Assistant::",
        None,
    ),
    "open-orca": (lcf.format_open_orca, OPEN_ORCA + "<|end_of_turn|>\nAssistant: ", "User"),
    "mistrallite": (
        lcf.format_mistrallite,
        "<|system|>SYS</s><|prompter|>U1 </s>\n<|assistant|>A1 <|prompter|>U2 </s>\n<|assistant|>",
        None,
    ),
    "zephyr": (
        lcf.format_zephyr,
        "<|system|>\nSYS</s>\n<|user|>\n\nU1</s>\n<|assistant|>\n\nA1</s>\n<|user|>\n\nU2</s>\n<|assistant|>\n\n",
        "</s>",
    ),
    "pygmalion": (
        lcf.format_pygmalion,
        "<|system|>SYS\n\n<|user|>\nU1\n\n<|model|>\nA1\n\n<|user|>\nU2\n\n<|model|>\n",
        "\n",
    ),
    "chatml": (
        lcf.format_chatml,
        "<|im_start|>system\nSYS<|im_end|>\n<|im_start|>user\nU1<|im_end|>\n<|im_start|>assistant\nA1<|im_end|>\n"
        "<|im_start|>user\nU2<|im_end|>\n<|im_start|>assistant\n",
        "<|im_end|>",
    ),
    "mistral-instruct": (lcf.format_mistral_instruct, "[INST] U1 [/INST]A1</s>[INST] U2 [/INST]", "</s>"),
    "chatglm3": (lcf.format_chatglm3, "<|system|>\nSYS<|user|>\n U1<|assistant|>\n A1<|user|>\n U2<|assistant|>", "</s>"),
    "openchat": (
        lcf.format_openchat,
        "SYS<|end_of_turn|><|end_of_turn|>\nGPT4 Correct User: \nU1<|end_of_turn|>\n<|end_of_turn|>GPT4 Correct "
        "Assistant: \nA1<|end_of_turn|>\nGPT4 Correct User: \nU2<|end_of_turn|>\n<|end_of_turn|>GPT4 Correct Assistant: \n",
        "<|end_of_turn|>",
    ),
    "saiga": (lcf.format_saiga, "<s>system\nSYS</s><s>user\nU1</s><s>user\nU2</s><s>bot", None),
    "gemma": (
        lcf.format_gemma,
        "<start_of_turn>user\nU1<end_of_turn>\n<start_of_turn>model\nA1<end_of_turn>\n<start_of_turn>user\nU2"
        "<end_of_turn>\n<start_of_turn>model\n",
        "<end_of_turn>\n",
    ),
}

HANDLER_NAMES = ["functionary", "functionary-v1", "functionary-v2", "chatml-function-calling"]


# ------------------------------------------------------------------ registry
def test_all_27_builtin_names_are_registered() -> None:
    names = set(lcf.LlamaChatCompletionHandlerRegistry().names())
    expected = set(FIXTURES) | set(HANDLER_NAMES)
    assert len(expected) == 27
    assert expected <= names
    for name in expected:
        assert callable(lcf.get_chat_completion_handler(name))


def test_registry_is_one_object() -> None:
    assert lcf.LlamaChatCompletionHandlerRegistry() is lcf.LlamaChatCompletionHandlerRegistry()


def test_unknown_format_lists_the_valid_ones() -> None:
    with pytest.raises(lcf.LlamaChatCompletionHandlerNotFoundException) as info:
        lcf.get_chat_completion_handler("no-such-format")
    message = str(info.value)
    assert message.startswith("Invalid chat handler: no-such-format (valid formats: [")
    assert "'chatml'" in message and "'functionary-v2'" in message


def test_register_format_decorator_and_duplicate_and_unregister() -> None:
    registry = lcf.LlamaChatCompletionHandlerRegistry()

    @lcf.register_chat_format("test-colon-format")
    def my_format(messages: List[Dict[str, Any]], **kwargs: Any) -> lcf.ChatFormatterResponse:
        return lcf.ChatFormatterResponse(prompt="".join(f"{m['role']}: {m['content']}\n" for m in messages))

    try:
        # the decorator returns the formatter itself, still callable directly
        assert my_format(messages=[{"role": "user", "content": "hi"}]).prompt == "user: hi\n"
        handler = lcf.get_chat_completion_handler("test-colon-format")
        assert handler is not my_format and callable(handler)
        with pytest.raises(ValueError) as info:
            registry.register_chat_completion_handler("test-colon-format", handler)
        assert str(info.value) == (
            "Formatter with name 'test-colon-format' is already registered. Use `overwrite=True` to overwrite it."
        )
        registry.register_chat_completion_handler("test-colon-format", handler, overwrite=True)
    finally:
        registry.unregister_chat_handler("test-colon-format")
    with pytest.raises(ValueError, match="No formatter registered under the name 'test-colon-format'."):
        registry.unregister_chat_handler("test-colon-format")


def test_register_chat_completion_handler_decorator() -> None:
    @lcf.register_chat_completion_handler("test-echo-handler")
    def echo(**kwargs: Any) -> Any:
        return kwargs["messages"]

    try:
        assert lcf.get_chat_completion_handler("test-echo-handler") is echo
    finally:
        lcf.LlamaChatCompletionHandlerRegistry().unregister_chat_handler("test-echo-handler")


# ------------------------------------------------------------------ built-in formats
@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_builtin_format_fixture(name: str) -> None:
    formatter, prompt, stop = FIXTURES[name]
    result = formatter(messages=SYS_U_A_U)
    assert isinstance(result, lcf.ChatFormatterResponse)
    assert result.prompt == prompt
    assert result.stop == stop
    assert result.added_special is False
    assert result.stopping_criteria is None


def test_formats_without_system_message() -> None:
    no_system = SYS_U_A_U[1:]
    assert lcf.format_llama2(messages=no_system).prompt == " <s>[INST]U1  [/INST]A1 </s><s>[INST]U2  [/INST]"
    assert lcf.format_chatml(messages=no_system).prompt.startswith("<|im_start|>system\n<|im_end|>\n<|im_start|>user\nU1")
    assert lcf.format_qwen(messages=no_system).prompt.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n")
    assert lcf.format_snoozy(messages=no_system).prompt.startswith(SNOOZY + "\n### Prompt: U1\n")


def test_format_alias_and_extra_kwargs_are_ignored() -> None:
    assert lcf.format is lcf.format_vicuna
    a = lcf.format_chatml(messages=SYS_U_A_U, tools=None, temperature=0.5, anything="x")
    assert a.prompt == FIXTURES["chatml"][1]


def test_non_string_content_renders_as_an_empty_turn() -> None:
    messages = [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    assert lcf.format_chatml(messages=messages).prompt == (
        "<|im_start|>system\n<|im_end|>\n<|im_start|>user\n<|im_start|>assistant\n"
    )


def test_mistral_instruct_matches_the_mixtral_template() -> None:
    messages = SYS_U_A_U[1:]
    expected = jinja2.Template(lcf.MIXTRAL_INSTRUCT_CHAT_TEMPLATE).render(
        messages=messages, bos_token="<s>", eos_token="</s>"
    )
    assert "<s>" + lcf.format_mistral_instruct(messages=messages).prompt == expected


def test_builtin_chatml_and_llama3_match_their_templates() -> None:
    chatml = lcf.Jinja2ChatFormatter(lcf.CHATML_CHAT_TEMPLATE, eos_token="<|im_end|>", bos_token="<s>")
    assert chatml(messages=SYS_U_A_U).prompt == lcf.format_chatml(messages=SYS_U_A_U).prompt
    llama3 = lcf.Jinja2ChatFormatter(lcf.LLAMA3_INSTRUCT_CHAT_TEMPLATE, eos_token="<|eot_id|>", bos_token="<|begin_of_text|>")
    assert llama3(messages=SYS_U_A_U).prompt == "<|begin_of_text|>" + lcf.format_llama3(messages=SYS_U_A_U).prompt


# ------------------------------------------------------------------ default format from metadata
@pytest.mark.parametrize(
    ("template", "expected"),
    [
        (lcf.CHATML_CHAT_TEMPLATE, "chatml"),
        (lcf.MISTRAL_INSTRUCT_CHAT_TEMPLATE, "mistral-instruct"),
        (lcf.MIXTRAL_INSTRUCT_CHAT_TEMPLATE, "mistral-instruct"),
        (lcf.LLAMA3_INSTRUCT_CHAT_TEMPLATE, "llama-3"),
        (lcf.CHATML_CHAT_TEMPLATE + " ", None),
        ("{{ messages }}", None),
    ],
)
def test_guess_chat_format_from_gguf_metadata(template: str, expected: Optional[str]) -> None:
    assert lcf.guess_chat_format_from_gguf_metadata({"tokenizer.chat_template": template}) == expected


def test_guess_without_template() -> None:
    assert lcf.guess_chat_format_from_gguf_metadata({"general.name": "x"}) is None


def test_template_constants_are_exact() -> None:
    assert lcf.CHATML_CHAT_TEMPLATE == (
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' "
        "+ '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
    )
    assert (lcf.CHATML_BOS_TOKEN, lcf.CHATML_EOS_TOKEN) == ("<s>", "<|im_end|>")
    assert (lcf.MISTRAL_INSTRUCT_BOS_TOKEN, lcf.MISTRAL_INSTRUCT_EOS_TOKEN) == ("<s>", "</s>")
    assert lcf.MIXTRAL_INSTRUCT_CHAT_TEMPLATE == lcf.MISTRAL_INSTRUCT_CHAT_TEMPLATE.replace(
        "{{ message['content'] + eos_token + ' ' }}", "{{ message['content'] + eos_token}}"
    )
    assert lcf.LLAMA3_INSTRUCT_CHAT_TEMPLATE.startswith("{% set loop_messages = messages %}")


# ------------------------------------------------------------------ Hugging Face helpers
MISTRAL_CONFIG = {
    "add_bos_token": True,
    "add_eos_token": False,
    "bos_token": "<s>",
    "eos_token": "</s>",
    "chat_template": lcf.MIXTRAL_INSTRUCT_CHAT_TEMPLATE,
    "clean_up_tokenization_spaces": False,
    "model_max_length": 1000000000000000019884624838656,
    "tokenizer_class": "LlamaTokenizer",
    "unk_token": "<unk>",
}


def test_hf_tokenizer_config_mistral_fixture() -> None:
    formatter = lcf.hf_tokenizer_config_to_chat_formatter(MISTRAL_CONFIG)
    result = formatter(messages=[{"role": "user", "content": "Hello, world!"}])
    assert result.prompt == "<s>[INST] Hello, world! [/INST]</s>"
    assert result.stop == ["</s>", "<s>"]
    assert result.added_special is True
    assert callable(lcf.hf_tokenizer_config_to_chat_completion_handler(MISTRAL_CONFIG))


def test_hf_tokenizer_config_uses_add_generation_prompt_when_the_template_has_it() -> None:
    config = {"bos_token": {"content": "<s>"}, "eos_token": "<|im_end|>", "chat_template": lcf.CHATML_CHAT_TEMPLATE}
    result = lcf.hf_tokenizer_config_to_chat_formatter(config)(messages=[{"role": "user", "content": "Hi"}])
    assert result.prompt == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    plain = lcf.hf_tokenizer_config_to_chat_formatter(config, add_generation_prompt=False)
    assert plain(messages=[{"role": "user", "content": "Hi"}]).prompt == "<|im_start|>user\nHi<|im_end|>\n"


def test_hf_tokenizer_config_rejects_incomplete_configs() -> None:
    for missing in ("chat_template", "bos_token", "eos_token"):
        config = {k: v for k, v in MISTRAL_CONFIG.items() if k != missing}
        with pytest.raises(ValueError, match=missing):
            lcf.hf_tokenizer_config_to_chat_formatter(config)


def test_hf_tokenizer_config_template_errors_name_the_template() -> None:
    formatter = lcf.hf_tokenizer_config_to_chat_formatter(MISTRAL_CONFIG)
    with pytest.raises(ValueError, match="Conversation roles must alternate"):
        formatter(messages=[{"role": "assistant", "content": "first"}])


def test_hf_autotokenizer_without_transformers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)  # makes `import transformers` fail
    with pytest.raises(ImportError, match="pip install transformers"):
        lcf.hf_autotokenizer_to_chat_formatter("any/model")
    with pytest.raises(ImportError, match="pip install transformers"):
        lcf.hf_autotokenizer_to_chat_completion_handler("any/model")


# ------------------------------------------------------------------ chatml-function-calling prompt
FUNCTION_TOOL = {
    "type": "function",
    "function": {
        "name": "f",
        "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
    },
}


def test_chatml_function_calling_prompt_fixture() -> None:
    from llama_cpp._chat.function_calling import render_chatml_function_calling_prompt

    prompt = render_chatml_function_calling_prompt(
        [{"role": "system", "content": "SYS"}, {"role": "user", "content": "U1"}], [FUNCTION_TOOL]
    )
    assert prompt + "functions.f:\n" == '<|im_start|>system\nSYS\n\nYou have access to the following functions:\n\nfunctions.f:\n{"properties": {"a": {"type": "integer"}}, "required": ["a"], "type": "object"}\n\n\nYou can respond to users messages with either a single message or one or more function calls.\n\nTo respond with a message begin the message with \'message:\', use the following format:\n\nmessage:\n<message>\n\nTo respond with one or more function calls begin the message with \'functions.<function_name>:\', use the following format:\n\nfunctions.<function_name>:\n{ "arg1": "value1", "arg2": "value2" }\nfunctions.<function_name>:\n{ "arg1": "value1", "arg2": "value2" }<|im_end|>\n<|im_start|>user\nU1<|im_end|>\n<|im_start|>assistant\nfunctions.f:\n'


def test_chatml_function_calling_prompt_history_and_no_tools() -> None:
    from llama_cpp._chat.function_calling import render_chatml_function_calling_prompt

    history = [
        {"role": "user", "content": "add"},
        {"role": "assistant", "content": None,
         "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "2"},
    ]
    with_tools = render_chatml_function_calling_prompt(history, [FUNCTION_TOOL])
    # tools are described in a system message even when the conversation has none
    assert with_tools.startswith("<|im_start|>system\nYou have access to the following functions:\n")
    assert '<|im_start|>assistant\nfunctions.f:\n{"a": 1}<|im_end|>\n' in with_tools
    assert "<|im_start|>tool\n2<|im_end|>\n" in with_tools  # tool results are not dropped
    assert with_tools.endswith("<|im_start|>assistant\n")
    plain = render_chatml_function_calling_prompt([{"role": "user", "content": "hi"}])
    assert plain == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    # no HTML escaping of arguments (the reference printed {&#34;a&#34;: 1})
    assert "&#34;" not in with_tools


# ------------------------------------------------------------------ functionary prompt
def test_functionary_prompt() -> None:
    from llama_cpp._chat.functionary import functions_namespace, render_functionary_prompt

    weather = {
        "name": "get_weather",
        "description": "Weather of a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name"},
                "unit": {"type": "string", "enum": ["c", "f"]},
                "days": {"type": "array", "items": {"type": "integer"}},
            },
            "required": ["city"],
        },
    }
    assert functions_namespace([weather]) == (
        "// Supported function definitions that should be called when necessary.\nnamespace functions {\n\n"
        "// Weather of a city\ntype get_weather = (_: {\n// City name\ncity: string,\nunit?: \"c\" | \"f\",\n"
        "days?: number[],\n}) => any;\n\n} // namespace functions"
    )
    messages = [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "x1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}]},
        {"role": "tool", "tool_call_id": "x1", "content": "sunny"},
    ]
    original = [dict(m) for m in messages]
    prompt = render_functionary_prompt(messages, [weather])
    assert prompt.startswith("system:\n// Supported function definitions")
    assert (
        f"system:\n{lcf.FUNCTIONARY_SYSTEM_MESSAGE}\nuser:\n</s>Weather?</s>\n"
        "assistant to=functions.get_weather:\n{\"city\": \"Oslo\"}</s>\nfunction name=functions.get_weather:\nsunny\n"
        "assistant"
    ) in prompt
    assert prompt.endswith("assistant")
    assert messages == original  # the caller's messages are not modified


# ------------------------------------------------------------------ compatibility helpers
def test_private_conversion_helpers() -> None:
    completion = {
        "id": "cmpl-1", "object": "text_completion", "created": 5, "model": "m",
        "choices": [{"text": "hi", "index": 0, "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3},
    }
    chat = lcf._convert_completion_to_chat(completion)
    assert chat == {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 5, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "logprobs": None,
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3},
    }
    call = lcf._convert_completion_to_chat_function("f", completion, stream=False)
    assert call["choices"][0]["message"]["tool_calls"][0]["id"] == "call__0_f_cmpl-1"
    assert call["choices"][0]["finish_reason"] == "tool_calls"
    assert lcf._get_system_message(SYS_U_A_U) == "SYS"
    pairs = lcf._map_roles(SYS_U_A_U, {"user": "U", "assistant": "A"})
    assert pairs == [("U", "U1"), ("A", "A1"), ("U", "U2")]
    assert lcf._format_add_colon_single("S", pairs + [("A", None)], "\n") == "S\nU: U1\nA: A1\nU: U2\nA:"


# ------------------------------------------------------------------ vision handlers: prompts and helpers (no model)
IMAGE = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}


@pytest.fixture()
def clip_path(tmp_path: Any) -> str:
    path = tmp_path / "mmproj.gguf"
    path.write_bytes(b"GGUF")
    return str(path)


def test_vision_handler_constructor_validates_the_path(tmp_path: Any) -> None:
    missing = str(tmp_path / "nope.gguf")
    for cls in (lcf.Llava15ChatHandler, lcf.MoondreamChatHandler, lcf.Qwen25VLChatHandler, lcf.MTMDChatHandler):
        with pytest.raises(ValueError, match=f"Clip model path does not exist: {missing}"):
            cls(clip_model_path=missing)
    with pytest.raises(TypeError):
        lcf.Llava15ChatHandler(clip_model_path=123)  # type: ignore[arg-type]


def test_vision_handler_classes_and_attributes(clip_path: str) -> None:
    handler = lcf.Llava15ChatHandler(clip_model_path=clip_path, verbose=False)
    assert handler.clip_model_path == clip_path and handler.verbose is False
    assert lcf.Llava15ChatHandler.DEFAULT_SYSTEM_MESSAGE.startswith("A chat between a curious human")
    assert lcf.NanoLlavaChatHandler.DEFAULT_SYSTEM_MESSAGE == "Answer the question"
    assert lcf.Qwen25VLChatHandler.DEFAULT_SYSTEM_MESSAGE == "You are a helpful assistant."
    assert lcf.Llama3VisionAlphaChatHandler.DEFAULT_SYSTEM_MESSAGE is None
    assert lcf.Llama3VisionAlpha is lcf.Llama3VisionAlphaChatHandler
    assert issubclass(lcf.Gemma4ChatHandler, lcf.MTMDChatHandler)
    assert lcf.MTMDChatHandler(clip_model_path=clip_path, use_gpu=False).use_gpu is False
    for cls in (lcf.ObsidianChatHandler, lcf.MoondreamChatHandler, lcf.Llava16ChatHandler, lcf.MiniCPMv26ChatHandler):
        assert issubclass(cls, lcf.Llava15ChatHandler)
    assert issubclass(lcf.MultimodalUnavailableError, ImportError)


def test_llava15_prompt_marks_images(clip_path: str) -> None:
    handler = lcf.Llava15ChatHandler(clip_model_path=clip_path)
    messages = [{"role": "user", "content": [{"type": "text", "text": "What is this?"}, IMAGE]}]
    prompt, urls = handler.render_prompt(messages)
    assert urls == ["https://example.com/cat.png"]
    assert prompt == lcf.Llava15ChatHandler.DEFAULT_SYSTEM_MESSAGE + "\nUSER: " + lcf.MEDIA_MARKER + "What is this?\nASSISTANT: "
    two = [{"role": "system", "content": "S"}, {"role": "user", "content": [IMAGE, IMAGE, {"type": "text", "text": "Same?"}]},
           {"role": "assistant", "content": "Yes"}, {"role": "user", "content": "Sure?"}]
    prompt, urls = handler.render_prompt(two)
    assert len(urls) == 2 and prompt.count(lcf.MEDIA_MARKER) == 2
    assert prompt == f"S\nUSER: {lcf.MEDIA_MARKER}{lcf.MEDIA_MARKER}Same?\nASSISTANT: Yes\nUSER: Sure?\nASSISTANT: "


def test_other_vision_prompts(clip_path: str) -> None:
    messages = [{"role": "user", "content": [IMAGE, {"type": "text", "text": "Describe"}]}]
    moondream, _ = lcf.MoondreamChatHandler(clip_model_path=clip_path).render_prompt(messages)
    assert moondream == f"{lcf.MEDIA_MARKER}\n\nQuestion: Describe\n\nAnswer:"
    qwen, _ = lcf.Qwen25VLChatHandler(clip_model_path=clip_path).render_prompt(messages)
    assert qwen == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
        f"<|vision_start|>{lcf.MEDIA_MARKER}<|vision_end|>Describe<|im_end|>\n<|im_start|>assistant\n"
    )
    nano, _ = lcf.NanoLlavaChatHandler(clip_model_path=clip_path).render_prompt(messages)
    assert nano.startswith("<|im_start|>system\nAnswer the question<|im_end|>\n<|im_start|>user\n" + lcf.MEDIA_MARKER)
    llama3, _ = lcf.Llama3VisionAlphaChatHandler(clip_model_path=clip_path).render_prompt(messages)
    assert llama3 == (
        f"<|start_header_id|>user<|end_header_id|>\n\n{lcf.MEDIA_MARKER}Describe<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )


def test_mtmd_handler_needs_a_template(clip_path: str) -> None:
    handler = lcf.MTMDChatHandler(clip_model_path=clip_path)
    with pytest.raises(ValueError, match="MTMDChatHandler requires tokenizer.chat_template metadata"):
        handler.render_prompt([{"role": "user", "content": "hi"}])


def test_image_helpers(clip_path: str, tmp_path: Any) -> None:
    handler = lcf.Llava15ChatHandler(clip_model_path=clip_path)
    payload = b"\x89PNG fake"
    assert handler.load_image("data:image/png;base64," + base64.b64encode(payload).decode()) == payload
    local = tmp_path / "img.bin"
    local.write_bytes(payload)
    assert handler.load_image(str(local)) == payload
    assert handler.load_image("file://" + os.fspath(local)) == payload
    assert lcf.Llava15ChatHandler.split_text_on_image_urls("a URL1 b URL2", ["URL1", "URL2"]) == [
        ("text", "a "), ("image_url", "URL1"), ("text", " b "), ("image_url", "URL2"),
    ]
    assert lcf.Llava15ChatHandler.get_image_urls(
        [{"role": "user", "content": [IMAGE, {"type": "image_url", "image_url": "data:x"}]}, {"role": "assistant", "content": "x"}]
    ) == ["https://example.com/cat.png", "data:x"]
