"""Turning a stream of tokens into completion text: stop strings, UTF-8, chunks.

`TextAssembler` receives the bytes of each generated token and decides
what text may be released: never the inside of an unfinished UTF-8 sequence,
never anything that might be the start of a stop string, never a stop string
itself. All work per token is proportional to the token and the longest stop
string, not to the text so far.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from ._numpy import np

if TYPE_CHECKING:
    import numpy.typing as npt


__all__ = ["TextAssembler", "BatchedCompletion", "log_softmax", "normalize_stop", "incomplete_utf8_tail", "top_logprobs_entry"]


def normalize_stop(stop: Optional[object]) -> List[bytes]:
    if stop is None:
        return []
    if isinstance(stop, str):
        stop = [stop]
    if not isinstance(stop, (list, tuple)):
        raise TypeError(f"stop must be a string or a list of strings, not {type(stop).__name__}")
    out = []
    for s in stop:
        if not isinstance(s, str):
            raise TypeError(f"stop strings must be str, not {type(s).__name__}")
        if s:
            out.append(s.encode("utf-8"))
    return out


def incomplete_utf8_tail(data: bytes | bytearray) -> int:
    """How many bytes at the end of ``data`` start a UTF-8 sequence that is not complete yet."""
    n = len(data)
    for back in range(1, min(4, n) + 1):
        b = data[n - back]
        if b & 0xC0 == 0x80:  # continuation byte: keep looking for the lead byte
            continue
        if b & 0xE0 == 0xC0:
            need = 2
        elif b & 0xF0 == 0xE0:
            need = 3
        elif b & 0xF8 == 0xF0:
            need = 4
        else:
            return 0  # ASCII or an invalid lead byte: nothing to wait for
        return back if back < need else 0
    return 0


class TextAssembler:
    """Accumulates completion bytes and releases text that is safe to show."""

    def __init__(self, stop: Sequence[bytes]):
        self.stop = list(stop)
        self.max_stop = max((len(s) for s in self.stop), default=0)
        self.data = bytearray()
        self.released = 0  # bytes already handed out
        self.stopped = False

    def feed(self, piece: bytes) -> bool:
        """Append a token's bytes; True when a stop string was reached (text cut before it)."""
        start = max(0, len(self.data) - self.max_stop + 1)
        self.data += piece
        if not self.stop:
            return False
        window = bytes(self.data[start:])
        best: Optional[int] = None
        for s in self.stop:  # the first stop string in list order that occurs wins
            i = window.find(s)
            if i != -1:
                best = start + i
                break
        if best is None:
            return False
        del self.data[best:]
        self.stopped = True
        return True

    def _holdback(self) -> int:
        hold = incomplete_utf8_tail(self.data)
        if self.stop and not self.stopped:
            tail = bytes(self.data[-(self.max_stop - 1):]) if self.max_stop > 1 else b""
            for s in self.stop:
                for k in range(min(len(s) - 1, len(tail)), 0, -1):
                    if tail.endswith(s[:k]):
                        hold = max(hold, k)
                        break
        return hold

    def release(self, final: bool = False) -> str:
        """Text that can be shown now (everything left, when ``final``)."""
        end = len(self.data) if final else len(self.data) - self._holdback()
        if end <= self.released:
            return ""
        chunk = bytes(self.data[self.released:end])
        self.released = end
        return chunk.decode("utf-8", errors="ignore")

    def text(self) -> str:
        return bytes(self.data).decode("utf-8", errors="ignore")


def log_softmax(logits: Any, axis: int = -1) -> npt.NDArray[np.single]:
    """Log-softmax of ``logits`` along ``axis``, numerically stable, in float32."""
    x = np.asarray(logits, dtype=np.single)
    top = np.amax(x, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0).astype(np.single)
    shifted = x - top
    with np.errstate(divide="ignore"):
        out = shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
    return out.astype(np.single, copy=False)


def top_logprobs_entry(
    logprobs_row: npt.NDArray[np.single], token: int, n: int, piece_of: Callable[[int], str]
) -> Tuple[float, Dict[str, float]]:
    """(logprob of ``token``, {piece: logprob} for the ``n`` most likely tokens plus ``token``)."""
    chosen = float(logprobs_row[token])
    top: Dict[str, float] = {}
    if n > 0:
        k = min(n, len(logprobs_row))
        ids = np.argpartition(logprobs_row, -k)[-k:]
        ids = ids[np.argsort(logprobs_row[ids])[::-1]]
        for i in ids:
            top[piece_of(int(i))] = float(logprobs_row[i])
    top[piece_of(token)] = chosen
    return chosen, top


class _Choice:
    """One choice of a batched completion while it is generated."""

    __slots__ = ("index", "uid", "prompt_text", "assembler", "n_tokens", "finish", "sum_logprob",
                 "lp_tokens", "lp_offsets", "lp_values", "lp_top", "offset")

    def __init__(self, index: int, prompt_text: str, stop: Sequence[bytes], echo: bool) -> None:
        self.index = index
        self.uid = -1
        self.prompt_text = prompt_text
        self.assembler = TextAssembler(stop)
        self.n_tokens = 0
        self.finish: Optional[str] = None
        self.sum_logprob = 0.0
        self.lp_tokens: List[str] = []
        self.lp_offsets: List[int] = []
        self.lp_values: List[Optional[float]] = []
        self.lp_top: List[Optional[Dict[str, float]]] = []
        self.offset = 0 if echo else len(prompt_text)

    @property
    def mean_logprob(self) -> float:
        return self.sum_logprob / self.n_tokens if self.n_tokens else float("-inf")

    def logprobs(self) -> Dict[str, Any]:
        return {"text_offset": self.lp_offsets, "token_logprobs": self.lp_values, "tokens": self.lp_tokens,
                "top_logprobs": self.lp_top}


class _Stream:
    """An iterator over a batched completion's chunks that cancels its requests when dropped unfinished."""

    def __init__(self, job: BatchedCompletion, chunks: Iterator[Dict[str, Any]]) -> None:
        self._job = job
        self._chunks = chunks

    def __iter__(self) -> _Stream:
        return self

    def __next__(self) -> Dict[str, Any]:
        return next(self._chunks)

    def close(self) -> None:
        """Stop generating; frees the sequences at once."""
        self._chunks.close()  # type: ignore[attr-defined]
        self._job.cancel()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


class BatchedCompletion:
    """Several choices (prompts x ``n``, or ``best_of`` candidates) generated together.

    The requests go to the ``Llama``'s `Scheduler`;
    this class turns their token events into the response dicts of the API we
    replace: per choice, the text (UTF-8 safe, cut at stop strings), logprobs
    and finish reason; chunks carry their choice's ``index``.

    Args:
        scheduler: Where the requests run.
        requests: One request per candidate, in choice order.
        prompt_texts: The text of each candidate's prompt (for ``echo`` and text offsets).
        n: Choices returned per prompt (``best_of`` candidates are ranked down to ``n``).
        best_of: Candidates generated per prompt.
        prompt_tokens: Prompt tokens counted in ``usage`` (each prompt once).
        piece: Token id -> its bytes.
        stop: Stop strings, as bytes.
        echo: Whether each choice starts with its prompt's text.
        header: ``id``, ``object``, ``created`` and ``model`` of every chunk.
    """

    def __init__(self, scheduler: Any, requests: Sequence[Any], prompt_texts: Sequence[str], n: int, best_of: int,
                 prompt_tokens: int, piece: Callable[[int], bytes], stop: Sequence[bytes], echo: bool,
                 header: Dict[str, Any]) -> None:
        self.scheduler = scheduler
        self.n = n
        self.best_of = best_of
        self.piece = piece
        self.echo = echo
        self.header = header
        self.prompt_tokens = prompt_tokens
        self.choices = [_Choice(i, text, stop, echo) for i, text in enumerate(prompt_texts)]
        live = [(c, r) for c, r in zip(self.choices, requests) if r.max_tokens > 0]
        for c, r in zip(self.choices, requests):
            if r.max_tokens <= 0:
                c.finish = "length"  # the prompt fills the context: nothing to generate
        self.uids = scheduler.submit([r for _, r in live]) if live else []
        self.by_uid = {}
        for (c, _), uid in zip(live, self.uids):
            c.uid = uid
            self.by_uid[uid] = c

    def _chunk(self, index: int, text: str, lp: Optional[Dict[str, Any]], finish: Optional[str]) -> Dict[str, Any]:
        return {**self.header, "choices": [{"text": text, "index": index, "logprobs": lp, "finish_reason": finish}]}

    def _usage(self) -> Dict[str, int]:
        generated = sum(c.n_tokens for c in self.choices)
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": generated,
                "total_tokens": self.prompt_tokens + generated}

    def stream(self) -> Iterator[Dict[str, Any]]:
        """Chunks as tokens arrive; each choice ends with a chunk carrying its ``finish_reason``.

        The requests are already running: closing the iterator, or dropping it
        unstarted, cancels them.
        """
        return _Stream(self, self._chunks())

    def _chunks(self) -> Iterator[Dict[str, Any]]:
        try:
            if self.echo:
                for c in self.choices:
                    yield self._chunk(c.index, c.prompt_text, None, None)
            for c in self.choices:
                if c.finish is not None:
                    yield self._chunk(c.index, "", None, c.finish)
            for event in self.scheduler.events(self.uids):
                c = self.by_uid[event.uid]
                if c.finish is not None:
                    continue
                entry = self._feed(c, event)
                text = "" if c.finish == "stop" else c.assembler.release()
                if text or entry is not None:
                    yield self._chunk(c.index, text, entry, None)
                if c.finish is not None:
                    rest = c.assembler.release(final=True)
                    if rest:
                        yield self._chunk(c.index, rest, None, None)
                    yield self._chunk(c.index, "", None, c.finish)
        finally:
            self.cancel()

    def result(self) -> Dict[str, Any]:
        """The whole response (``best_of`` candidates ranked down to ``n`` per prompt)."""
        try:
            for event in self.scheduler.events(self.uids):
                c = self.by_uid[event.uid]
                if c.finish is None:
                    self._feed(c, event)
        finally:
            self.cancel()
        chosen = self.choices
        if self.best_of > self.n:
            chosen = []
            for start in range(0, len(self.choices), self.best_of):
                group = self.choices[start: start + self.best_of]
                chosen += sorted(group, key=lambda c: c.mean_logprob, reverse=True)[: self.n]
        has_lp = any(c.lp_tokens for c in self.choices)
        out = []
        for index, c in enumerate(chosen):
            text = (c.prompt_text if self.echo else "") + c.assembler.text()
            out.append({"text": text, "index": index, "logprobs": c.logprobs() if has_lp else None,
                        "finish_reason": c.finish})
        return {**self.header, "choices": out, "usage": self._usage()}

    def _feed(self, c: _Choice, event: Any) -> Optional[Dict[str, Any]]:
        """Apply one token event to its choice; the chunk's logprobs entry when asked for."""
        entry = None
        if event.token is not None:
            c.n_tokens += 1
            piece = self.piece(event.token)
            if event.logprob is not None:
                c.sum_logprob += event.logprob
            if event.top_logprobs is not None:
                text = piece.decode("utf-8", errors="ignore")
                entry = {"tokens": [text], "text_offset": [c.offset], "token_logprobs": [event.logprob],
                         "top_logprobs": [event.top_logprobs]}
                c.lp_offsets.append(c.offset)
                c.offset += len(text)
                c.lp_tokens.append(text)
                c.lp_values.append(event.logprob)
                c.lp_top.append(event.top_logprobs)
            if c.assembler.feed(piece):
                c.finish = "stop"
                self.scheduler.cancel([c.uid])
                return entry
        if event.finish_reason is not None:
            c.finish = event.finish_reason
        return entry

    def cancel(self) -> None:
        """Stop whatever is still generating (a consumer that left early)."""
        pending = [c.uid for c in self.choices if c.finish is None and c.uid >= 0]
        if pending:
            self.scheduler.cancel(pending)
