"""The complete layer of the single-sequence path: tokens -> completion text and dicts.

``Llama.create_completion`` with one prompt (and ``n_seq_max=1``, or a prompt
the batch cannot take: images, a draft model, ``logits_all``, the prompt
cache) runs here, on the default sequence, holding the ``Llama`` for the whole
completion or stream. Everything batched runs through
`BatchedCompletion` instead.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any, Dict, Generator, List, Optional

from . import _generate
from . import llama_cpp as C
from ._completion import TextAssembler, top_logprobs_entry
from ._media import MediaPrompt
from ._prompt import check_prompt, non_empty, prompt_tokens
from ._sampling import SamplingParams, as_logits_view
from ._state import cached_state

if TYPE_CHECKING:
    from ._logits import LogitsProcessorList, StoppingCriteriaList
    from .llama import Llama

__all__ = ["completion_events"]


def _logprobs_row(llama: Llama, idx: int) -> Any:
    engine = llama._open_engine()
    return llama.logits_to_logprobs(as_logits_view(C.llama_get_logits_ith(engine.handle(), idx), engine.n_vocab))


def _token_logprobs(llama: Llama, token: int, n: int, offset: int) -> Dict[str, Any]:
    """Logprobs of a just-sampled token (its logits row is still the context's last output)."""
    piece_text = llama._open_engine().piece_text
    value, top = top_logprobs_entry(_logprobs_row(llama, -1), token, n, piece_text)
    return {"tokens": [piece_text(token)], "text_offset": [offset], "token_logprobs": [value], "top_logprobs": [top]}


def _echo_logprobs(llama: Llama, tokens_in: List[int], n: int, out: Dict[str, List[Any]]) -> None:
    """Logprobs of the prompt itself (needs every position's logits: ``logits_all=True``)."""
    engine, seq = llama._open_engine(), llama._seq
    assert engine.model is not None
    engine.reset_default()
    _generate.evaluate(engine, seq, tokens_in)
    bos = engine.model.token_bos()
    rows = llama.logits_to_logprobs(seq.scores[: len(tokens_in)])
    offset = 0
    for i, tok in enumerate(tokens_in):
        if i == 0 and tok == bos:
            continue
        piece = engine.piece_text(tok)
        out["tokens"].append(piece)
        out["text_offset"].append(offset)
        offset += len(piece)
        if i == 0:
            out["token_logprobs"].append(None)
            out["top_logprobs"].append(None)
        else:
            v, t = top_logprobs_entry(rows[i - 1], tok, n, engine.piece_text)
            out["token_logprobs"].append(v)
            out["top_logprobs"].append(t)


def completion_events(
    llama: Llama,
    prompt: Any,
    suffix: Optional[str],
    max_tokens: Optional[int],
    params: SamplingParams,
    logprobs: Optional[int],
    echo: bool,
    stop: List[bytes],
    stream: bool,
    seed: Optional[int],
    model: Optional[str],
    stopping_criteria: Optional[StoppingCriteriaList],
    logits_processor: Optional[LogitsProcessorList],
) -> Generator[Dict[str, Any], None, None]:
    """The completion as a series of chunk dicts (the last one carries ``finish_reason`` and ``usage``)."""
    engine, seq = llama._open_engine(), llama._seq
    with engine.busy(exclusive=llama.cache is not None):
        engine.require_open()
        model_obj = engine.model
        assert model_obj is not None
        completion_id = f"cmpl-{uuid.uuid4()}"
        created = int(time.time())
        model_name = model if model is not None else llama.model_path
        if echo and not isinstance(prompt, str):
            raise TypeError("echo needs a str prompt (the prompt text is echoed)")
        if logprobs is not None:
            if isinstance(logprobs, bool) or not isinstance(logprobs, int) or logprobs < 0:
                raise ValueError(f"logprobs must be a non-negative int, not {logprobs!r}")
            if echo and not seq.logits_all:
                raise ValueError("logprobs is not supported for models created with logits_all=False")
        media = isinstance(prompt, MediaPrompt)
        if media:  # images: evaluated here, under the lock, so nothing can come between that and sampling
            if suffix is not None:
                raise ValueError("suffix cannot be combined with a prompt that has images")
            tokens = prompt.evaluate(llama)
        else:
            tokens = non_empty(model_obj, prompt_tokens(model_obj, llama._tokenize_raw, engine.n_vocab, prompt, suffix,
                                                        llama.spm_infill))
            check_prompt(model_obj, engine.n_ctx, tokens)
        room = engine.n_ctx - len(tokens)
        if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int)):
            raise TypeError(f"max_tokens must be an int or None, not {type(max_tokens).__name__}")
        limit = room if max_tokens is None or max_tokens <= 0 else min(max_tokens, room)
        llama._next_seed(seed)
        params.seed = llama._seed

        if llama.cache is not None and not media:  # cache keys are tokens: image positions have none
            state = cached_state(llama.cache, seq, tokens)
            if state is not None:
                # through the public method, once per hit: code that wraps or overrides load_state sees restores
                llama._restoring_from_cache = True
                try:
                    llama.load_state(state)
                finally:
                    llama._restoring_from_cache = False

        assembler = TextAssembler(stop)
        completion: List[int] = []
        lp: Dict[str, List[Any]] = {"text_offset": [], "token_logprobs": [], "tokens": [], "top_logprobs": []}
        prompt_text = prompt if isinstance(prompt, str) else ""
        text_offset = 0 if echo else len(prompt_text)

        def chunk(text: str, entry: Optional[Dict[str, Any]], finish: Optional[str]) -> Dict[str, Any]:
            return {"id": completion_id, "object": "text_completion", "created": created, "model": model_name,
                    "choices": [{"text": text, "index": 0, "logprobs": entry, "finish_reason": finish}]}

        if echo and logprobs is not None:
            _echo_logprobs(llama, tokens, logprobs, lp)
            text_offset = sum(len(t) for t in lp["tokens"])
        if echo and stream:
            yield chunk(prompt_text, None, None)

        finish = "length"
        gen = _generate.generate(engine, seq, tokens, params, True, logits_processor, stopping_criteria,
                                 llama.draft_model, prepared=media)
        is_eog, piece_of = engine.is_eog, engine.piece
        try:
            if limit > 0:
                for token in gen:
                    if is_eog(token):
                        finish = "stop"
                        break
                    completion.append(token)
                    hit = assembler.feed(piece_of(token))
                    entry = None
                    if logprobs is not None:
                        entry = _token_logprobs(llama, token, logprobs, text_offset)
                        text_offset += len(entry["tokens"][0])
                        for key in lp:
                            lp[key] += entry[key]
                    if hit:
                        finish = "stop"
                        break
                    if stream:
                        text = assembler.release()
                        if text or entry is not None:
                            yield chunk(text, entry, None)
                    if len(completion) >= limit:
                        break
                else:
                    finish = "stop"  # a stopping criterion ended generation
        finally:
            gen.close()
        if llama.cache is not None and not media:
            llama.cache[tokens + completion] = llama._save_state_locked()
        usage = {
            "prompt_tokens": len(tokens),
            "completion_tokens": len(completion),
            "total_tokens": len(tokens) + len(completion),
        }
        if stream:
            rest = assembler.release(final=True)
            if rest:
                yield chunk(rest, None, None)
            final = chunk("", None, finish)
        else:
            text = (prompt_text if echo else "") + assembler.text()
            final = chunk(text, lp if logprobs is not None else None, finish)
        final["usage"] = usage
        yield final
