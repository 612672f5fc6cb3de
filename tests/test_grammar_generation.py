"""Generation under grammars with the real model: every output is valid for its schema.

Each schema of ``data/schemas/corpus.json`` is generated greedily and at
temperature 1 (a different seed per schema), and a handful of structurally
rich ones with several more seeds. Every output must end by itself (not by
``max_tokens``), parse as JSON and validate against its schema with
``jsonschema``, formats included. The corpus bounds strings, arrays and
recursion (``maxLength``/``maxItems``, example-led prompts for recursive
shapes) so that sampling at temperature 1 cannot run on forever.
"""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path
from typing import Any, Dict, Iterator

import jsonschema
import pytest
from grammar_oracle import get_oracle

from llama_cpp import Llama
from llama_cpp.llama_grammar import ARITHMETIC_GBNF, JSON_ARR_GBNF, JSON_GBNF, LIST_GBNF, LlamaGrammar

CORPUS = json.loads((Path(__file__).parent / "data" / "schemas" / "corpus.json").read_text())
BY_NAME = {entry["name"]: entry for entry in CORPUS}
MAX_TOKENS = 320
# nested objects in arrays, recursion, anyOf, refs + nullable unions, allOf
SEED_SWEEP = ["order", "file_tree", "shape", "pydantic_model", "employee_allof", "linked_list"]


# jsonschema checks "time" and "date-time" only with an optional package; check them here
FORMATS = jsonschema.FormatChecker()
_TIME = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9]):([0-5][0-9]|60)(\.[0-9]+)?(Z|z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])")


@FORMATS.checks("time")
def _is_time(value: object) -> bool:
    return not isinstance(value, str) or _TIME.fullmatch(value) is not None


@FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    date, sep, time = value.partition("T")
    datetime.date.fromisoformat(date)
    return sep == "T" and _TIME.fullmatch(time) is not None


@pytest.fixture(scope="module")
def llm(model_path: str) -> Iterator[Llama]:
    # one thread per generated token: on a busy 2-core machine, two threads spinning at llama.cpp's
    # per-token barrier were seen to slow single generations down a hundredfold
    with Llama(model_path=model_path, n_ctx=2048, n_threads=1, n_threads_batch=2, verbose=False) as model:
        yield model


_GRAMMARS: Dict[str, LlamaGrammar] = {}


def grammar_for(entry: Dict[str, Any]) -> LlamaGrammar:
    if entry["name"] not in _GRAMMARS:
        _GRAMMARS[entry["name"]] = LlamaGrammar.from_json_schema(json.dumps(entry["schema"]))
    return _GRAMMARS[entry["name"]]


def generate_valid(llm: Llama, entry: Dict[str, Any], temperature: float, seed: int) -> Any:
    out = llm.create_completion(entry["prompt"], grammar=grammar_for(entry), temperature=temperature,
                                max_tokens=MAX_TOKENS, seed=seed)
    choice = out["choices"][0]
    text = choice["text"]
    assert choice["finish_reason"] == "stop", f"ran into max_tokens: {text!r}"
    value = json.loads(text)
    schema = entry["schema"]
    validator_class = jsonschema.validators.validator_for(schema)
    errors = [e.message for e in validator_class(schema, format_checker=FORMATS).iter_errors(value)]
    assert not errors, f"{text!r}: {errors}"
    return value


@pytest.mark.parametrize("entry", CORPUS, ids=[e["name"] for e in CORPUS])
def test_greedy_output_is_valid_for_its_schema(llm: Llama, entry: Dict[str, Any]) -> None:
    generate_valid(llm, entry, temperature=0.0, seed=0)


@pytest.mark.parametrize("index", range(len(CORPUS)), ids=[e["name"] for e in CORPUS])
def test_sampled_output_is_valid_for_its_schema(llm: Llama, index: int) -> None:
    generate_valid(llm, CORPUS[index], temperature=1.0, seed=1000 + index)


@pytest.mark.parametrize("name", SEED_SWEEP)
def test_several_seeds_all_valid(llm: Llama, name: str) -> None:
    outputs = [json.dumps(generate_valid(llm, BY_NAME[name], temperature=1.0, seed=seed), sort_keys=True)
               for seed in (11, 12, 13)]
    assert len(outputs) == 3


def test_greedy_grammar_generation_is_repeatable_and_streams_the_same(llm: Llama) -> None:
    entry = BY_NAME["weather"]
    first = llm.create_completion(entry["prompt"], grammar=grammar_for(entry), temperature=0, max_tokens=MAX_TOKENS)
    again = llm.create_completion(entry["prompt"], grammar=grammar_for(entry), temperature=0, max_tokens=MAX_TOKENS)
    chunks = llm.create_completion(entry["prompt"], grammar=grammar_for(entry), temperature=0,
                                   max_tokens=MAX_TOKENS, stream=True)
    streamed = "".join(c["choices"][0]["text"] for c in chunks)
    assert first["choices"][0]["text"] == again["choices"][0]["text"] == streamed
    json.loads(streamed)


def test_json_gbnf_gives_a_json_object(llm: Llama) -> None:
    out = llm.create_completion('A user as JSON, e.g. {"name": "Ann", "age": 3}\nAnother user as JSON:',
                                grammar=LlamaGrammar.from_string(JSON_GBNF), temperature=0, max_tokens=MAX_TOKENS)
    assert out["choices"][0]["finish_reason"] == "stop"
    assert isinstance(json.loads(out["choices"][0]["text"]), dict)


def test_plain_gbnf_grammars_constrain_the_text(llm: Llama, model_path: str) -> None:
    oracle = get_oracle(model_path)
    answer = LlamaGrammar.from_string('root ::= ("yes" | "no") "."')
    out = llm.create_completion("Is the sky blue? Answer:", grammar=answer, temperature=0, max_tokens=8)
    assert out["choices"][0]["text"] in ("yes.", "no.")
    cases = [(LIST_GBNF, "Three fruits:\n", 40), (ARITHMETIC_GBNF, "Some sums:\n", 40),
             (JSON_ARR_GBNF, "A list of numbers:", 40)]
    for text, prompt, budget in cases:
        out = llm.create_completion(prompt, grammar=LlamaGrammar.from_string(text), temperature=1.0, seed=5,
                                    max_tokens=budget)
        produced = out["choices"][0]["text"]
        finished = out["choices"][0]["finish_reason"] == "stop"
        assert produced
        # a finished text is a sentence of the grammar; one cut off by max_tokens is a prefix of one
        assert oracle.accepts(text, produced, complete=finished), produced
    assert not oracle.accepts(LIST_GBNF, "1. apples\n", complete=False)  # the oracle does say no
