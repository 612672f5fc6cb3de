"""Ask llama.cpp's own grammar engine whether it accepts a grammar, and a string under it.

Only the vocabulary of the test model is loaded. A string is checked by
tokenizing it and offering the grammar sampler one token at a time
(``llama_sampler_apply`` on a one-candidate array, then ``accept`` only if the
token survived), finishing with the end-of-generation token, which the
grammar allows only once the root rule is complete. Nothing is ever accepted
that the grammar rejected, so llama.cpp's abort on that path is never hit.
"""

from __future__ import annotations

import ctypes
import math
from typing import Optional

import llama_cpp.llama_cpp as C


class GrammarOracle:
    def __init__(self, model_path: str) -> None:
        C.llama_backend_init()
        params = C.llama_model_default_params()
        params.vocab_only = True
        self.model = C.llama_model_load_from_file(model_path.encode(), params)
        assert self.model, "could not load the test model's vocabulary"
        self.vocab = C.llama_model_get_vocab(self.model)
        self.eos = C.llama_vocab_eos(self.vocab)

    def close(self) -> None:
        if self.model:
            C.llama_model_free(self.model)
            self.model = None

    def sampler(self, grammar: str, root: str = "root"):
        """The native grammar sampler, or None when llama.cpp refuses the grammar."""
        smpl = C.llama_sampler_init_grammar(self.vocab, grammar.encode("utf-8"), root.encode())
        return smpl if smpl else None

    def compiles(self, grammar: str) -> bool:
        smpl = self.sampler(grammar)
        if smpl is None:
            return False
        C.llama_sampler_free(smpl)
        return True

    def tokenize(self, text: str) -> list:
        data = text.encode("utf-8")
        buf = (C.llama_token * (len(data) + 8))()
        n = C.llama_tokenize(self.vocab, data, len(data), buf, len(buf), False, False)
        assert n >= 0
        return list(buf[:n])

    def _allows(self, smpl, token: int) -> bool:
        item = C.llama_token_data()
        item.id = token
        item.logit = 0.0
        item.p = 0.0
        arr = C.llama_token_data_array()
        arr.data = ctypes.pointer(item)
        arr.size = 1
        arr.selected = -1
        arr.sorted = False
        C.llama_sampler_apply(smpl, ctypes.byref(arr))
        return not math.isinf(item.logit)

    def accepts(self, grammar: str, text: str, smpl=None, complete: bool = True) -> bool:
        """Whether ``text`` is a complete sentence of ``grammar`` (or, with ``complete=False``, a prefix of one)."""
        own = smpl is None
        if own:
            smpl = self.sampler(grammar)
            assert smpl is not None, "llama.cpp refused the grammar"
        try:
            for token in self.tokenize(text):
                if not self._allows(smpl, token):
                    return False
                C.llama_sampler_accept(smpl, token)
            return self._allows(smpl, self.eos) if complete else True
        finally:
            if own:
                C.llama_sampler_free(smpl)

    def accepts_many(self, grammar: str, texts) -> dict:
        """``accepts`` for many strings, reusing one sampler (reset between strings)."""
        smpl = self.sampler(grammar)
        assert smpl is not None, "llama.cpp refused the grammar"
        try:
            out = {}
            for text in texts:
                C.llama_sampler_reset(smpl)
                out[text] = self.accepts(grammar, text, smpl)
            return out
        finally:
            C.llama_sampler_free(smpl)


_ORACLE: Optional[GrammarOracle] = None


def get_oracle(model_path: str) -> GrammarOracle:
    global _ORACLE
    if _ORACLE is None:
        _ORACLE = GrammarOracle(model_path)
    return _ORACLE
