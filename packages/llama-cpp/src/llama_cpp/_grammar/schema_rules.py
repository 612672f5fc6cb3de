"""The building blocks of the JSON Schema converter: built-in rules, literals, keyword tables.

``llama_cpp._grammar.json_schema`` walks a schema and emits rules; this
module holds what does not depend on the walk: the primitive and string-format
rules (GBNF bodies), GBNF literal escaping, the keyword sets the converter
accepts, ignores or rejects, and small value helpers.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable, Dict, List, Optional, Sequence

from .regex import repeat_expression


class SchemaError(ValueError, AssertionError):
    """A JSON Schema the converter cannot turn into a grammar.

    A ``ValueError``; also an ``AssertionError`` because llama-cpp-python
    signalled the same conditions with failed assertions, and callers may
    catch that.
    """


class BuiltinRule:
    """A predefined rule body and the names of the predefined rules it uses."""

    def __init__(self, content: str, deps: Optional[Sequence[str]] = None) -> None:
        self.content = content
        self.deps: List[str] = list(deps or [])

    def __repr__(self) -> str:
        return f"BuiltinRule({self.content!r}, {self.deps!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BuiltinRule) and (self.content, self.deps) == (other.content, other.deps)

    def __hash__(self) -> int:
        return hash((self.content, tuple(self.deps)))


#: At most one space between tokens.
SPACE_RULE = '" "?'
#: Runs of characters that cannot appear in a rule name (replaced by ``-``).
INVALID_RULE_CHARS_RE = re.compile(r"[^a-zA-Z0-9-]+")
#: Characters that must be escaped inside a GBNF string literal.
GRAMMAR_LITERAL_ESCAPE_RE = re.compile(r'[\x00-\x1f"\\]')
#: Their escaped spellings (other control characters become ``\xHH``).
GRAMMAR_LITERAL_ESCAPES: Dict[str, str] = {"\r": "\\r", "\n": "\\n", "\t": "\\t", '"': '\\"', "\\": "\\\\"}
#: Any character, and any character but a line break.
DOTALL = "[\\U00000000-\\U0010FFFF]"
DOT = "[^\\x0A\\x0D]"
#: Regex metacharacters (a pattern made only of other characters is a literal).
NON_LITERAL_SET = frozenset("|.()[]{}*+?")
#: Characters that need a backslash in a regex but not in a GBNF literal.
ESCAPED_IN_REGEXPS_BUT_NOT_IN_LITERALS = frozenset("[]()|{}*+?")


def _optional_digits(count: int) -> str:
    """Up to ``count`` digits as nested optionals: ([0-9] ([0-9] (...)?)?)?"""
    text = ""
    for _ in range(count):
        text = "([0-9]" + (" " + text if text else "") + ")?"
    return text


_HEX = "[0-9a-fA-F]"
# A JSON string character: anything but '"', '\' and control characters, or an
# escape; \u escapes exclude surrogates so every escape decodes to one code point.
_CHAR = ('[^"\\\\\\x7F\\x00-\\x1F] | "\\\\" (["\\\\/bfnrt] | "u" ([0-9a-cA-CefEF] ' + _HEX + "{3} | [dD] [0-7] "
         + _HEX + "{2}))")

#: The rules every grammar can draw on, by name.
PRIMITIVE_RULES: Dict[str, BuiltinRule] = {
    "boolean": BuiltinRule('("true" | "false") space', []),
    "decimal-part": BuiltinRule("[0-9] " + _optional_digits(15), []),
    "integral-part": BuiltinRule("[0-9] | [1-9] " + _optional_digits(15), []),
    "number": BuiltinRule('("-"? integral-part) ("." decimal-part)? ([eE] [-+]? integral-part)? space',
                          ["integral-part", "decimal-part"]),
    "integer": BuiltinRule('("-"? integral-part) space', ["integral-part"]),
    "value": BuiltinRule("object | array | string | number | boolean | null",
                         ["object", "array", "string", "number", "boolean", "null"]),
    "object": BuiltinRule('"{" space ( string ":" space value ("," space string ":" space value)* )? "}" space',
                          ["string", "value"]),
    "array": BuiltinRule('"[" space ( value ("," space value)* )? "]" space', ["value"]),
    "uuid": BuiltinRule('"\\"" ' + " \"-\" ".join(f"{_HEX}{{{n}}}" for n in (8, 4, 4, 4, 12)) + ' "\\"" space',
                        []),
    "char": BuiltinRule(_CHAR, []),
    "string": BuiltinRule('"\\"" char* "\\"" space', ["char"]),
    "null": BuiltinRule('"null" space', []),
}

_DAY_31 = '"0" [1-9] | [12] [0-9] | "3" [01]'
_DAY_30 = '"0" [1-9] | [12] [0-9] | "30"'
_DAY_28 = '"0" [1-9] | "1" [0-9] | "2" [0-8]'
_HOUR = '[01] [0-9] | "2" [0-3]'

#: Rules for the supported ``format`` values (``*-string`` ones include the quotes).
STRING_FORMAT_RULES: Dict[str, BuiltinRule] = {
    # years 1000-2999; February stops at the 28th so every date is a real one
    "date": BuiltinRule(f'[12] [0-9]{{3}} "-" ( ("0" [13578] | "1" [02]) "-" ({_DAY_31}) | '
                        f'("0" [469] | "11") "-" ({_DAY_30}) | "02" "-" ({_DAY_28}) )', []),
    "time": BuiltinRule(f'({_HOUR}) ":" [0-5] [0-9] ":" [0-5] [0-9] ( "." [0-9]{{1,3}} )? '
                        f'( "Z" | [+-] ({_HOUR}) ":" [0-5] [0-9] )', []),
    "date-time": BuiltinRule('date "T" time', ["date", "time"]),
    "date-string": BuiltinRule('"\\"" date "\\"" space', ["date"]),
    "time-string": BuiltinRule('"\\"" time "\\"" space', ["time"]),
    "date-time-string": BuiltinRule('"\\"" date-time "\\"" space', ["date-time"]),
}

#: Names a schema-derived rule may not take (a trailing ``-`` is added).
RESERVED_NAMES = frozenset(["root", "dot", *PRIMITIVE_RULES, *STRING_FORMAT_RULES])

_BUILTIN_NAMES = frozenset([*PRIMITIVE_RULES, *STRING_FORMAT_RULES])
_FORMAT_RULE = {"date": "date-string", "time": "time-string", "date-time": "date-time-string",
                "uuid": "uuid", "uuid1": "uuid", "uuid2": "uuid", "uuid3": "uuid", "uuid4": "uuid",
                "uuid5": "uuid"}
_PRIMITIVE_TYPES = ("string", "number", "integer", "boolean", "null", "array", "object")
# Keywords that would need support this converter lacks; a schema using them
# in a way that could be violated is rejected rather than silently loosened.
_REJECTED = ("dependentRequired", "dependentSchemas", "dependencies", "$dynamicRef", "$recursiveRef")
# Keywords that only describe; a schema made of these alone accepts any value.
_ANNOTATIONS = frozenset(["title", "description", "default", "examples", "example", "$schema", "$id", "$comment",
                          "$anchor", "deprecated", "readOnly", "writeOnly", "$defs", "definitions", "nullable",
                          "discriminator", "contentEncoding", "contentMediaType", "unevaluatedProperties",
                          "unevaluatedItems", "additionalItems", "minContains", "maxContains", "multipleOf",
                          "uniqueItems", "contains", "not", "if", "then", "else", "patternProperties"])
_CHUNKED_REPEAT_FROM = 64  # longer optional chains use {m,n} instead of nested groups


def _escape_literal_char(match: re.Match[str]) -> str:
    ch = match.group(0)
    return GRAMMAR_LITERAL_ESCAPES.get(ch) or f"\\x{ord(ch):02X}"


def _literal(text: str) -> str:
    return '"' + GRAMMAR_LITERAL_ESCAPE_RE.sub(_escape_literal_char, text) + '"'


def _json_literal(value: Any) -> str:
    try:
        return _literal(json.dumps(value, allow_nan=False))
    except ValueError as exc:
        raise SchemaError(f"cannot write {value!r} as JSON for enum/const: {exc}") from exc


def _type_matches(value: Any, type_name: str) -> bool:
    if type_name == "string":
        return isinstance(value, str)
    if type_name == "boolean":
        return isinstance(value, bool)
    if type_name == "null":
        return value is None
    if type_name == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer())
    if type_name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if type_name == "array":
        return isinstance(value, list)
    if type_name == "object":
        return isinstance(value, dict)
    return False


def _repeat_with_separator(item: str, lo: int, hi: Optional[int], separator: Optional[str],
                           make_rule: Optional[Callable[[str], str]] = None) -> str:
    """``item`` lo..hi times, separated by ``separator`` (a GBNF sequence) when given.

    Short optional tails are nested groups (``a ("," a ("," a)?)?``), long ones
    use counted repetition so the grammar stays shallow. A long list that may
    be empty goes through a helper rule made by ``make_rule`` (a group around
    counted repetitions could exceed llama.cpp's limit on generated rules).
    """
    sep = f"{separator} " if separator else ""
    parts: List[str] = []
    if lo > 0:
        parts.append(" ".join([item] + [f"{sep}{item}"] * (lo - 1)))
    later = f"({sep}{item})" if separator else item
    if hi is None:
        if lo == 0:
            parts.append(f"({item} {later}*)?" if separator else f"{item}*")
        else:
            parts.append(f"{later}*")
    elif hi > lo:
        extra = hi - lo
        if extra >= _CHUNKED_REPEAT_FROM:
            if lo == 0 and separator:
                body = f"{item} {repeat_expression(later, 0, extra - 1)}"
                if make_rule is None:
                    raise SchemaError("internal: a helper rule is needed for a long optional list")
                parts.append(f"{make_rule(body)}?")
            else:
                parts.append(repeat_expression(later, 0, extra))
        else:
            first = f"{sep}{item}" if lo > 0 else item
            nested = ""
            for level in range(extra - 1, -1, -1):
                content = first if level == 0 else f"{sep}{item}"
                nested = f"({content}{' ' + nested if nested else ''})?"
            parts.append(nested)
    return " ".join(parts)


_NUMBER_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
_LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _as_int(value: Any, keyword: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SchemaError(f"'{keyword}' must be a number, got {value!r}")
    if isinstance(value, float) and not value.is_integer():
        raise SchemaError(f"'{keyword}' must be a whole number, got {value!r}")
    return int(value)
