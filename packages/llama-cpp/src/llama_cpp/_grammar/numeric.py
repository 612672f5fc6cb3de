"""GBNF for integers and decimal numbers that must fall within bounds.

A range of integers is written digit by digit: the numbers with the same
count of digits as a bound are split into pieces whose every digit position
is a plain class (``"1" [5-9] | [2-8] [0-9] | "9" [0-4]`` for 15..94), and
the lengths strictly between the bounds' lengths are a leading ``[1-9]``
followed by free digits. Negative numbers are a ``"-"`` followed by a
magnitude range. A side without a bound is capped at ``MAX_DIGITS``
digits (a bound with more digits raises the cap), which also keeps sampling
from running on forever.

Decimal numbers are bounded only by whole numbers (callers round other
bounds inward): the integer part carries the bound and the fraction is free,
except at the bound itself where only a zero fraction is allowed (or a
non-zero one, for an exclusive lower bound).
"""

from __future__ import annotations

from typing import List, Optional, Tuple

__all__ = ["MAX_DIGITS", "integer_range", "number_range"]

MAX_DIGITS = 16
"""Digits allowed on an unbounded side (the plain ``integer`` rule's limit too)."""

_Digits = List[Tuple[int, int]]  # per position: the inclusive digit range


def _same_length(lo: str, hi: str) -> List[_Digits]:
    """Pieces covering every number from ``lo`` to ``hi`` (equal-length digit strings, lo <= hi)."""
    if not lo:
        return [[]]
    a, b = int(lo[0]), int(hi[0])
    rest_lo, rest_hi = lo[1:], hi[1:]
    if a == b:
        return [[(a, a)] + tail for tail in _same_length(rest_lo, rest_hi)]
    width = len(rest_lo)
    pieces: List[_Digits] = []
    low_full = rest_lo == "0" * width
    high_full = rest_hi == "9" * width
    first_mid = a if low_full else a + 1
    last_mid = b if high_full else b - 1
    if not low_full:
        pieces += [[(a, a)] + tail for tail in _same_length(rest_lo, "9" * width)]
    if first_mid <= last_mid:
        pieces.append([(first_mid, last_mid)] + [(0, 9)] * width)
    if not high_full:
        pieces += [[(b, b)] + tail for tail in _same_length("0" * width, rest_hi)]
    return pieces


def _render(piece: _Digits) -> str:
    parts: List[str] = []
    literal = ""
    i = 0
    while i < len(piece):
        lo, hi = piece[i]
        if lo == hi:
            literal += str(lo)
            i += 1
            continue
        if literal:
            parts.append(f'"{literal}"')
            literal = ""
        j = i
        while j < len(piece) and piece[j] == (lo, hi):
            j += 1
        cls = f"[{lo}-{hi}]"
        count = j - i
        parts.append(cls if count == 1 else f"{cls}{{{count}}}")
        i = j
    if literal:
        parts.append(f'"{literal}"')
    return " ".join(parts)


def _natural_range(lo: int, hi: Optional[int]) -> List[str]:
    """Alternatives for the integers lo..hi (both >= 0; ``hi`` None: unbounded, capped)."""
    if hi is not None and lo > hi:
        return []
    lo_len = len(str(lo))
    if hi is None:
        cap = max(MAX_DIGITS, lo_len)
        out: List[str] = []
        top = 10 ** lo_len - 1
        out += [_render(p) for p in _same_length(str(lo), str(top))]
        if cap > lo_len:
            extra_min, extra_max = lo_len, cap - 1  # digits after the leading [1-9]
            count = f"{{{extra_min}}}" if extra_min == extra_max else f"{{{extra_min},{extra_max}}}"
            out.append(f"[1-9] [0-9]{count}")
        return out
    hi_len = len(str(hi))
    out = []
    for length in range(lo_len, hi_len + 1):
        a = lo if length == lo_len else 10 ** (length - 1)
        b = hi if length == hi_len else 10 ** length - 1
        out += [_render(p) for p in _same_length(str(a), str(b))]
    return out


def _group(alternatives: List[str]) -> str:
    if len(alternatives) == 1:
        return alternatives[0]
    return "(" + " | ".join(alternatives) + ")"


def integer_range(lo: Optional[int], hi: Optional[int]) -> str:
    """A GBNF expression (no trailing space) for the integers in [lo, hi].

    ``None`` leaves a side open (capped at ``MAX_DIGITS`` digits).
    Raises ``ValueError`` when the range is empty.
    """
    if lo is not None and hi is not None and lo > hi:
        raise ValueError(f"no integer lies between {lo} and {hi}")
    alternatives: List[str] = []
    if lo is None or lo < 0:
        mag_lo = 1 if hi is None or hi >= 0 else -hi
        mag_hi = None if lo is None else -lo
        negative = _natural_range(mag_lo, mag_hi)
        if negative:
            alternatives.append('"-" ' + _group(negative))
    if hi is None or hi >= 0:
        alternatives += _natural_range(max(lo, 0) if lo is not None else 0, hi)
    return _group(alternatives)


_FRACTION = '("." [0-9]{1,16})?'
_ZERO_FRACTION = '("." "0"{1,16})?'
_NONZERO_FRACTION = '"." [0-9]{0,15} [1-9]'


def _magnitude(low: int, low_exclusive: bool, high: Optional[int], high_exclusive: bool) -> List[str]:
    """Alternatives for decimals m (written without sign) with low <(=) m <(=) high."""
    out: List[str] = []
    free_lo = low + 1 if low_exclusive else low
    free_hi = None if high is None else high - 1
    for alt in _natural_range(free_lo, free_hi):
        out.append(f"{_wrap(alt)} {_FRACTION}")
    if low_exclusive and (high is None or low < high):
        out.append(f'"{low}" {_NONZERO_FRACTION}')
    if high is not None and not high_exclusive and (high > low or (high == low and not low_exclusive)):
        out.append(f'"{high}" {_ZERO_FRACTION}')
    return out


def _wrap(alt: str) -> str:
    return f"({alt})" if " | " in alt else alt


def number_range(lo: Optional[int], lo_exclusive: bool, hi: Optional[int], hi_exclusive: bool) -> str:
    """A GBNF expression (no trailing space) for decimals between whole-number bounds.

    ``None`` leaves a side open. Numbers are written without an exponent.
    Raises ``ValueError`` when no number fits.
    """
    if lo is not None and hi is not None and (lo > hi or (lo == hi and (lo_exclusive or hi_exclusive))):
        raise ValueError(f"no number lies between the bounds {lo} and {hi}")
    alternatives: List[str] = []
    if lo is None or lo < 0:
        # negative values -m: bound m from below by -hi (or just above 0) and from above by -lo
        if hi is not None and hi < 0:
            m_low, m_low_excl = -hi, hi_exclusive
        else:
            m_low, m_low_excl = 0, True
        m_high = None if lo is None else -lo
        negative = _magnitude(m_low, m_low_excl, m_high, lo_exclusive)
        if negative:
            alternatives.append('"-" ' + _group(negative))
    if hi is None or hi > 0 or (hi == 0 and not hi_exclusive):
        if lo is None or lo < 0:
            p_low, p_low_excl = 0, False
        else:
            p_low, p_low_excl = lo, lo_exclusive
        alternatives += _magnitude(p_low, p_low_excl, hi, hi_exclusive)
    if not alternatives:
        raise ValueError(f"no number lies between the bounds {lo} and {hi}")
    return _group(alternatives)
