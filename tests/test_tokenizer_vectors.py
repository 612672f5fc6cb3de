"""llama.cpp's own tokenizer test vectors (vendor/llama.cpp/models/ggml-vocab-*.gguf.inp/.out).

Each input is tokenized without special-token parsing and without BOS, as
llama.cpp's test-tokenizer-0 does, and must give exactly the ids in .out.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import llama_cpp.llama_cpp as C
from conftest import VENDOR

SEP = "\n__ggml_vocab_test__\n"
VOCABS = sorted(p for p in (VENDOR / "models").glob("ggml-vocab-*.gguf") if Path(f"{p}.inp").exists())


def load_cases(vocab: Path) -> list[tuple[str, list[int]]]:
    raw = Path(f"{vocab}.inp").read_text(encoding="utf-8")
    inputs = []
    pos = 0
    while pos < len(raw):
        nxt = raw.find(SEP, pos)
        if nxt == -1:
            inputs.append(raw[pos:])
            break
        inputs.append(raw[pos:nxt])
        pos = nxt + len(SEP)
    outputs = Path(f"{vocab}.out").read_text(encoding="utf-8").split("\n")
    if outputs and outputs[-1] == "":
        outputs.pop()
    assert len(inputs) == len(outputs), vocab.name
    return [(s, [int(t) for t in o.split()]) for s, o in zip(inputs, outputs)]


def test_vectors_are_present() -> None:
    assert len(VOCABS) >= 15


@pytest.mark.parametrize("vocab", VOCABS, ids=lambda p: p.name.removeprefix("ggml-vocab-").removesuffix(".gguf"))
def test_tokenizer_matches_llama_cpp_vectors(vocab: Path) -> None:
    params = C.llama_model_default_params()
    params.vocab_only = True
    model = C.llama_model_load_from_file(str(vocab).encode(), params)
    assert model, f"could not load {vocab.name}"
    try:
        v = C.llama_model_get_vocab(model)
        cases = load_cases(vocab)
        assert cases
        failures = []
        for text, expected in cases:
            data = text.encode("utf-8")
            cap = len(data) * 2 + 8
            buf = (C.llama_token * cap)()
            n = C.llama_tokenize(v, data, len(data), buf, cap, False, False)
            assert n >= 0
            if list(buf[:n]) != expected:
                failures.append((text, expected, list(buf[:n])))
        assert not failures, f"{len(failures)}/{len(cases)} mismatches, first: {failures[0]}"
    finally:
        C.llama_model_free(model)
