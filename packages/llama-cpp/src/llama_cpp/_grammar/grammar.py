"""``LlamaGrammar``: a GBNF grammar checked in Python, ready for llama.cpp's grammar sampler."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, List, Union

from .gbnf import parse_gbnf
from .json_schema import json_schema_to_gbnf

__all__ = ["LLAMA_GRAMMAR_DEFAULT_ROOT", "LlamaGrammar"]

LLAMA_GRAMMAR_DEFAULT_ROOT = "root"
"""The rule generation starts from."""


class LlamaGrammar:
    """A GBNF grammar that constrains sampling.

    Pass it as ``grammar=`` to ``Llama.create_completion``,
    ``create_chat_completion`` or ``generate``: at every step, tokens that would
    break the grammar are ruled out by llama.cpp's grammar sampler.

    The text is checked when the object is made, by the rules of llama.cpp's own
    parser: a grammar llama.cpp would refuse (or crash on) raises ``GrammarError``,
    a ``ValueError`` naming the line, column and fix. The object only holds text;
    ``Llama`` builds a fresh native grammar sampler for every generation, so one
    grammar can be reused for any number of calls.

    Token references written as text (``<think>``) can only be resolved with a
    vocabulary; they are checked by llama.cpp when the sampler is built.

    Make one with ``from_string``, ``from_file`` or ``from_json_schema``.
    """

    def __init__(self, *args: Any, _grammar: str, **kwargs: Any) -> None:
        parsed = parse_gbnf(_grammar, LLAMA_GRAMMAR_DEFAULT_ROOT)
        self._grammar: str = _grammar
        self._root: str = LLAMA_GRAMMAR_DEFAULT_ROOT
        self._rules: List[str] = parsed.rules
        self._token_texts: List[str] = parsed.token_texts

    @classmethod
    def from_string(cls, grammar: str, verbose: bool = True) -> LlamaGrammar:
        """Make a grammar from GBNF text.

        Args:
            grammar: The grammar in llama.cpp's GBNF format; generation starts at
                its ``root`` rule.
            verbose: Accepted for compatibility; nothing is printed either way.

        Returns:
            The checked grammar.

        Raises:
            GrammarError: The text is not a grammar llama.cpp can run (a
                ``ValueError`` with ``line``, ``column`` and ``reason``).
        """
        return cls(_grammar=grammar)

    @classmethod
    def from_file(cls, file: Union[str, Path], verbose: bool = True) -> LlamaGrammar:
        """Make a grammar from a GBNF file.

        Args:
            file: Path of a UTF-8 text file holding the grammar.
            verbose: Accepted for compatibility; nothing is printed either way.

        Returns:
            The checked grammar.

        Raises:
            OSError: The file cannot be read or is not UTF-8.
            ValueError: The file is empty, or holds a malformed grammar
                (``GrammarError``).
        """
        try:
            with open(os.fspath(file), encoding="utf-8") as handle:
                grammar = handle.read()
        except (OSError, UnicodeDecodeError) as err:
            raise OSError(f"from_file: error reading grammar file: {err}") from err
        if not grammar:
            raise ValueError("from_file: error parsing grammar file: params_grammer is empty")
        return cls.from_string(grammar, verbose=verbose)

    @classmethod
    def from_json_schema(cls, json_schema: str, verbose: bool = True) -> LlamaGrammar:
        """Make a grammar whose every output is a JSON document valid under a JSON Schema.

        The schema is converted to GBNF by ``json_schema_to_gbnf``; the guide
        "JSON mode, JSON Schema and grammars" lists the keywords it supports.

        Args:
            json_schema: The JSON Schema, as JSON text (``json.dumps(schema)``).
            verbose: Accepted for compatibility; nothing is printed either way.

        Returns:
            The grammar.

        Raises:
            SchemaError: ``json_schema`` is not valid JSON, uses a keyword or
                pattern the converter refuses, or no value can satisfy it. It is
                a ``ValueError`` whose message names the keyword, and also an
                ``AssertionError`` for code written against ``llama-cpp-python``.
        """
        return cls.from_string(json_schema_to_gbnf(json_schema), verbose=verbose)

    def __repr__(self) -> str:
        return f"<LlamaGrammar root={self._root!r} rules={len(self._rules)} chars={len(self._grammar)}>"
