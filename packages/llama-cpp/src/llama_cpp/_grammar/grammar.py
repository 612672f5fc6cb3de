"""``LlamaGrammar``: a GBNF grammar checked in Python, ready for llama.cpp's grammar sampler."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, List, Union

from .gbnf import parse_gbnf
from .json_schema import json_schema_to_gbnf

__all__ = ["LLAMA_GRAMMAR_DEFAULT_ROOT", "LlamaGrammar"]

#: The rule generation starts from.
LLAMA_GRAMMAR_DEFAULT_ROOT = "root"


class LlamaGrammar:
    """A GBNF grammar that constrains sampling.

    The text is checked when the object is made (see
    :func:`llama_cpp._grammar.gbnf.parse_gbnf`): a grammar llama.cpp would
    refuse raises :class:`~llama_cpp._grammar.gbnf.GrammarError`, a
    ``ValueError`` naming the line, column and fix. The object only holds
    text; ``Llama`` builds a fresh native grammar sampler from ``_grammar``
    and ``_root`` for every generation, so no parse state carries over.

    Token references written as text (``<think>``) can only be resolved with
    a vocabulary; they are listed in ``_token_texts`` and checked by llama.cpp
    when the sampler is built.
    """

    def __init__(self, *args: Any, _grammar: str, **kwargs: Any) -> None:
        parsed = parse_gbnf(_grammar, LLAMA_GRAMMAR_DEFAULT_ROOT)
        self._grammar: str = _grammar
        self._root: str = LLAMA_GRAMMAR_DEFAULT_ROOT
        self._rules: List[str] = parsed.rules
        self._token_texts: List[str] = parsed.token_texts

    @classmethod
    def from_string(cls, grammar: str, verbose: bool = True) -> LlamaGrammar:
        """A grammar from GBNF text; raises ``ValueError`` (``GrammarError``) if it is malformed."""
        return cls(_grammar=grammar)

    @classmethod
    def from_file(cls, file: Union[str, Path], verbose: bool = True) -> LlamaGrammar:
        """A grammar from a GBNF file (UTF-8)."""
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
        """A grammar for JSON documents valid under ``json_schema`` (a JSON string).

        Raises ``ValueError`` (``SchemaError``) naming the keyword when the
        schema cannot be converted.
        """
        return cls.from_string(json_schema_to_gbnf(json_schema), verbose=verbose)

    def __repr__(self) -> str:
        return f"<LlamaGrammar root={self._root!r} rules={len(self._rules)} chars={len(self._grammar)}>"
