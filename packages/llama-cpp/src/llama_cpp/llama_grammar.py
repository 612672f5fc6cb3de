"""GBNF grammars for constrained generation (``Llama(...).create_completion(grammar=...)``).

``LlamaGrammar`` holds a grammar that has been checked in Python, so a
malformed one raises ``ValueError`` here instead of failing inside llama.cpp;
``json_schema_to_gbnf`` turns a JSON Schema into such a grammar. The
``*_GBNF`` constants are ready-made grammars. The implementation lives in
``llama_cpp._grammar``.
"""

from __future__ import annotations

from ._grammar.gbnf import GrammarError
from ._grammar.grammar import LLAMA_GRAMMAR_DEFAULT_ROOT, LlamaGrammar
from ._grammar.json_schema import SchemaConverter, json_schema_to_gbnf
from ._grammar.samples import (
    ARITHMETIC_GBNF,
    C_GBNF,
    CHESS_GBNF,
    JAPANESE_GBNF,
    JSON_ARR_GBNF,
    JSON_GBNF,
    LIST_GBNF,
)
from ._grammar.schema_rules import (
    DOT,
    DOTALL,
    ESCAPED_IN_REGEXPS_BUT_NOT_IN_LITERALS,
    GRAMMAR_LITERAL_ESCAPE_RE,
    GRAMMAR_LITERAL_ESCAPES,
    INVALID_RULE_CHARS_RE,
    NON_LITERAL_SET,
    PRIMITIVE_RULES,
    RESERVED_NAMES,
    SPACE_RULE,
    STRING_FORMAT_RULES,
    BuiltinRule,
    SchemaError,
)

__all__ = [
    "LLAMA_GRAMMAR_DEFAULT_ROOT",
    "LlamaGrammar",
    "GrammarError",
    "SchemaError",
    "ARITHMETIC_GBNF",
    "C_GBNF",
    "CHESS_GBNF",
    "JAPANESE_GBNF",
    "JSON_ARR_GBNF",
    "JSON_GBNF",
    "LIST_GBNF",
    "SPACE_RULE",
    "INVALID_RULE_CHARS_RE",
    "GRAMMAR_LITERAL_ESCAPE_RE",
    "GRAMMAR_LITERAL_ESCAPES",
    "BuiltinRule",
    "PRIMITIVE_RULES",
    "STRING_FORMAT_RULES",
    "DOTALL",
    "DOT",
    "RESERVED_NAMES",
    "NON_LITERAL_SET",
    "ESCAPED_IN_REGEXPS_BUT_NOT_IN_LITERALS",
    "SchemaConverter",
    "json_schema_to_gbnf",
]
