"""Translate a JSON Schema ``pattern`` (an anchored regular expression) to GBNF.

The supported subset: literals and escaped punctuation, ``.``, character
classes (ranges, negation, ``\\d \\w \\s`` and their negations inside and
outside classes), groups (capturing, ``(?:...)``, named), alternation, the
quantifiers ``* + ? {n} {n,} {n,m}`` (a trailing lazy ``?`` is accepted), and
``\\t \\n \\r \\f \\v \\0 \\xHH \\uHHHH \\u{H...}`` escapes. A pattern must be
anchored at both ends (``^...$``, or every top-level alternative anchored),
because a grammar describes the whole string.

Every quantifier applies to the single atom before it, so ``ab{2}`` means
``a`` then two ``b``. When the result sits inside a JSON string (the default),
characters that JSON must escape (``"``, ``\\`` and control characters) are
produced in their escaped form; in large sets (negated classes, ``.``,
``\\S``) they are simply left out, which keeps every output matching the
pattern.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple, Union

from .gbnf import MAX_REPETITIONS

__all__ = ["PatternError", "pattern_to_gbnf", "repeat_expression"]

_MAX = 0x10FFFF
Ranges = List[Tuple[int, int]]


class PatternError(ValueError):
    """A ``pattern`` that cannot be turned into a grammar; the message says why."""


def _normalize(ranges: Ranges) -> Ranges:
    out: Ranges = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def _complement(ranges: Ranges) -> Ranges:
    out: Ranges = []
    nxt = 0
    for lo, hi in _normalize(ranges):
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = max(nxt, hi + 1)
    if nxt <= _MAX:
        out.append((nxt, _MAX))
    return out


def _intersect(a: Ranges, b: Ranges) -> Ranges:
    return _complement(_complement(a) + _complement(b))


def _subtract(a: Ranges, b: Ranges) -> Ranges:
    return _intersect(a, _complement(b))


def _size(ranges: Ranges) -> int:
    return sum(hi - lo + 1 for lo, hi in ranges)


_DIGIT: Ranges = [(0x30, 0x39)]
_WORD: Ranges = [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)]
# Whitespace per ECMA-262 and per Python's re; \s takes the characters both
# agree on, \S everything neither calls whitespace, so either engine accepts
# what the grammar produces.
_ECMA_SPACE: Ranges = _normalize([(0x09, 0x0D), (0x20, 0x20), (0xA0, 0xA0), (0x1680, 0x1680), (0x2000, 0x200A),
                                  (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000),
                                  (0xFEFF, 0xFEFF)])
_PY_SPACE: Ranges = _normalize([(0x09, 0x0D), (0x1C, 0x20), (0x85, 0x85), (0xA0, 0xA0), (0x1680, 0x1680),
                                (0x2000, 0x200A), (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F),
                                (0x3000, 0x3000)])
_SPACE = _intersect(_ECMA_SPACE, _PY_SPACE)
_NOT_SPACE = _complement(_ECMA_SPACE + _PY_SPACE)
# \D and \W stay within ASCII: outside it, engines disagree about digits and letters.
_ASCII: Ranges = [(0x00, 0x7F)]
_NOT_DIGIT = _subtract(_ASCII, _DIGIT)
_NOT_WORD = _subtract(_ASCII, _WORD)
_CLASS_ESCAPES = {"d": _DIGIT, "D": _NOT_DIGIT, "w": _WORD, "W": _NOT_WORD, "s": _SPACE, "S": _NOT_SPACE}
_LINE_BREAKS: Ranges = [(0x0A, 0x0A), (0x0D, 0x0D), (0x2028, 0x2029)]
_CONTROL_ESCAPES = {"t": 0x09, "n": 0x0A, "r": 0x0D, "f": 0x0C, "v": 0x0B, "0": 0x00}
# What JSON strings must escape, and the escaped spelling the grammar produces.
_JSON_SPECIAL: Ranges = [(0x00, 0x1F), (0x22, 0x22), (0x5C, 0x5C)]
_JSON_SHORT = {0x22: '\\"', 0x5C: "\\\\", 0x08: "\\b", 0x0C: "\\f", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}
# Sets larger than this drop JSON-special characters instead of spelling out their escapes.
_ESCAPE_LIMIT = 256


@dataclass
class CharSet:
    """One character out of ``ranges`` (sorted, inclusive code point ranges)."""

    ranges: Ranges
    is_dot: bool = False


@dataclass
class Group:
    """Alternatives; each is a sequence of quantified atoms."""

    branches: List[List[Item]]


@dataclass
class Anchor:
    """``^`` or ``$`` (only allowed at the ends of the pattern)."""

    kind: str


Atom = Union[CharSet, Group, Anchor]
#: an atom with its repetition bounds (max None: unbounded)
Item = Tuple[Atom, int, Optional[int]]


class _RegexParser:
    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.i = 0

    def fail(self, message: str, at: Optional[int] = None) -> PatternError:
        where = self.i if at is None else at
        return PatternError(f"pattern {self.p!r}, position {where}: {message}")

    def peek(self) -> str:
        return self.p[self.i] if self.i < len(self.p) else ""

    def parse(self) -> Group:
        alt = self.alternation()
        if self.i < len(self.p):
            raise self.fail("unmatched ')'")
        return alt

    def alternation(self) -> Group:
        branches = [self.sequence()]
        while self.peek() == "|":
            self.i += 1
            branches.append(self.sequence())
        return Group(branches)

    def sequence(self) -> List[Item]:
        items: List[Item] = []
        while self.i < len(self.p) and self.peek() not in "|)":
            start = self.i
            atom = self.atom()
            lo, hi = self.quantifier()
            if (lo, hi) != (1, 1) and isinstance(atom, Anchor):
                raise self.fail("a quantifier cannot follow an anchor", start)
            items.append((atom, lo, hi))
        return items

    def quantifier(self) -> Tuple[int, Optional[int]]:
        c = self.peek()
        lo: int
        hi: Optional[int]
        if c == "*":
            lo, hi = 0, None
            self.i += 1
        elif c == "+":
            lo, hi = 1, None
            self.i += 1
        elif c == "?":
            lo, hi = 0, 1
            self.i += 1
        elif c == "{" and self._counted() is not None:
            (lo, hi), self.i = self._counted()  # type: ignore[misc]
        else:
            return 1, 1
        if self.peek() == "?":  # lazy: same set of strings
            self.i += 1
        if self.peek() in ("*", "+", "?") or (self.peek() == "{" and self._counted() is not None):
            raise self.fail("two quantifiers in a row; put the atom in a group to repeat it twice")
        return lo, hi

    def _counted(self) -> Optional[Tuple[Tuple[int, Optional[int]], int]]:
        """``{n}``, ``{n,}`` or ``{n,m}`` at the cursor (else None: a literal ``{``)."""
        j = self.i + 1
        p = self.p
        k = j
        while k < len(p) and p[k].isdigit():
            k += 1
        if k == j:
            return None
        lo = int(p[j:k])
        if k < len(p) and p[k] == "}":
            return (lo, lo), k + 1
        if k >= len(p) or p[k] != ",":
            return None
        m = k + 1
        while m < len(p) and p[m].isdigit():
            m += 1
        if m >= len(p) or p[m] != "}":
            return None
        hi = int(p[k + 1:m]) if m > k + 1 else None
        if hi is not None and hi < lo:
            raise self.fail(f"quantifier {{{lo},{hi}}} has its maximum below its minimum")
        return (lo, hi), m + 1

    def atom(self) -> Atom:
        c = self.p[self.i]
        if c == "(":
            return self.group()
        if c == "[":
            return CharSet(self.char_class())
        if c == ".":
            self.i += 1
            return CharSet(_complement(_LINE_BREAKS), is_dot=True)
        if c == "^" or c == "$":
            self.i += 1
            return Anchor(c)
        if c == "\\":
            return CharSet(self.escape(in_class=False))
        if c in "*+?":
            raise self.fail(f"{c!r} has nothing to repeat")
        if c == "{" and self._counted() is not None:
            raise self.fail("a {n,m} quantifier has nothing to repeat")
        self.i += 1
        return CharSet([(ord(c), ord(c))])

    def group(self) -> Group:
        start = self.i
        self.i += 1
        if self.p.startswith("?", self.i):
            rest = self.p[self.i:]
            if rest.startswith("?:"):
                self.i += 2
            elif rest.startswith("?P<") or (rest.startswith("?<") and not rest.startswith(("?<=", "?<!"))):
                close = self.p.find(">", self.i)
                if close == -1:
                    raise self.fail("unterminated group name")
                self.i = close + 1
            elif rest.startswith(("?=", "?!", "?<=", "?<!")):
                raise self.fail("lookaround assertions are not supported in a grammar", start)
            else:
                raise self.fail("inline flags and other (?...) constructs are not supported", start)
        inner = self.alternation()
        if self.peek() != ")":
            raise self.fail("unterminated group: add the closing ')'", start)
        self.i += 1
        return inner

    def escape(self, in_class: bool) -> Ranges:
        start = self.i
        self.i += 1
        if self.i >= len(self.p):
            raise self.fail("the pattern ends with a lone backslash", start)
        e = self.p[self.i]
        self.i += 1
        if e in _CLASS_ESCAPES:
            return list(_CLASS_ESCAPES[e])
        if e in _CONTROL_ESCAPES:
            if e == "0" and self.peek().isdigit():
                raise self.fail("octal escapes are not supported", start)
            return [(_CONTROL_ESCAPES[e],) * 2]
        if e == "b" and in_class:
            return [(0x08, 0x08)]
        if e == "x":
            return self._hex(2, start)
        if e == "u":
            if self.peek() == "{":
                close = self.p.find("}", self.i)
                digits = self.p[self.i + 1:close] if close != -1 else ""
                if not digits or any(d not in "0123456789abcdefABCDEF" for d in digits) or int(digits, 16) > _MAX:
                    raise self.fail("malformed \\u{...} escape", start)
                self.i = close + 1
                cp = int(digits, 16)
                return [(cp, cp)]
            return self._hex(4, start)
        if e in "bB":
            raise self.fail("word boundaries (\\b, \\B) are not supported in a grammar", start)
        if e.isdigit() or e == "k":
            raise self.fail("back-references are not supported in a grammar", start)
        if e in "pP":
            raise self.fail("Unicode property escapes (\\p{...}) are not supported; list the characters in a class",
                            start)
        if e == "c":
            raise self.fail("control escapes (\\cX) are not supported; use \\xHH", start)
        if e.isalnum():
            raise self.fail(f"unknown escape '\\{e}'", start)
        return [(ord(e), ord(e))]

    def _hex(self, size: int, start: int) -> Ranges:
        digits = self.p[self.i:self.i + size]
        if len(digits) != size or any(d not in "0123456789abcdefABCDEF" for d in digits):
            raise self.fail(f"expected {size} hex digits in the escape", start)
        self.i += size
        cp = int(digits, 16)
        return [(cp, cp)]

    def char_class(self) -> Ranges:
        start = self.i
        self.i += 1
        negated = self.peek() == "^"
        if negated:
            self.i += 1
        ranges: Ranges = []
        first = True
        while True:
            if self.i >= len(self.p):
                raise self.fail("unterminated character class: add the closing ']'", start)
            c = self.p[self.i]
            if c == "]" and not first:
                self.i += 1
                break
            first = False
            lo_set = self._class_atom()
            if (self.peek() == "-" and self.i + 1 < len(self.p) and self.p[self.i + 1] != "]"
                    and len(lo_set) == 1 and lo_set[0][0] == lo_set[0][1]):
                save = self.i
                self.i += 1
                hi_set = self._class_atom()
                if len(hi_set) == 1 and hi_set[0][0] == hi_set[0][1]:
                    lo, hi = lo_set[0][0], hi_set[0][0]
                    if hi < lo:
                        raise self.fail("reversed range in a character class", save)
                    ranges.append((lo, hi))
                    continue
                # "\d-x" style: the dash is a literal
                ranges.extend(lo_set)
                ranges.append((0x2D, 0x2D))
                ranges.extend(hi_set)
                continue
            ranges.extend(lo_set)
        result = _normalize(ranges)
        return _complement(result) if negated else result

    def _class_atom(self) -> Ranges:
        c = self.p[self.i]
        if c == "\\":
            return self.escape(in_class=True)
        self.i += 1
        return [(ord(c), ord(c))]


def _is_anchor(item: Item, kind: str) -> bool:
    return isinstance(item[0], Anchor) and item[0].kind == kind


def _strip_anchors(tree: Group, pattern: str) -> Group:
    branches = tree.branches
    out = []
    for seq in branches:
        if len(seq) < 2 or not (_is_anchor(seq[0], "^") and _is_anchor(seq[-1], "$")):
            if len(branches) > 1:
                raise PatternError(f"pattern {pattern!r}: '^' and '$' bind to the first and last alternative only; "
                                   "write ^(a|b)$ to anchor the whole alternation")
            raise PatternError(f"pattern {pattern!r} must be anchored as '^...$': a grammar describes the whole "
                               "string, while an unanchored pattern only needs to match somewhere in it")
        out.append(seq[1:-1])
    _reject_inner_anchors(Group(out), pattern)
    return Group(out)


def _reject_inner_anchors(node: Group, pattern: str) -> None:
    for seq in node.branches:
        for atom, _, _ in seq:
            if isinstance(atom, Anchor):
                raise PatternError(f"pattern {pattern!r}: anchors ('^', '$') are only supported at the very start "
                                   "and end")
            if isinstance(atom, Group):
                _reject_inner_anchors(atom, pattern)


# ----- rendering ------------------------------------------------------------------

def _gbnf_char(cp: int, in_class: bool) -> str:
    ch = chr(cp)
    if in_class and ch in "\\[]-":
        return "\\" + ch
    if not in_class and ch in '\\"':
        return "\\" + ch
    if 0x20 <= cp < 0x7F and ch != "^":
        return ch
    if ch == "^":
        return "\\x5E"
    if cp == 0x0A:
        return "\\n"
    if cp == 0x0D:
        return "\\r"
    if cp == 0x09:
        return "\\t"
    if cp <= 0xFF:
        return f"\\x{cp:02X}"
    if cp <= 0xFFFF:
        return f"\\u{cp:04X}"
    return f"\\U{cp:08X}"


def gbnf_literal(text: str) -> str:
    """``text`` as a GBNF string literal."""
    return '"' + "".join(_gbnf_char(ord(c), False) for c in text) + '"'


def _class_text(ranges: Ranges) -> str:
    negate = ranges[-1][1] == _MAX and ranges != [(0, _MAX)]
    shown = _complement(ranges) if negate else ranges
    body = "".join(_gbnf_char(lo, True) if lo == hi else f"{_gbnf_char(lo, True)}-{_gbnf_char(hi, True)}"
                   for lo, hi in shown)
    return f"[^{body}]" if negate else f"[{body}]"


def _json_spelling(cp: int) -> str:
    return _JSON_SHORT.get(cp, f"\\u{cp:04x}")


class _Renderer:
    def __init__(self, json_string: bool, dotall: bool, pattern: str) -> None:
        self.json_string = json_string
        self.dotall = dotall
        self.pattern = pattern

    def single_spelling(self, ranges: Ranges) -> Optional[str]:
        """The text a one-character set stands for, or None when it is not one character."""
        if len(ranges) == 1 and ranges[0][0] == ranges[0][1]:
            cp = ranges[0][0]
            if self.json_string and _intersect(ranges, _JSON_SPECIAL):
                return _json_spelling(cp)
            return chr(cp)
        return None

    def set_expr(self, ranges: Ranges) -> Tuple[str, bool]:
        """GBNF for a character set, and whether it is a single (quantifiable) unit."""
        if not self.json_string:
            if not ranges:
                raise PatternError(f"pattern {self.pattern!r} has a character class that matches nothing")
            return _class_text(ranges), True
        raw = _subtract(ranges, _JSON_SPECIAL)
        alternatives = [_class_text(raw)] if raw else []
        special = _intersect(ranges, _JSON_SPECIAL)
        if special and _size(ranges) <= _ESCAPE_LIMIT:
            for lo, hi in special:
                alternatives.extend(gbnf_literal(_json_spelling(cp)) for cp in range(lo, hi + 1))
        if not alternatives:
            raise PatternError(f"pattern {self.pattern!r} has a character class with no character that can "
                               "appear in a JSON string")
        if len(alternatives) == 1:
            return alternatives[0], True
        return "(" + " | ".join(alternatives) + ")", True

    def alternation(self, node: Group) -> str:
        branches = [self.sequence(seq) for seq in node.branches]
        filled = [b for b in branches if b]
        if len(filled) == len(branches) or not filled:
            return " | ".join(filled)
        # "(a|)" as "(a)?": an empty alternative inside a repeated group would be left recursion for llama.cpp
        return "(" + " | ".join(filled) + ")?"

    def sequence(self, seq: List[Item]) -> str:
        parts: List[str] = []
        pending = ""
        for atom, lo, hi in seq:
            if isinstance(atom, CharSet):
                ranges = _normalize(atom.ranges)
                if atom.is_dot and self.dotall:
                    ranges = [(0, _MAX)]
                spelled = self.single_spelling(ranges)
                if spelled is not None and (lo, hi) == (1, 1):
                    pending += spelled
                    continue
                if pending:
                    parts.append(gbnf_literal(pending))
                    pending = ""
                if spelled is not None:
                    unit = gbnf_literal(spelled)
                    if len(spelled) > 1:
                        unit = f"({unit})"
                else:
                    unit, _ = self.set_expr(ranges)
            else:
                assert isinstance(atom, Group)  # anchors are gone by now
                if pending:
                    parts.append(gbnf_literal(pending))
                    pending = ""
                inner = self.alternation(atom)
                unit = f"({inner})"
            if (lo, hi) == (0, 0):
                continue
            parts.append(repeat_expression(unit, lo, hi))
        if pending:
            parts.append(gbnf_literal(pending))
        return " ".join(p for p in parts if p)


def repeat_expression(unit: str, lo: int, hi: Optional[int]) -> str:
    """``unit`` repeated ``lo`` to ``hi`` times (``hi`` None: no maximum) in GBNF.

    ``unit`` must already be a single GBNF item (a literal, class, rule name or
    parenthesised group). Counts beyond llama.cpp's limit of 2000 per
    repetition are split into several repetitions.
    """
    chunk = MAX_REPETITIONS // 4
    if (lo, hi) == (1, 1):
        return unit
    if hi is None:
        head = repeat_expression(unit, lo, lo) if lo > 1 else ""
        if lo == 0:
            return f"{unit}*"
        if lo == 1:
            return f"{unit}+"
        return f"{head} {unit}*"
    if hi <= chunk:
        if lo == hi:
            return f"{unit}{{{lo}}}"
        if (lo, hi) == (0, 1):
            return f"{unit}?"
        return f"{unit}{{{lo},{hi}}}"
    parts: List[str] = []
    need, extra = lo, hi - lo
    while need > 0:
        step = min(need, chunk)
        parts.append(repeat_expression(unit, step, step))
        need -= step
    while extra > 0:
        step = min(extra, chunk)
        parts.append(repeat_expression(unit, 0, step))
        extra -= step
    return " ".join(parts)


def pattern_to_gbnf(pattern: str, *, json_string: bool = True, dotall: bool = False) -> str:
    """Convert a regular expression to a GBNF expression for the strings it fully matches.

    Args:
        pattern: The pattern, anchored as ``^...$``.
        json_string: Describe the strings as they appear between the quotes of a
            JSON string (escaped; the quotes not included).
        dotall: Let ``.`` match newlines too.

    Returns:
        The GBNF expression.

    Raises:
        PatternError: The pattern is not anchored or uses an unsupported feature.
    """
    if not isinstance(pattern, str):
        raise PatternError(f"pattern must be a string, not {type(pattern).__name__}")
    tree = _RegexParser(pattern).parse()
    tree = _strip_anchors(tree, pattern)
    _check_counts(tree, pattern)
    renderer = _Renderer(json_string, dotall, pattern)
    return renderer.alternation(tree)


def _check_counts(node: Group, pattern: str) -> None:
    for seq in node.branches:
        for atom, lo, hi in seq:
            if max(lo, hi or 0) > 100_000:
                raise PatternError(f"pattern {pattern!r}: repetition count {max(lo, hi or 0)} is too large")
            if isinstance(atom, Group):
                _check_counts(atom, pattern)
