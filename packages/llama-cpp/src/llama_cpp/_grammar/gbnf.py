"""A checker for GBNF text that mirrors llama.cpp's own grammar parser.

llama.cpp parses a grammar only when a grammar sampler is created, and a bad
grammar there either yields a NULL sampler (which the API we replace pushed
into the sampler chain anyway) or, for a few inputs, brings the process down.
``parse_gbnf`` runs the same acceptance rules in Python first, so a bad
grammar becomes a ``GrammarError`` (a ``ValueError``) that names the line,
the column and the fix.

The acceptance rules follow ``src/llama-grammar.cpp`` of the vendored
llama.cpp: the same lexical rules (names ``[a-zA-Z0-9-]+``, the escape set,
comments, where newlines may appear), the same expansion of repetition
operators into helper rules (so the 2000-repetition limits and the
left-recursion check give the same verdicts), and the same checks for
undefined rules and the start symbol. On top of that it rejects a few inputs
llama.cpp accepts but then aborts on while sampling: a character class or
literal that can never match a character (``[z-a]``, ``[^\\x00-\\U0010FFFF]``,
``"\\x00"``), and a ``{m,n}`` with ``n < m``.

Token references written as text (``<think>``) are checked for syntax only:
whether the text is a single token depends on the model's vocabulary, which
llama.cpp resolves when the sampler is built. They are listed in
``ParsedGrammar.token_texts`` so a caller holding a vocabulary can check
them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

__all__ = ["GrammarError", "ParsedGrammar", "parse_gbnf", "MAX_REPETITIONS", "MAX_CODE_POINT", "MAX_NESTING"]

MAX_NESTING = 300
"""Deepest nesting of parentheses this checker follows."""
MAX_REPETITIONS = 2000
"""llama.cpp's cap on ``{m,n}`` counts and on rules produced by nested repetition."""
MAX_CODE_POINT = 0x10FFFF
"""Largest Unicode code point; classes are judged against ``[1, MAX_CODE_POINT]`` (code point 0 never reaches the grammar: it ends llama.cpp's C strings)."""
_UINT32_MAX = 0xFFFFFFFF
_UINT64_MAX = 0xFFFFFFFFFFFFFFFF

# Element codes inside a parsed alternative: any value >= 0 is a reference to
# that rule id; TERMINAL stands for a character, character class or token.
_TERMINAL = -1

_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")
_DIGITS = frozenset("0123456789")
_SIMPLE_ESCAPES = {"t": 0x09, "r": 0x0D, "n": 0x0A, "\\": 0x5C, '"': 0x22, "[": 0x5B, "]": 0x5D, "-": 0x2D}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}
_OPERATORS: Dict[str, Tuple[int, Optional[int]]] = {"*": (0, None), "+": (1, None), "?": (0, 1)}
_UNENCODABLE = re.compile("[\x00\ud800-\udfff]")
_ESCAPE_HELP = r'valid escapes are \n \r \t \\ \" \[ \] \- \xHH \uHHHH \UHHHHHHHH'


class GrammarError(ValueError):
    """A GBNF grammar that llama.cpp would refuse (or crash on).

    ``line`` and ``column`` are 1-based and point at the offending character
    (``None`` for problems of the grammar as a whole, such as a missing
    ``root``); ``reason`` is the message without the location.
    """

    def __init__(self, reason: str, line: Optional[int] = None, column: Optional[int] = None,
                 source_line: Optional[str] = None) -> None:
        self.reason = reason
        self.line = line
        self.column = column
        self.source_line = source_line
        if line is None:
            text = f"invalid GBNF grammar: {reason}"
        else:
            text = f"invalid GBNF grammar at line {line}, column {column}: {reason}"
            if source_line is not None and len(source_line) <= 200:
                caret = " " * (max(column or 1, 1) - 1) + "^"
                text += f"\n    {source_line}\n    {caret}"
        super().__init__(text)

    def __reduce__(self):  # keep the structured fields through pickling
        return (type(self), (self.reason, self.line, self.column, self.source_line))


@dataclass
class ParsedGrammar:
    """What the checker learnt about a grammar that passed.

    ``rules`` lists the rules defined in the text (not the helper rules that
    repetition and groups expand into), in order of first definition;
    ``token_texts`` lists the ``<text>`` token references (``!`` stripped),
    which must each be a single token of the model's vocabulary.
    """

    rules: List[str] = field(default_factory=list)
    token_texts: List[str] = field(default_factory=list)
    token_ids: List[int] = field(default_factory=list)


def parse_gbnf(text: str, root: str = "root") -> ParsedGrammar:
    """Check a GBNF grammar by the rules llama.cpp's parser applies.

    Args:
        text: The grammar.
        root: The rule generation starts from.

    Returns:
        A summary: the rule names, and the token references to check against a
        vocabulary.

    Raises:
        GrammarError: The grammar is malformed or one llama.cpp cannot run.
        TypeError: ``text`` is not a ``str``.
    """
    if not isinstance(text, str):
        raise TypeError(f"a grammar must be a str, not {type(text).__name__}")
    try:
        return _Parser(text).run(root)
    except RecursionError:
        raise GrammarError(f"groups are nested too deeply (more than about {MAX_NESTING} levels of "
                           "parentheses); move inner groups into rules of their own") from None


class _Parser:
    """Recursive descent over the text, building llama.cpp's rule layout.

    Rules are kept as llama.cpp keeps them, in a reduced form: each rule id maps
    to a list of alternatives and each alternative to a list of element codes
    (``_TERMINAL``, or the id of a referenced rule). Helper rules get the
    same ids and names (``<rule>_<id>``) llama.cpp gives them, because the
    repetition limit counts symbols and the left-recursion check walks helpers.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.n = len(text)
        self.symbols: Dict[str, int] = {}
        self.names: List[str] = []
        self.rules: Dict[int, List[List[int]]] = {}
        self.first_ref: Dict[int, int] = {}
        self.defined_at: Dict[int, int] = {}
        self.user_rules: List[str] = []
        self.token_texts: List[str] = []
        self.token_ids: List[int] = []
        self.depth = 0

    # ----- positions and errors -------------------------------------------------

    def _where(self, pos: int) -> Tuple[int, int, str]:
        pos = min(max(pos, 0), self.n)
        start = max(self.text.rfind("\n", 0, pos), self.text.rfind("\r", 0, pos)) + 1
        line = self.text.count("\n", 0, pos) + 1
        # a lone "\r" also ends a line for llama.cpp
        line += self.text.count("\r", 0, pos) - self.text.count("\r\n", 0, pos)
        end = self.n
        for stop in ("\n", "\r"):
            k = self.text.find(stop, pos)
            if k != -1:
                end = min(end, k)
        return line, pos - start + 1, self.text[start:end]

    def error(self, reason: str, pos: int) -> GrammarError:
        line, column, source = self._where(pos)
        return GrammarError(reason, line, column, source)

    def _show(self, pos: int) -> str:
        if pos >= self.n:
            return "end of input"
        c = self.text[pos]
        if c == "\n" or c == "\r":
            return "end of line"
        return repr(c)

    # ----- symbols ---------------------------------------------------------------

    def symbol(self, name: str) -> int:
        sid = self.symbols.get(name)
        if sid is None:
            sid = len(self.names)
            self.symbols[name] = sid
            self.names.append(name)
        return sid

    def helper_symbol(self, base: str) -> int:
        sid = len(self.names)
        name = f"{base}_{sid}"
        self.symbols[name] = sid
        self.names.append(name)
        return sid

    # ----- lexical helpers -------------------------------------------------------

    def skip_space(self, pos: int, newline_ok: bool) -> int:
        text, n = self.text, self.n
        while pos < n:
            c = text[pos]
            if c == " " or c == "\t":
                pos += 1
            elif c == "#":
                while pos < n and text[pos] not in "\r\n":
                    pos += 1
            elif newline_ok and (c == "\r" or c == "\n"):
                pos += 1
            else:
                break
        return pos

    def name_end(self, pos: int) -> int:
        end = pos
        while end < self.n and self.text[end] in _WORD_CHARS:
            end += 1
        return end

    def read_int(self, pos: int, what: str) -> Tuple[int, int]:
        end = pos
        while end < self.n and self.text[end] in _DIGITS:
            end += 1
        if end == pos:
            raise self.error(f"expected {what}, found {self._show(pos)}", pos)
        return int(self.text[pos:end]), end

    def read_char(self, pos: int, context: str) -> Tuple[int, int]:
        """One character (possibly an escape) of a literal or class: (code point, next pos)."""
        text = self.text
        if pos >= self.n:
            raise self.error(f"unexpected end of input inside {context}", pos)
        c = text[pos]
        if c != "\\":
            return ord(c), pos + 1
        e = text[pos + 1] if pos + 1 < self.n else ""
        if e in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[e], pos + 2
        if e in _HEX_ESCAPES:
            size = _HEX_ESCAPES[e]
            digits = text[pos + 2:pos + 2 + size]
            if len(digits) != size or any(d not in "0123456789abcdefABCDEF" for d in digits):
                raise self.error(f"'\\{e}' must be followed by exactly {size} hex digits", pos)
            return int(digits, 16), pos + 2 + size
        if not e:
            raise self.error(f"a lone backslash ends the input inside {context}", pos)
        shown = "\\" + e
        raise self.error(f"unknown escape '{shown}' in {context}; {_ESCAPE_HELP}", pos)

    # ----- grammar structure -----------------------------------------------------

    def run(self, root: str) -> ParsedGrammar:
        bad = _UNENCODABLE.search(self.text)
        if bad is not None:
            if bad.group() == "\x00":
                raise self.error("NUL character in the grammar text (llama.cpp would stop reading there); "
                                 "remove it, or write \\x00 inside a literal or class", bad.start())
            raise self.error("lone surrogate in the grammar text: it cannot be encoded as UTF-8", bad.start())
        pos = self.skip_space(0, True)
        while pos < self.n:
            pos = self.parse_rule(pos)
        self.check_defined()
        if not self.user_rules:
            raise GrammarError("the grammar is empty (no rules); a grammar needs at least "
                               f"'{root} ::= ...'")
        rid = self.symbols.get(root)
        if rid is None or rid not in self.rules:
            raise GrammarError(f"no '{root}' rule: generation starts from '{root}', "
                               f"so define it, e.g. '{root} ::= ...'")
        self.check_left_recursion()
        return ParsedGrammar(rules=list(self.user_rules), token_texts=self.token_texts,
                             token_ids=self.token_ids)

    def parse_rule(self, pos: int) -> int:
        start = pos
        end = self.name_end(pos)
        if end == pos:
            hint = ""
            if self.text[pos] == "|":
                hint = ("; an alternative cannot start a line outside parentheses: end the previous line "
                        "with '|' or wrap the alternatives in ( ... )")
            elif self.text[pos] in "\"[(":
                hint = "; a continuation line is only allowed after '|' or inside parentheses"
            raise self.error(f"expected a rule name ([a-zA-Z0-9-]+) to start a rule, found {self._show(pos)}{hint}",
                             pos)
        name = self.text[start:end]
        rid = self.symbol(name)
        pos = self.skip_space(end, False)
        if self.text[pos:pos + 3] != "::=":
            hint = ""
            if pos < self.n and self.text[pos] in "\r\n":
                hint = " (the '::=' must be on the same line as the rule name)"
            raise self.error(f"expected '::=' after rule name '{name}', found {self._show(pos)}{hint}", pos)
        pos = self.skip_space(pos + 3, True)
        if rid not in self.rules:
            self.user_rules.append(name)
        self.defined_at[rid] = start
        pos = self.parse_alternates(pos, name, rid, nested=False)
        if pos < self.n:
            c = self.text[pos]
            if c == "\r":
                pos += 2 if self.text[pos + 1:pos + 2] == "\n" else 1
            elif c == "\n":
                pos += 1
            else:
                raise self.error(self._unexpected(pos, name), pos)
        return self.skip_space(pos, True)

    def _unexpected(self, pos: int, rule: str) -> str:
        c = self.text[pos]
        if c == ")":
            return f"unmatched ')' in rule '{rule}'"
        if c == ":":
            return (f"unexpected ':' in rule '{rule}': each rule must start on a new line "
                    "(did a newline go missing before the next rule?)")
        if c == "'":
            return f"unexpected \"'\" in rule '{rule}': GBNF literals use double quotes, e.g. \"abc\""
        if c in "]}>":
            return f"unmatched {c!r} in rule '{rule}'"
        return (f"unexpected {c!r} in rule '{rule}': expected a literal, class, rule name, group, "
                "'|', a repetition operator or the end of the line")

    def parse_alternates(self, pos: int, rule_name: str, rid: int, nested: bool) -> int:
        alternatives: List[List[int]] = []
        alt: List[int] = []
        pos = self.parse_sequence(pos, rule_name, alt, nested)
        alternatives.append(alt)
        while pos < self.n and self.text[pos] == "|":
            pos = self.skip_space(pos + 1, True)
            alt = []
            pos = self.parse_sequence(pos, rule_name, alt, nested)
            alternatives.append(alt)
        self.rules[rid] = alternatives
        return pos

    def parse_sequence(self, pos: int, rule_name: str, alt: List[int], nested: bool) -> int:
        text, n = self.text, self.n
        last_start = len(alt)
        n_prev = 1
        while pos < n:
            c = text[pos]
            if c == '"':
                open_pos = pos
                pos += 1
                last_start = len(alt)
                n_prev = 1
                while True:
                    if pos >= n:
                        raise self.error("unterminated string literal: add the closing '\"'", open_pos)
                    if text[pos] == '"':
                        break
                    cp, nxt = self.read_char(pos, "a string literal")
                    if not 1 <= cp <= MAX_CODE_POINT:
                        raise self.error(f"the literal character U+{cp:04X} can never be generated "
                                         "(must be between U+0001 and U+10FFFF)", pos)
                    pos = nxt
                    alt.append(_TERMINAL)
                pos = self.skip_space(pos + 1, nested)
            elif c == "[":
                pos, has_items = self.parse_class(pos)
                last_start = len(alt)
                n_prev = 1
                if has_items:  # llama.cpp emits no element at all for "[]" / "[^]"
                    alt.append(_TERMINAL)
                pos = self.skip_space(pos, nested)
            elif c == "<" or c == "!":
                pos = self.parse_token(pos)
                last_start = len(alt)
                n_prev = 1
                alt.append(_TERMINAL)
                pos = self.skip_space(pos, nested)
            elif c in _WORD_CHARS:
                end = self.name_end(pos)
                ref = self.symbol(text[pos:end])
                self.first_ref.setdefault(ref, pos)
                pos = self.skip_space(end, nested)
                last_start = len(alt)
                n_prev = 1
                alt.append(ref)
            elif c == "(":
                open_pos = pos
                if self.depth >= MAX_NESTING:
                    raise self.error(f"groups are nested more than {MAX_NESTING} levels deep; move inner groups "
                                     "into rules of their own", pos)
                self.depth += 1
                pos = self.skip_space(pos + 1, True)
                before = len(self.names)
                sub = self.helper_symbol(rule_name)
                pos = self.parse_alternates(pos, rule_name, sub, nested=True)
                self.depth -= 1
                n_prev = max(1, len(self.names) - before)
                last_start = len(alt)
                alt.append(sub)
                if pos >= n or text[pos] != ")":
                    line, column, _ = self._where(open_pos)
                    found = self._show(pos)
                    raise self.error(f"expected ')' to close the group opened at line {line}, column {column}, "
                                     f"found {found}", pos)
                pos = self.skip_space(pos + 1, nested)
            elif c == ".":
                last_start = len(alt)
                n_prev = 1
                alt.append(_TERMINAL)
                pos = self.skip_space(pos + 1, nested)
            elif c in "*+?":
                op_pos = pos
                pos = self.skip_space(pos + 1, nested)
                lo, hi = _OPERATORS[c]
                n_prev = self.repeat(alt, last_start, n_prev, lo, hi, rule_name, op_pos, c)
            elif c == "{":
                op_pos = pos
                pos = self.skip_space(pos + 1, nested)
                lo, pos = self.read_int(pos, "a repetition count after '{'")
                pos = self.skip_space(pos, nested)
                if pos < n and text[pos] == "}":
                    hi = lo
                    pos = self.skip_space(pos + 1, nested)
                elif pos < n and text[pos] == ",":
                    pos = self.skip_space(pos + 1, nested)
                    hi = None
                    if pos < n and text[pos] in _DIGITS:
                        hi, pos = self.read_int(pos, "a repetition count")
                        pos = self.skip_space(pos, nested)
                    if pos >= n or text[pos] != "}":
                        raise self.error(f"expected '}}' to end the repetition, found {self._show(pos)}", pos)
                    pos = self.skip_space(pos + 1, nested)
                else:
                    raise self.error(f"expected ',' or '}}' in the repetition, found {self._show(pos)}", pos)
                if lo > _UINT64_MAX or (hi is not None and hi > _UINT64_MAX):
                    raise self.error("repetition count is too large", op_pos)
                if lo > MAX_REPETITIONS:
                    raise self.error(f"repetition minimum {lo} exceeds llama.cpp's limit of {MAX_REPETITIONS}", op_pos)
                if hi is not None and hi < lo:
                    raise self.error(f"repetition {{{lo},{hi}}} has a maximum below its minimum; "
                                     f"write {{{hi},{lo}}}", op_pos)
                if hi is not None and hi > MAX_REPETITIONS:
                    hi = None  # llama.cpp treats a maximum above the limit as "no maximum"
                n_prev = self.repeat(alt, last_start, n_prev, lo, hi, rule_name, op_pos, text[op_pos:pos].strip())
            else:
                break
        return pos

    def repeat(self, alt: List[int], last_start: int, n_prev: int, lo: int, hi: Optional[int],
               rule_name: str, op_pos: int, op: str) -> int:
        """Expand ``item{lo,hi}`` in place the way llama.cpp does; returns the new symbol count."""
        if last_start == len(alt):
            raise self.error(f"'{op}' has nothing to repeat: put it right after a literal, class, "
                             "rule name or group", op_pos)
        item = alt[last_start:]
        if hi is not None and hi > 0:
            total = hi
        elif lo > 0:
            total = lo
        else:
            total = 1
        if n_prev * total > MAX_REPETITIONS:
            raise self.error(f"this repetition would expand into {n_prev * total} rules, more than llama.cpp's "
                             f"limit of {MAX_REPETITIONS}; reduce the counts or simplify the repeated group",
                             op_pos)
        if lo == 0:
            del alt[last_start:]
        else:
            for _ in range(lo - 1):
                alt.extend(item)
        n_opt = 1 if hi is None else hi - lo
        last = -1
        for i in range(n_opt):
            helper = self.helper_symbol(rule_name)
            body = list(item)
            if hi is None:
                body.append(helper)
            elif i > 0:
                body.append(last)
            self.rules[helper] = [body, []]
            last = helper
        if n_opt > 0:
            alt.append(last)
        return n_prev * total

    def parse_class(self, pos: int) -> Tuple[int, bool]:
        """A ``[...]`` class starting at ``pos``: (position after ``]``, whether it has items)."""
        text, n = self.text, self.n
        open_pos = pos
        pos += 1
        negated = pos < n and text[pos] == "^"
        if negated:
            pos += 1
        ranges: List[Tuple[int, int]] = []
        while True:
            if pos >= n:
                raise self.error("unterminated character class: add the closing ']'", open_pos)
            if text[pos] == "]":
                break
            item_pos = pos
            lo, pos = self.read_char(pos, "a character class")
            hi = lo
            if pos < n and text[pos] == "-" and (pos + 1 < n and text[pos + 1] != "]"):
                hi, pos = self.read_char(pos + 1, "a character class")
                if hi < lo:
                    raise self.error(f"character range {text[item_pos:pos]!s} is reversed "
                                     f"(U+{lo:04X} > U+{hi:04X}) and matches nothing; swap its ends", item_pos)
            elif pos < n and text[pos] == "-" and pos + 1 >= n:
                raise self.error("unterminated character class: add the closing ']'", open_pos)
            ranges.append((lo, hi))
        pos += 1
        if ranges and not self._class_can_match(ranges, negated):
            raise self.error(f"character class {text[open_pos:pos]} can never match a character", open_pos)
        return pos, bool(ranges)

    @staticmethod
    def _class_can_match(ranges: List[Tuple[int, int]], negated: bool) -> bool:
        clipped = sorted((max(lo, 1), min(hi, MAX_CODE_POINT)) for lo, hi in ranges)
        clipped = [(lo, hi) for lo, hi in clipped if lo <= hi]
        if not negated:
            return bool(clipped)
        covered_to = 0  # everything in [1, covered_to] is excluded so far
        for lo, hi in clipped:
            if lo > covered_to + 1:
                return True
            covered_to = max(covered_to, hi)
        return covered_to < MAX_CODE_POINT

    def parse_token(self, pos: int) -> int:
        """``<[id]>``, ``<text>`` or their ``!`` negations; returns the position after ``>``."""
        text, n = self.text, self.n
        start = pos
        if text[pos] == "!":
            pos += 1
            if pos >= n or text[pos] != "<":
                raise self.error("'!' must be followed by a token reference such as !<[123]> or !<text>", start)
        pos += 1
        if pos < n and text[pos] == "[":
            value, end = self.read_int(pos + 1, "a token id in <[...]>")
            if value > _UINT32_MAX:
                raise self.error(f"token id {value} is out of range", pos + 1)
            if end >= n or text[end] != "]":
                raise self.error(f"expected ']' after the token id, found {self._show(end)}", end)
            if end + 1 >= n or text[end + 1] != ">":
                raise self.error(f"expected '>' to end the token reference, found {self._show(end + 1)}", end + 1)
            self.token_ids.append(value)
            return end + 2
        close = text.find(">", pos)
        if close == -1:
            raise self.error("unterminated token reference: add the closing '>'", start)
        self.token_texts.append(text[pos - 1:close + 1])
        return close + 1

    # ----- whole-grammar checks --------------------------------------------------

    def check_defined(self) -> None:
        for sid, name in enumerate(self.names):
            if sid not in self.rules:
                at = self.first_ref.get(sid, 0)
                raise self.error(f"undefined rule '{name}': add a definition '{name} ::= ...' "
                                 "or fix the spelling of the reference", at)

    def _label(self, sid: int) -> str:
        """The user-facing rule a (possibly helper) symbol belongs to."""
        name = self.names[sid]
        return name.split("_", 1)[0]

    def check_left_recursion(self) -> None:
        """Reject a cycle of leftmost references, as llama.cpp does.

        llama.cpp follows a reference past a rule only when that rule has an
        empty alternative written directly (it does not look further), so
        this check uses the same notion of "may be empty".
        """
        empty = {sid for sid, alts in self.rules.items() if any(not a for a in alts)}
        edges: Dict[int, List[int]] = {}
        for sid, alts in self.rules.items():
            targets: List[int] = []
            for a in alts:
                for element in a:
                    if element == _TERMINAL:
                        break
                    targets.append(element)
                    if element not in empty:
                        break
            edges[sid] = targets
        state: Dict[int, int] = {}  # 1 = on the current path, 2 = finished
        for start in sorted(self.rules):
            if state.get(start):
                continue
            path: List[int] = [start]
            iters = [iter(edges[start])]
            state[start] = 1
            while iters:
                nxt = next(iters[-1], None)
                if nxt is None:
                    state[path.pop()] = 2
                    iters.pop()
                    continue
                mark = state.get(nxt)
                if mark == 1:
                    cycle = path[path.index(nxt):] + [nxt]
                    self._raise_left_recursion(cycle)
                if mark is None:
                    state[nxt] = 1
                    path.append(nxt)
                    iters.append(iter(edges[nxt]))

    def _raise_left_recursion(self, cycle: List[int]) -> None:
        labels: List[str] = []
        for sid in cycle:
            label = self._label(sid)
            if not labels or labels[-1] != label:
                labels.append(label)
        if len(labels) == 1:
            labels.append(labels[0])
        head = labels[0]
        via_helper = any("_" in self.names[sid] for sid in cycle)
        head_id = self.symbols.get(head)
        at = self.defined_at.get(head_id, 0) if head_id is not None else 0
        raise self.error(f"rule '{head}' is left-recursive ({' -> '.join(labels)}): llama.cpp cannot use a rule "
                         "that can reach itself before consuming any character; rewrite it with repetition, "
                         "e.g. 'expr ::= term (\"+\" term)*' instead of 'expr ::= expr \"+\" term | term'"
                         + ("; a repeated group whose body can be empty, like (|\"a\")*, counts too" if via_helper else ""),
                         at)
