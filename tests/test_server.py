"""The OpenAI-compatible server, served by uvicorn on 127.0.0.1 and driven by real clients.

One server (two models: a chat model and an embedding model from the same
GGUF) serves most tests; auth, overload and the multi-model config get their
own small servers. Clients are the ``openai`` SDK (sync and async) and raw
``httpx`` where the bytes on the wire matter (SSE framing, headers).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from typing import Any, Dict, Iterator, List, Optional

import httpx
import jsonschema
import openai
import pytest
import uvicorn

from llama_cpp.server.app import create_app
from llama_cpp.server.settings import ModelSettings, ServerSettings, load_config_file

N_EMBD = 576  # SmolLM2-135M


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def model(model_path: str, alias: str, **overrides: Any) -> ModelSettings:
    values: Dict[str, Any] = dict(model=model_path, model_alias=alias, n_ctx=2048, n_threads=1, n_threads_batch=1,
                                  verbose=False)
    values.update(overrides)
    return ModelSettings(**values)


APPS: Dict[str, Any] = {}  # base URL -> the app serving it


@contextlib.contextmanager
def serve(models: List[ModelSettings], **server: Any) -> Iterator[str]:
    """A uvicorn server for ``create_app`` on a free loopback port, until the block ends; yields its base URL."""
    app = create_app(server_settings=ServerSettings(**server), model_settings=models)
    port = free_port()
    APPS[f"http://127.0.0.1:{port}"] = app
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=10)
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert thread.is_alive(), "the server thread died"
        assert time.monotonic() < deadline, "the server did not become healthy"
        if uv.started:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/health", timeout=5).status_code == 200:
                    break
        time.sleep(0.05)
    try:
        yield base
    finally:
        uv.should_exit = True
        thread.join(30)
        assert not thread.is_alive(), "the server did not stop"


def metric(base: str, name: str, default: Optional[float] = None) -> float:
    text = httpx.get(base + "/metrics").text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    if default is not None:
        return default
    raise AssertionError(f"{name} not in /metrics:\n{text}")


def sse_events(raw: str) -> List[str]:
    """The ``data:`` payloads of an SSE body; asserts the framing (one data line per event, blank-line ends)."""
    assert raw.endswith("\n\n"), raw[-50:]
    events = []
    for block in raw.split("\n\n")[:-1]:
        lines = [line for line in block.split("\n") if not line.startswith(":")]  # comments are pings
        if not lines:
            continue
        assert len(lines) == 1 and lines[0].startswith("data: "), block
        events.append(lines[0][len("data: "):])
    return events


@pytest.fixture(scope="module")
def base(model_path: str) -> Iterator[str]:
    with serve([model(model_path, "smol"), model(model_path, "embed", embedding=True, pooling_type=1, n_parallel=2)],
               max_request_bytes=1 << 20) as url:
        yield url


@pytest.fixture(scope="module")
def client(base: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0, timeout=120)


HELLO = [{"role": "user", "content": "What is the capital of France?"}]


# ---------------------------------------------------------------- routes and shapes
def test_models_routes(client: openai.OpenAI, base: str) -> None:
    models = client.models.list()
    assert [m.id for m in models.data] == ["smol", "embed"]
    for m in models.data:
        assert m.object == "model" and isinstance(m.created, int) and m.created > 1_600_000_000
        assert m.owned_by == "me"
    assert client.models.retrieve("embed").id == "embed"
    with pytest.raises(openai.NotFoundError) as err:
        client.models.retrieve("missing")
    assert err.value.body["code"] == "model_not_found"


def test_health_and_headers(base: str) -> None:
    r = httpx.get(base + "/health")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    r = httpx.post(base + "/extras/tokenize", json={"input": "hi"}, headers={"x-request-id": "trace-42"})
    assert r.headers["x-request-id"] == "trace-42"
    assert int(r.headers["openai-processing-ms"]) >= 0
    generated = httpx.post(base + "/extras/tokenize", json={"input": "hi"}).headers["x-request-id"]
    assert len(generated) == 32


def test_health_503_until_loaded(model_path: str) -> None:
    # the app as a plain ASGI callable, before its lifespan has loaded the model
    app = create_app(server_settings=ServerSettings(), model_settings=[model(model_path, "smol")])

    async def main() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as asgi:
            r = await asgi.get("/health")
            assert r.status_code == 503
            assert r.json() == {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}
            app.state.llama.preload()
            r = await asgi.get("/health")
            assert r.status_code == 200 and r.json() == {"status": "ok"}
        app.state.llama.manager.close()

    asyncio.run(main())


def test_chat_completion(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(model="smol", messages=HELLO, max_tokens=12, temperature=0)
    assert r.object == "chat.completion" and r.model == "smol"
    assert "Paris" in r.choices[0].message.content
    assert r.choices[0].message.role == "assistant"
    assert r.usage.prompt_tokens > 10 and 0 < r.usage.completion_tokens <= 12
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_default_model_and_legacy_route(base: str) -> None:
    r = httpx.post(base + "/v1/completions", json={"prompt": "The capital of France is", "max_tokens": 4,
                                                   "temperature": 0})
    assert r.status_code == 200 and r.json()["model"] == "smol"  # no model: the first one
    r = httpx.post(base + "/v1/engines/copilot-codex/completions", json={"prompt": "def add(a, b):",
                                                                          "max_tokens": 4})
    assert r.status_code == 200 and r.json()["object"] == "text_completion"


def test_chat_stream_sse_framing_and_usage(client: openai.OpenAI, base: str) -> None:
    body = {"model": "smol", "messages": HELLO, "max_tokens": 12, "temperature": 0}
    whole = client.chat.completions.create(**body)
    r = httpx.post(base + "/v1/chat/completions", json=dict(body, stream=True, stream_options={"include_usage": True}),
                   timeout=120)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r.text)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    *content_chunks, usage_chunk = chunks
    assert usage_chunk["choices"] == [] and usage_chunk["usage"] == whole.usage.model_dump(exclude_none=True)
    assert all(c["usage"] is None for c in content_chunks)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in content_chunks)
    assert text == whole.choices[0].message.content
    assert content_chunks[-1]["choices"][0]["finish_reason"] == whole.choices[0].finish_reason
    # without include_usage: no usage chunk and no usage key
    r = httpx.post(base + "/v1/chat/completions", json=dict(body, stream=True), timeout=120)
    chunks = [json.loads(e) for e in sse_events(r.text)[:-1]]
    assert all(c["choices"] and "usage" not in c for c in chunks)


def test_async_sdk_streams(base: str) -> None:
    async def main() -> tuple[str, str]:
        aclient = openai.AsyncOpenAI(base_url=base + "/v1", api_key="unused", max_retries=0)
        chat = await aclient.chat.completions.create(model="smol", messages=HELLO, max_tokens=8, temperature=0,
                                                     stream=True)
        chat_text = "".join([c.choices[0].delta.content or "" async for c in chat])
        comp = await aclient.completions.create(model="smol", prompt="The capital of France is", max_tokens=4,
                                                temperature=0, stream=True)
        comp_text = "".join([c.choices[0].text async for c in comp])
        await aclient.close()
        return chat_text, comp_text

    chat_text, comp_text = asyncio.run(main())
    assert "Paris" in chat_text and comp_text.strip()


def test_n_and_best_of(client: openai.OpenAI, base: str) -> None:
    r = client.completions.create(model="smol", prompt="Once upon a time", max_tokens=6, n=3, temperature=1.0,
                                  seed=7)
    assert sorted(c.index for c in r.choices) == [0, 1, 2]
    assert len({c.text for c in r.choices}) > 1  # three samples, not three copies
    r = client.completions.create(model="smol", prompt="Once upon a time", max_tokens=6, n=1, best_of=3,
                                  temperature=1.0, seed=7)
    assert len(r.choices) == 1 and r.choices[0].index == 0 and r.choices[0].logprobs is None
    c = client.chat.completions.create(model="smol", messages=HELLO, max_tokens=6, n=2, temperature=1.0, seed=3)
    assert sorted(ch.index for ch in c.choices) == [0, 1]
    stream = client.chat.completions.create(model="smol", messages=HELLO, max_tokens=6, n=2, temperature=1.0,
                                            seed=3, stream=True)
    finished = {ch.index for chunk in stream for ch in chunk.choices if ch.finish_reason}
    assert finished == {0, 1}
    r = httpx.post(base + "/v1/completions", json={"prompt": ["One", "Two"], "max_tokens": 3, "temperature": 0})
    assert [c["index"] for c in r.json()["choices"]] == [0, 1]


def test_max_completion_tokens_and_seed(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(model="smol", messages=[{"role": "user", "content": "Write a long story."}],
                                       max_completion_tokens=5, temperature=0)
    assert r.usage.completion_tokens == 5 and r.choices[0].finish_reason == "length"
    runs = [client.chat.completions.create(model="smol", messages=HELLO, max_tokens=10, temperature=1.5,
                                           seed=1234).choices[0].message.content for _ in range(2)]
    assert runs[0] == runs[1]


def test_response_format_json_schema(client: openai.OpenAI) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
              "required": ["city", "population"], "additionalProperties": False}
    r = client.chat.completions.create(
        model="smol", messages=[{"role": "user", "content": "Give the largest city of France as JSON."}],
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": schema, "strict": True}},
        max_tokens=60, temperature=0,
    )
    jsonschema.validate(json.loads(r.choices[0].message.content), schema)


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def test_tool_calls_streamed_with_index(client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    stream = client.chat.completions.create(
        model="smol", messages=messages, tools=[WEATHER], max_tokens=40, temperature=0, stream=True,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    deltas = [tc for chunk in stream for ch in chunk.choices for tc in (ch.delta.tool_calls or [])]
    assert deltas and all(d.index == 0 for d in deltas)
    assert deltas[0].id and deltas[0].type == "function" and deltas[0].function.name == "get_weather"
    arguments = json.loads("".join(d.function.arguments or "" for d in deltas))
    jsonschema.validate(arguments, WEATHER["function"]["parameters"])
    stream = client.chat.completions.create(model="smol", messages=messages, tools=[WEATHER], tool_choice="required",
                                            max_tokens=40, temperature=0, stream=True)
    deltas = [tc for chunk in stream for ch in chunk.choices for tc in (ch.delta.tool_calls or [])]
    assert deltas and all(d.index == 0 for d in deltas) and deltas[0].function.name == "get_weather"
    stream = client.chat.completions.create(model="smol", messages=messages, tools=[WEATHER], tool_choice="auto",
                                            max_tokens=20, temperature=0, stream=True)  # #1883: not an error
    finishes = [ch.finish_reason for chunk in stream for ch in chunk.choices if ch.finish_reason]
    assert finishes and finishes[-1] in ("stop", "length", "tool_calls")


def test_chat_logprobs(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(model="smol", messages=HELLO, max_tokens=4, temperature=0, logprobs=True,
                                       top_logprobs=2)
    content = r.choices[0].logprobs.content
    assert len(content) >= 1 and all(len(t.top_logprobs) == 2 and t.logprob <= 0 for t in content)


def test_server_extras(base: str, client: openai.OpenAI) -> None:
    r = httpx.post(base + "/v1/completions", json={"prompt": "Is the sky blue? Answer:", "max_tokens": 4,
                                                   "grammar": 'root ::= " yes" | " no"', "temperature": 0})
    assert r.json()["choices"][0]["text"] in (" yes", " no")
    r = httpx.post(base + "/v1/completions", json={"prompt": "Is the sky blue? Answer:", "max_tokens": 4,
                                                   "grammar": "root ::= ("})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    # logit_bias_type=tokens: keys are text, mapped to their tokens
    r = httpx.post(base + "/v1/completions", json={"prompt": "The capital of France is", "max_tokens": 1,
                                                   "temperature": 0, "logit_bias": {" London": 100},
                                                   "logit_bias_type": "tokens"})
    assert r.json()["choices"][0]["text"] == " London"
    r = httpx.post(base + "/v1/completions", json={"prompt": "Hi", "logit_bias": {"abc": 1}})
    assert r.status_code == 400 and r.json()["error"]["param"] == "logit_bias"
    # min_tokens: the end of sequence waits
    r = client.chat.completions.create(model="smol", messages=[{"role": "user", "content": "Say OK."}],
                                       max_tokens=30, temperature=0, extra_body={"min_tokens": 25})
    assert r.usage.completion_tokens >= 25
    r = client.chat.completions.create(model="smol", messages=HELLO, max_tokens=4, temperature=0,
                                       extra_body={"chat_template_kwargs": {"enable_thinking": False},
                                                   "top_k": 1, "repeat_penalty": 1.0, "mirostat_mode": 0})
    assert r.choices[0].message.content


def test_tokenize_routes(base: str) -> None:
    tokens = httpx.post(base + "/extras/tokenize", json={"input": "Hello world"}).json()["tokens"]
    assert tokens and all(isinstance(t, int) for t in tokens)
    assert httpx.post(base + "/extras/tokenize/count", json={"input": "Hello world"}).json() == {"count": len(tokens)}
    assert httpx.post(base + "/extras/detokenize", json={"tokens": tokens}).json()["text"].endswith("Hello world")
    r = httpx.post(base + "/extras/detokenize", json={"tokens": [10**9]})
    assert r.status_code == 400 and r.json()["error"]["param"] == "tokens"
    assert httpx.post(base + "/extras/tokenize", json={"input": "x", "model": "nope"}).status_code == 404


def test_embeddings(client: openai.OpenAI, base: str) -> None:
    r = client.embeddings.create(model="embed", input=["first text", "second text"])  # the SDK asks for base64
    assert [d.index for d in r.data] == [0, 1] and all(len(d.embedding) == N_EMBD for d in r.data)
    raw = httpx.post(base + "/v1/embeddings", json={"model": "embed", "input": "first text"}).json()
    assert raw["data"][0]["embedding"] == pytest.approx(r.data[0].embedding, abs=1e-6)
    assert raw["usage"]["prompt_tokens"] > 0
    with pytest.raises(openai.BadRequestError) as err:
        client.embeddings.create(model="smol", input="x")
    assert err.value.body["code"] == "embeddings_not_enabled"


def test_ping_comments(model_path: str) -> None:
    body = {"prompt": "word " * 100, "max_tokens": 2, "stream": True}  # the prompt takes a while: pings meanwhile
    with serve([model(model_path, "smol")], ping_interval=0.01) as url:
        raw = httpx.post(url + "/v1/completions", json=body, timeout=120).text
    assert ": ping - " in raw and sse_events(raw)[-1] == "[DONE]"
    with serve([model(model_path, "smol")], ping_interval=0.01, disable_ping_events=True) as url:
        raw = httpx.post(url + "/v1/completions", json=body, timeout=120).text
    assert ": ping" not in raw and sse_events(raw)[-1] == "[DONE]"


def test_failure_mid_stream_is_an_error_event(model_path: str) -> None:
    body = {"model": "smol", "prompt": "Once upon a time", "max_tokens": 1500, "stream": True, "temperature": 0,
            "logit_bias": {"2": -100}}
    with serve([model(model_path, "smol")]) as url:
        served = APPS[url].state.llama.manager.models["smol"]
        raw = ""
        with httpx.stream("POST", url + "/v1/completions", json=body, timeout=60) as response:
            chunks = response.iter_text()
            raw += next(chunks)
            served.llama.close()  # the model goes away under the stream
            raw += "".join(chunks)
        events = sse_events(raw)
        assert events[-1] == "[DONE]"
        assert json.loads(events[-2])["error"]["message"] == "this Llama is closed; create a new one"
        # the SDK raises it
        served.unload()
        sdk = openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0)
        stream = sdk.completions.create(**{k: v for k, v in body.items() if k != "stream"}, stream=True)
        with pytest.raises(openai.APIError):
            for i, _ in enumerate(stream):
                if i == 0:
                    served.llama.close()


# ---------------------------------------------------------------- errors
def test_bad_requests_are_400_envelopes(base: str, client: openai.OpenAI) -> None:
    chat_400 = 'llama_cpp_server_http_requests_total{route="/v1/chat/completions",status="400"}'
    before = metric(base, chat_400, default=0.0)
    for payload in (
        {"messages": HELLO, "temperature": 99},
        {"messages": "not a list"},
        {"messages": HELLO, "max_tokens": -1},
        {"messages": [{"role": "nobody", "content": "x"}]},
    ):
        r = httpx.post(base + "/v1/chat/completions", json=payload)
        assert r.status_code == 400, (payload, r.text)
        error = r.json()["error"]
        assert set(error) == {"message", "type", "param", "code"} and error["type"] == "invalid_request_error"
    r = httpx.post(base + "/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "JSON" in r.json()["error"]["message"]
    r = httpx.post(base + "/v1/embeddings", json={"model": "embed"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "input"
    r = httpx.get(base + "/v1/nothing-here")
    assert r.status_code == 404 and "error" in r.json()
    # the SDK does not retry a 400: exactly one more request reached the server
    with pytest.raises(openai.BadRequestError):
        openai.OpenAI(base_url=base + "/v1", api_key="x", max_retries=2).chat.completions.create(
            model="smol", messages=HELLO, temperature=99)
    assert metric(base, chat_400) == before + 6


def test_context_overflow_message(client: openai.OpenAI) -> None:
    long_text = "hello " * 2100
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="smol", messages=[{"role": "user", "content": long_text}], max_tokens=10)
    body = err.value.body
    assert body["code"] == "context_length_exceeded" and body["param"] == "messages"
    assert body["message"].startswith("This model's maximum context length is 2048 tokens. However, you requested ")
    assert "in the messages, 10 in the completion" in body["message"]
    with pytest.raises(openai.BadRequestError) as err:
        client.completions.create(model="smol", prompt=long_text, max_tokens=10)
    assert err.value.body["code"] == "context_length_exceeded"
    assert "in your prompt; 10 for the completion" in err.value.body["message"]


def test_local_files_refused_and_body_limit(base: str) -> None:
    for url in ("file:///etc/passwd", "/etc/passwd"):
        messages = [{"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                                 {"type": "image_url", "image_url": {"url": url}}]}]
        r = httpx.post(base + "/v1/chat/completions", json={"messages": messages, "max_tokens": 2})
        assert r.status_code == 400 and "local files" in r.json()["error"]["message"]
    r = httpx.post(base + "/v1/completions", json={"prompt": "x" * (2 << 20)})
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"


def test_max_tokens_clamped_to_context(model_path: str) -> None:
    with serve([model(model_path, "small", n_ctx=256)]) as url:
        r = httpx.post(url + "/v1/completions", json={"prompt": "Once upon a time", "max_tokens": 10**9,
                                                      "temperature": 0, "logit_bias": {"2": -100}}, timeout=120)
    assert r.status_code == 200, r.text
    usage = r.json()["usage"]
    assert r.json()["choices"][0]["finish_reason"] == "length"
    assert 200 < usage["total_tokens"] <= 256  # it ran until the context was full, not into an error


# ---------------------------------------------------------------- auth
def test_api_keys(model_path: str, tmp_path: Any) -> None:
    key_file = tmp_path / "keys.txt"
    key_file.write_text("# one key per line\nfile-key\n")
    with serve([model(model_path, "smol")], api_key=["key-one", "key-two"], api_key_file=str(key_file)) as url:
        assert httpx.get(url + "/health").status_code == 200  # no key needed
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic key-one"}):
            r = httpx.get(url + "/v1/models", headers=headers)
            assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
        for key in ("key-one", "key-two", "file-key"):
            assert httpx.get(url + "/v1/models", headers={"Authorization": f"Bearer {key}"}).status_code == 200
        assert httpx.get(url + "/v1/models", headers={"x-api-key": "key-two"}).status_code == 200
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=url + "/v1", api_key="wrong", max_retries=0).models.list()
        sdk = openai.OpenAI(base_url=url + "/v1", api_key="key-one", max_retries=0)
        assert sdk.chat.completions.create(model="smol", messages=HELLO, max_tokens=2).choices


# ---------------------------------------------------------------- concurrency
# greedy replies whose top two tokens stay >= 0.5 nats apart for 8 tokens (no near-ties for batching to flip)
PROMPTS = [
    "What is the speed of light?",
    "What is the chemical symbol for gold?",
    "What is the square root of 16?",
    "What is the capital of Germany?",
    "What gas do plants absorb?",
    "What is the boiling point of water?",
    "What is the main language of Brazil?",
    "What animal says moo?",
]


def test_concurrent_streaming_chats_agree_with_sequential(base: str) -> None:
    def request(prompt: str) -> Dict[str, Any]:
        return dict(model="smol", messages=[{"role": "user", "content": prompt}], max_tokens=8, temperature=0)

    sync = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0)
    sequential = [sync.chat.completions.create(**request(p)).choices[0].message.content for p in PROMPTS]

    async def one(aclient: openai.AsyncOpenAI, prompt: str) -> tuple[str, Optional[str]]:
        stream = await aclient.chat.completions.create(**request(prompt), stream=True)
        text, finish = "", None
        async for chunk in stream:
            for choice in chunk.choices:
                text += choice.delta.content or ""
                finish = choice.finish_reason or finish
        return text, finish

    async def main() -> List[tuple[str, Optional[str]]]:
        aclient = openai.AsyncOpenAI(base_url=base + "/v1", api_key="unused", max_retries=0, timeout=300)
        try:
            return await asyncio.gather(*(one(aclient, p) for p in PROMPTS))
        finally:
            await aclient.close()

    results = asyncio.run(main())
    assert all(finish in ("stop", "length") for _, finish in results)
    assert [text for text, _ in results] == sequential
    assert metric(base, "llamacpp:requests_processing") == 0 and metric(base, "llamacpp:requests_deferred") == 0


def _long_stream(url: str, client: httpx.Client) -> tuple[httpx.Response, Iterator[str]]:
    """Start a completion that would run for hundreds of tokens (end of sequence banned).

    Returns the open response and its line iterator (closing either disconnects)."""
    eos = 2  # SmolLM2's <|im_end|>/</s>
    request = client.build_request("POST", url + "/v1/completions", json={
        "prompt": "Once upon a time", "max_tokens": 1500, "stream": True, "temperature": 0,
        "logit_bias": {str(eos): -100}})
    response = client.send(request, stream=True)
    assert response.status_code == 200
    lines = response.iter_lines()
    assert next(line for line in lines if line.startswith("data: ")).startswith("data: {")  # it is generating
    return response, lines


def test_overload_and_disconnects(model_path: str) -> None:
    with serve([model(model_path, "smol", n_parallel=1)], max_queue=1, retry_after=2) as url, \
            httpx.Client(timeout=60) as streamer:
        busy, busy_lines = _long_stream(url, streamer)
        queued: Dict[str, Any] = {}

        def wait_in_queue() -> None:
            started = time.monotonic()
            r = httpx.post(url + "/v1/completions", json={"prompt": "Hello", "max_tokens": 3}, timeout=120)
            queued.update(status=r.status_code, seconds=time.monotonic() - started)

        waiter = threading.Thread(target=wait_in_queue)
        waiter.start()
        deadline = time.monotonic() + 30
        while metric(url, "llamacpp:requests_deferred") < 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        # running 1 + waiting 1 = full: the next request is refused at once, in the envelope, with Retry-After
        r = httpx.post(url + "/v1/chat/completions", json={"messages": HELLO, "max_tokens": 2})
        assert r.status_code == 429 and r.headers["retry-after"] == "2"
        assert r.json()["error"]["type"] == "rate_limit_error"
        with pytest.raises(openai.RateLimitError):
            openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0).completions.create(
                model="smol", prompt="x", max_tokens=1)
        # the streaming client disconnects: its sequence ends and the queued request runs promptly
        busy.close()
        waiter.join(60)
        assert queued["status"] == 200
        deadline = time.monotonic() + 10
        while metric(url, "llamacpp:requests_processing") or metric(url, "llamacpp:requests_deferred"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        # a waiting request whose client disconnects is removed from the queue
        busy, busy_lines = _long_stream(url, streamer)
        with httpx.Client(timeout=0.5) as impatient:
            with pytest.raises(httpx.ReadTimeout):
                impatient.post(url + "/v1/completions", json={"prompt": "x", "max_tokens": 1})
        deadline = time.monotonic() + 10
        while metric(url, "llamacpp:requests_deferred"):
            assert time.monotonic() < deadline, "the disconnected waiter stayed queued"
            time.sleep(0.05)
        busy.close()
        r = httpx.post(url + "/v1/completions", json={"prompt": "Hello", "max_tokens": 3}, timeout=60)
        assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] == 3
        text = httpx.get(url + "/metrics").text
        assert 'llama_cpp_server_http_requests_total{route="/v1/completions",status="429"}' in text


# ---------------------------------------------------------------- several models
def test_config_file_two_models_lru(model_path: str, tmp_path: Any) -> None:
    config = {
        "max_loaded_models": 1,
        "models": [
            {"model": model_path, "model_alias": "first", "n_ctx": 512, "n_threads": 1, "n_threads_batch": 1,
             "verbose": False},
            {"model": model_path, "model_alias": "second", "n_ctx": 512, "n_threads": 1, "n_threads_batch": 1,
             "verbose": False, "chat_template_kwargs": {"custom_flag": True}},
        ],
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    loaded = load_config_file(str(path))
    server = {k: v for k, v in loaded.model_dump().items() if k != "models"}
    with serve(loaded.models, **server) as url:
        sdk = openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0)
        assert [m.id for m in sdk.models.list().data] == ["first", "second"]

        def loaded_models() -> Dict[str, float]:
            return {alias: metric(url, f'llama_cpp_server_model_loaded{{model="{alias}"}}')
                    for alias in ("first", "second")}

        assert loaded_models() == {"first": 1, "second": 0}
        r = sdk.chat.completions.create(model="second", messages=HELLO, max_tokens=3, temperature=0)
        assert r.model == "second" and loaded_models() == {"first": 0, "second": 1}
        r = sdk.completions.create(model="first", prompt="Hello", max_tokens=3, temperature=0)
        assert r.model == "first" and loaded_models() == {"first": 1, "second": 0}
        with pytest.raises(openai.NotFoundError):
            sdk.completions.create(model="third", prompt="Hello", max_tokens=3)


def test_llama_proxy_compat(model_path: str) -> None:
    from llama_cpp.server.model import LlamaProxy

    proxy = LlamaProxy([model(model_path, "a"), model(model_path, "b")])
    first = proxy("a")
    assert list(proxy) == ["a", "b"] and proxy["b"]["model_alias"] == "b"
    second = proxy("b")  # the reference keeps one model: switching closes the other
    assert first.ctx is None and second.ctx is not None
    assert proxy("unknown") is not second and proxy.__call__().n_ctx() == 2048  # unknown or None: the first model
    proxy.free()
