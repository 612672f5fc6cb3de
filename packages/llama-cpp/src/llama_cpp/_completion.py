"""Turning a stream of tokens into completion text: stop strings, UTF-8, chunks.

:class:`TextAssembler` receives the bytes of each generated token and decides
what text may be released: never the inside of an unfinished UTF-8 sequence,
never anything that might be the start of a stop string, never a stop string
itself. All work per token is proportional to the token and the longest stop
string, not to the text so far.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Sequence, Tuple

from ._numpy import np

if TYPE_CHECKING:
    import numpy.typing as npt


__all__ = ["TextAssembler", "normalize_stop", "incomplete_utf8_tail", "top_logprobs_entry"]


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
