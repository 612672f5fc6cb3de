"""``python -m llama_cpp.server`` as a user runs it: a fresh process, flags, environment, config file, signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import httpx
import openai
import pytest
from test_server import HELLO, free_port, sse_events


def start(args: List[str], env: Optional[Dict[str, str]] = None, cwd: Optional[str] = None) -> subprocess.Popen:
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.Popen([sys.executable, "-m", "llama_cpp.server", *args], env=full_env, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_healthy(proc: subprocess.Popen, base: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited with {proc.returncode}:\n{proc.stdout.read()}")
        try:
            if httpx.get(base + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("the server did not become healthy")


@pytest.fixture
def stop_all() -> Iterator[List[subprocess.Popen]]:
    procs: List[subprocess.Popen] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


THREADS = ["--n_threads", "1", "--n_threads_batch", "1", "--verbose", "false"]


def test_command_line_and_environment(model_path: str, stop_all: List[subprocess.Popen]) -> None:
    port = free_port()
    proc = start(["--model_alias", "cli-model", "--api_key", "k1", "--api_key", "k2", "--interrupt_requests",
                  "false", "--chat_template_kwargs", '{"enable_thinking": false}', "--n_ctx", "1024", *THREADS],
                 env={"MODEL": model_path, "PORT": str(port), "HOST": "127.0.0.1", "N_PARALLEL": "2"})
    stop_all.append(proc)
    base = f"http://127.0.0.1:{port}"
    wait_healthy(proc, base)
    for key in ("k1", "k2"):
        sdk = openai.OpenAI(base_url=base + "/v1", api_key=key, max_retries=0)
        assert [m.id for m in sdk.models.list().data] == ["cli-model"]
    r = sdk.chat.completions.create(model="cli-model", messages=HELLO, max_tokens=4, temperature=0)
    assert r.choices[0].message.content
    metrics = httpx.get(base + "/metrics", headers={"Authorization": "Bearer k1"}).text
    assert 'llama_cpp_server_n_parallel{model="cli-model"} 2' in metrics  # N_PARALLEL from the environment
    assert "llamacpp:prompt_tokens_total" in metrics
    proc.send_signal(signal.SIGINT)
    assert proc.wait(30) in (0, -signal.SIGINT)  # uvicorn re-raises the signal once it has shut down
    log = proc.stdout.read()
    assert "/v1/chat/completions" in log and "200" in log  # the access log line, with its request id


def test_uvicorn_factory_from_environment(model_path: str, stop_all: List[subprocess.Popen]) -> None:
    port = free_port()
    env = dict(os.environ, MODEL=model_path, MODEL_ALIAS="from-env", N_THREADS="1", N_THREADS_BATCH="1",
               VERBOSE="false", API_KEY="env-key", MAX_QUEUE="3")
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "llama_cpp.server.app:create_app",
                             "--host", "127.0.0.1", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    stop_all.append(proc)
    base = f"http://127.0.0.1:{port}"
    wait_healthy(proc, base)
    assert httpx.get(base + "/v1/models").status_code == 401
    sdk = openai.OpenAI(base_url=base + "/v1", api_key="env-key", max_retries=0)
    assert [m.id for m in sdk.models.list().data] == ["from-env"]
    assert sdk.completions.create(model="from-env", prompt="Hi", max_tokens=2).usage.completion_tokens == 2


def test_yaml_config_file(model_path: str, tmp_path: Path, stop_all: List[subprocess.Popen]) -> None:
    port = free_port()
    config = tmp_path / "server.yaml"
    config.write_text(
        f"host: 127.0.0.1\nport: {port}\nmodels:\n"
        f"  - model: {json.dumps(model_path)}\n    model_alias: alpha\n    n_threads: 1\n    n_threads_batch: 1\n"
        f"    verbose: false\n"
        f"  - model: {json.dumps(model_path)}\n    model_alias: beta\n    n_threads: 1\n    n_threads_batch: 1\n"
        f"    verbose: false\n    embedding: true\n    pooling_type: 1\n"
    )
    proc = start([], env={"CONFIG_FILE": str(config)})
    stop_all.append(proc)
    base = f"http://127.0.0.1:{port}"
    wait_healthy(proc, base)
    sdk = openai.OpenAI(base_url=base + "/v1", api_key="x", max_retries=0)
    assert [m.id for m in sdk.models.list().data] == ["alpha", "beta"]
    assert sdk.completions.create(model="alpha", prompt="Hello", max_tokens=2).model == "alpha"
    assert len(sdk.embeddings.create(model="beta", input="Hello").data[0].embedding) == 576
    proc.terminate()
    assert proc.wait(30) in (0, -signal.SIGTERM)


def test_sigterm_during_a_stream(model_path: str, stop_all: List[subprocess.Popen]) -> None:
    port = free_port()
    proc = start(["--model", model_path, "--host", "127.0.0.1", "--port", str(port), "--shutdown_timeout", "1",
                  *THREADS])
    stop_all.append(proc)
    base = f"http://127.0.0.1:{port}"
    wait_healthy(proc, base)
    body = {"prompt": "Once upon a time", "max_tokens": 1800, "stream": True, "temperature": 0,
            "logit_bias": {"2": -100}}
    raw = ""
    plain: Dict[str, httpx.Response] = {}  # a non-streamed request running at the same time
    waiter = threading.Thread(target=lambda: plain.update(
        r=httpx.post(base + "/v1/completions", json=dict(body, stream=False), timeout=60)))
    with httpx.stream("POST", base + "/v1/completions", json=body, timeout=60) as response:
        chunks = response.iter_text()
        raw += next(chunks)
        waiter.start()
        time.sleep(0.5)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        for text in chunks:
            raw += text
    ended = time.monotonic() - started
    waiter.join(30)
    assert plain["r"].status_code == 503 and plain["r"].json()["error"]["code"] == "server_shutting_down"
    events = sse_events(raw)
    assert events[-1] == "[DONE]"
    last = json.loads(events[-2])
    # it had ~1800 tokens to go: the stream got its grace second, then an error event, then [DONE]
    assert last["error"]["code"] == "server_shutting_down", last
    assert len(events) > 3 and ended < 15
    assert proc.wait(30) in (0, -signal.SIGTERM)


def test_missing_extra_and_bad_flags(tmp_path: Path, model_path: str) -> None:
    (tmp_path / "fastapi.py").write_text("raise ImportError('blocked for this test', name='fastapi')\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    r = subprocess.run([sys.executable, "-m", "llama_cpp.server", "--model", model_path], capture_output=True,
                       text=True, env=env, timeout=60)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'llama-cpp[server]'" in lines[0]
    r = subprocess.run([sys.executable, "-m", "llama_cpp.server", "--n_ctx", "many"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 1 and "usage:" in r.stderr and "--n_ctx" in r.stderr
    r = subprocess.run([sys.executable, "-m", "llama_cpp.server", "--model", model_path, "--n_parallel", "0"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "n_parallel" in r.stderr
