"""Grammars the chat handlers constrain generation with (built on ``llama_cpp.llama_grammar``)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Iterable, Optional

from .._logger import logger

if TYPE_CHECKING:  # pragma: no cover
    from ..llama_grammar import LlamaGrammar

__all__ = ["gbnf_choice", "gbnf_literal", "grammar_from_gbnf", "json_grammar"]


def grammar_from_gbnf(text: str, verbose: bool = False) -> LlamaGrammar:
    from ..llama_grammar import LlamaGrammar

    return LlamaGrammar.from_string(text, verbose=verbose)


def json_grammar(schema: Optional[Any] = None, verbose: bool = False) -> LlamaGrammar:
    """A grammar for JSON matching ``schema``; any JSON object when there is no schema.

    A schema the converter cannot handle falls back to the generic JSON-object
    grammar (logged as a warning), so the output is still JSON.
    """
    from ..llama_grammar import JSON_GBNF, LlamaGrammar

    if schema is not None:
        try:
            return LlamaGrammar.from_json_schema(json.dumps(schema), verbose=verbose)
        except Exception as exc:  # the converter rejects parts of JSON Schema it does not support
            logger.warning("JSON schema could not be turned into a grammar (%s); constraining to any JSON object", exc)
    return LlamaGrammar.from_string(JSON_GBNF, verbose=verbose)


def gbnf_literal(text: str) -> str:
    """``text`` as a quoted GBNF string literal."""
    escaped = []
    for ch in text:
        if ch == "\\":
            escaped.append("\\\\")
        elif ch == '"':
            escaped.append('\\"')
        elif ch == "\n":
            escaped.append("\\n")
        elif ch == "\r":
            escaped.append("\\r")
        elif ch == "\t":
            escaped.append("\\t")
        elif ord(ch) < 0x20 or ch == "\x7f":
            escaped.append(f"\\x{ord(ch):02X}")
        else:
            escaped.append(ch)
    return '"' + "".join(escaped) + '"'


def gbnf_choice(options: Iterable[str]) -> str:
    """An alternation of literals: ``"a" | "b"``."""
    return " | ".join(gbnf_literal(o) for o in options)
