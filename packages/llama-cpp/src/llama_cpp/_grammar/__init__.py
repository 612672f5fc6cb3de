"""Grammar support behind ``llama_cpp.llama_grammar``.

``gbnf``: the GBNF checker; ``json_schema``: the JSON Schema converter, with
``regex`` (patterns) and ``numeric`` (bounded numbers) as its helpers;
``samples``: the sample grammars; ``grammar``: ``LlamaGrammar``.
"""

from __future__ import annotations

from .gbnf import GrammarError, ParsedGrammar, parse_gbnf
from .grammar import LLAMA_GRAMMAR_DEFAULT_ROOT, LlamaGrammar
from .json_schema import SchemaConverter, SchemaError, json_schema_to_gbnf

__all__ = ["GrammarError", "ParsedGrammar", "parse_gbnf", "LLAMA_GRAMMAR_DEFAULT_ROOT", "LlamaGrammar",
           "SchemaConverter", "SchemaError", "json_schema_to_gbnf"]
