"""The JSON-Schema-to-GBNF converter: exact fixtures, then behaviour checked by llama.cpp's grammar engine.

Exact text is compared only where the spec gives it. Everything else is
checked by meaning: for each schema, llama.cpp's own grammar engine (see
``grammar_oracle``) must accept JSON documents that are valid and reject ones
that are not, with ``jsonschema`` deciding which is which.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any, List, Sequence

import jsonschema
import pytest
from grammar_oracle import GrammarOracle, get_oracle

from llama_cpp.llama_grammar import (
    PRIMITIVE_RULES,
    LlamaGrammar,
    SchemaConverter,
    SchemaError,
    json_schema_to_gbnf,
)

CORPUS = json.loads((Path(__file__).parent / "data" / "schemas" / "corpus.json").read_text())


@pytest.fixture(scope="module")
def oracle(model_path: str) -> GrammarOracle:
    return get_oracle(model_path)


def rules_of(grammar: str) -> dict:
    out = {}
    for line in grammar.split("\n"):
        name, body = line.split(" ::= ", 1)
        out[name] = body
    return out


def convert(schema: Any, **kw: Any) -> str:
    return json_schema_to_gbnf(json.dumps(schema), **kw)


def validator(schema: Any) -> jsonschema.protocols.Validator:
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def check(oracle: GrammarOracle, schema: Any, good: List[str], bad: List[str],
          excluded: Sequence[str] = ()) -> None:
    """The grammar for ``schema`` accepts every text in ``good`` and none in ``bad`` or ``excluded``.

    ``good`` texts must be valid documents; ``bad`` ones invalid JSON or
    invalid for the schema (checked here, so the lists cannot drift);
    ``excluded`` ones are valid but deliberately never generated.
    """
    grammar = convert(schema)
    LlamaGrammar.from_string(grammar)
    v = validator(schema)
    for text in good:
        assert v.is_valid(json.loads(text)), f"test data: {text} is not valid for {schema}"
    for text in bad:
        try:
            ok = v.is_valid(json.loads(text))
        except ValueError:
            ok = False
        assert not ok, f"test data: {text} is valid for {schema}"
    for text in excluded:
        assert v.is_valid(json.loads(text)), f"test data: {text} is not valid for {schema}"
    verdicts = oracle.accepts_many(grammar, good + bad + list(excluded))
    wrong_good = [t for t in good if not verdicts[t]]
    wrong_bad = [t for t in bad + list(excluded) if verdicts[t]]
    assert not wrong_good and not wrong_bad, f"rejected valid: {wrong_good}; accepted invalid: {wrong_bad}\n{grammar}"


# ----- exact fixtures from the spec -------------------------------------------------


def test_fixture_object_with_required_and_optional_property() -> None:
    grammar = convert({"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
                       "required": ["name"]})
    rules = rules_of(grammar)
    assert rules["root"] == '"{" space name-kv ( "," space ( age-kv ) )? "}" space'
    assert rules["name-kv"] == '"\\"name\\"" space ":" space string'
    assert rules["age-kv"] == '"\\"age\\"" space ":" space integer'
    assert set(rules) == {"root", "name-kv", "age-kv", "char", "integer", "integral-part", "space", "string"}
    assert rules["space"] == '" "?'
    assert list(rules) == sorted(rules)  # one line per rule, sorted by name


def test_fixture_defs_and_refs() -> None:
    # what pydantic produces for  class A: a: int  /  class B: a: A; b: int
    schema = {"$defs": {"A": {"properties": {"a": {"title": "A", "type": "integer"}}, "required": ["a"],
                              "title": "A", "type": "object"}},
              "properties": {"a": {"$ref": "#/$defs/A"}, "b": {"title": "B", "type": "integer"}},
              "required": ["a", "b"], "title": "B", "type": "object"}
    rules = rules_of(convert(schema))
    assert rules["A"] == '"{" space A-a-kv "}" space'
    assert rules["a"] == "A"
    assert rules["root"] == '"{" space a-kv "," space b-kv "}" space'


def test_fixture_bounded_array_type_list_and_string_length() -> None:
    assert rules_of(convert({"type": "array", "items": {"type": "number"}, "minItems": 1, "maxItems": 3}))["root"] \
        == '"[" space number ("," space number ("," space number)?)? "]" space'
    assert rules_of(convert({"type": ["string", "null"]}))["root"] == "string | null"
    assert rules_of(convert({"type": "string", "minLength": 1, "maxLength": 3}))["root"] \
        == '"\\"" char (char (char)?)? "\\"" space'


def test_primitive_rules_as_the_spec_lists_them() -> None:
    d15 = "([0-9] " * 14 + "([0-9])?" + ")?" * 14
    assert PRIMITIVE_RULES["integral-part"].content == f"[0-9] | [1-9] {d15}"
    assert PRIMITIVE_RULES["decimal-part"].content == f"[0-9] {d15}"
    assert PRIMITIVE_RULES["number"].content == \
        '("-"? integral-part) ("." decimal-part)? ([eE] [-+]? integral-part)? space'
    assert PRIMITIVE_RULES["integer"].content == '("-"? integral-part) space'
    assert PRIMITIVE_RULES["boolean"].content == '("true" | "false") space'
    assert PRIMITIVE_RULES["null"].content == '"null" space'
    assert PRIMITIVE_RULES["string"].content == '"\\"" char* "\\"" space'


# ----- behaviour, judged by llama.cpp's grammar engine ---------------------------------


def test_string_rule_never_produces_invalid_json(oracle: GrammarOracle) -> None:
    check(oracle, {"type": "string"},
          good=['""', '"plain"', '"tab\\tquote\\"slash\\\\"', '"\\u00e9t\\u00E9"', '"caf\u00e9 \u65e5\u672c"'],
          bad=['"raw\ttab"', '"raw\nnewline"', '"bad \\x escape"', "'single'", '"unterminated'],
          excluded=['"\\ud800 lone surrogate escape"'])  # json.loads takes it, but it is no real character


def test_enum_and_const_with_awkward_values(oracle: GrammarOracle) -> None:
    values = ["a\"quote", "back\\slash", "new\nline", "\u00e9", 3, 2.5, None, True, [1, {"k": "v"}]]
    check(oracle, {"enum": values}, good=[json.dumps(v) for v in values],
          bad=['"other"', "4", "false", '[1, {"k": "w"}]'])
    check(oracle, {"const": {"nested": [1, "x"]}}, good=['{"nested": [1, "x"]}'], bad=['{"nested": [1, "y"]}'])


def test_enum_values_outside_the_type_are_dropped(oracle: GrammarOracle) -> None:
    check(oracle, {"type": "string", "enum": ["a", 1, None, "b"]}, good=['"a"', '"b"'], bad=["1", "null"])


def test_objects_required_optional_and_order(oracle: GrammarOracle) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "boolean"},
                                               "c": {"type": "null"}, "d": {"type": "string", "maxLength": 2}},
              "required": ["c", "a"]}
    check(oracle, schema,
          good=['{"a": 1, "c": null}', '{"a": 1, "c": null, "b": true}', '{"a": 1, "c": null, "d": "x"}',
                '{"a": 1, "c": null, "b": false, "d": ""}', '{ "a" : 1 , "c" : null }'],
          bad=['{"a": 1}', '{"c": null}', '{"a": "1", "c": null}', "{}"],
          excluded=['{"a": 1, "c": null, "e": 1}', '{"c": null, "a": 1}'])  # no extra keys, fixed order
    # order: required ones first, in schema order, then the optional ones; prop_order names go first
    rules = rules_of(convert(schema))
    assert rules["root"].startswith('"{" space a-kv "," space c-kv ( "," space ( b-kv b-rest | d-kv ) )?')
    ordered = rules_of(convert(schema, prop_order=["d", "c"]))
    assert ordered["root"].startswith('"{" space c-kv "," space a-kv ( "," space ( d-kv d-rest | b-kv ) )?')


def test_optional_properties_any_subset_in_order(oracle: GrammarOracle) -> None:
    props = {k: {"type": "integer", "minimum": 0, "maximum": 9} for k in "wxyz"}
    schema = {"type": "object", "properties": props, "additionalProperties": False}
    good = []
    for n in range(5):
        for keys in itertools.combinations("wxyz", n):
            good.append(json.dumps({k: 1 for k in keys}))
    check(oracle, schema, good=good, bad=['{"w": 10}', '{"v": 1}', '{"w": 1,}'], excluded=['{"x": 1, "w": 1}'])


def test_additional_properties(oracle: GrammarOracle) -> None:
    check(oracle, {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"],
                   "additionalProperties": {"type": "boolean"}},
          good=['{"id": 1}', '{"id": 1, "x": true}', '{"id": 1, "x": true, "y": false}'],
          bad=['{"id": 1, "x": 2}', '{"x": true}'])
    check(oracle, {"type": "object", "additionalProperties": {"type": "integer"}, "minProperties": 1,
                   "maxProperties": 2},
          good=['{"a": 1}', '{"a": 1, "b": 2}'], bad=["{}", '{"a": 1, "b": 2, "c": 3}'])
    check(oracle, {"type": "object", "properties": {"a": {"type": "integer"}}},
          good=['{"a": 1}', "{}"], bad=[], excluded=['{"b": 1}'])  # absent additionalProperties: none generated


def test_min_properties_promotes_optional_properties(oracle: GrammarOracle) -> None:
    check(oracle, {"type": "object", "properties": {"a": {"type": "null"}, "b": {"type": "null"}},
                   "minProperties": 1, "additionalProperties": False},
          good=['{"a": null}', '{"a": null, "b": null}'], bad=["{}"])


def test_arrays_items_bounds_and_tuples(oracle: GrammarOracle) -> None:
    check(oracle, {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 4},
          good=["[1, 2]", "[1, 2, 3]", "[1, 2, 3, 4]"], bad=["[]", "[1]", "[1, 2, 3, 4, 5]", '[1, "2"]'])
    check(oracle, {"type": "array", "items": {"type": "boolean"}},
          good=["[]", "[true]", "[true, false, true]"], bad=["[1]", "[true,]"])
    check(oracle, {"type": "array", "prefixItems": [{"type": "string", "maxLength": 3}, {"type": "integer"}],
                   "items": False},
          good=['["ab", 3]'], bad=['[3, "ab"]', '["ab", 3, 4]', '["abcd", 3]'])
    check(oracle, {"type": "array", "minItems": 1, "maxItems": 2}, good=["[1]", '[{"a": []}, "x"]'],
          bad=["[]", "[1, 2, 3]"])
    check(oracle, {"type": "array", "items": {"type": "integer"}, "minItems": 0, "maxItems": 100},
          good=["[]", json.dumps(list(range(100)))], bad=[json.dumps(list(range(101)))])


def test_string_lengths(oracle: GrammarOracle) -> None:
    check(oracle, {"type": "string", "minLength": 2, "maxLength": 4},
          good=['"ab"', '"abcd"', '"\\n\\t"', '"\u65e5\u672c\u8a9e"'], bad=['"a"', '"abcde"', '""'])
    check(oracle, {"type": "string", "maxLength": 200},
          good=['""', json.dumps("x" * 200)], bad=[json.dumps("x" * 201)])


@pytest.mark.parametrize("lo,hi", [(1, 10), (-50, 20), (15, 94), (0, None), (None, -3), (100, 1234), (-1000, -7),
                                   (7, 7), (-5, 5), (0, 0), (None, None)])
def test_integer_ranges_are_exact(lo, hi, oracle: GrammarOracle) -> None:
    schema: dict = {"type": "integer"}
    if lo is not None:
        schema["minimum"] = lo
    if hi is not None:
        schema["maximum"] = hi
    grammar = convert(schema)
    start = -1100 if lo is None else lo - 40
    stop = 1300 if hi is None else hi + 40
    texts = [str(i) for i in range(start, stop)] + ["-0", "01", "1.0", "1e2", ""]
    verdicts = oracle.accepts_many(grammar, texts)
    for text, ok in verdicts.items():
        # "-0" is left out of bounded ranges (it is just 0), while the plain integer rule allows it
        valid = re.fullmatch(r"-?(0|[1-9][0-9]*)", text) is not None and (text != "-0" or schema == {"type": "integer"})
        if valid:
            value = int(text)
            valid = (lo is None or value >= lo) and (hi is None or value <= hi)
        assert ok == valid, (schema, text)


def test_integer_range_keywords(oracle: GrammarOracle) -> None:
    check(oracle, {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 10},
          good=["1", "9"], bad=["0", "10", "-1"])
    check(oracle, {"type": "integer", "minimum": 2.5, "maximum": 7.9}, good=["3", "7"], bad=["2", "8"])
    check(oracle, {"$schema": "http://json-schema.org/draft-04/schema#", "type": "integer",
                   "minimum": 0, "exclusiveMinimum": True, "maximum": 3, "exclusiveMaximum": True},
          good=["1", "2"], bad=["0", "3"])
    check(oracle, {"type": "integer", "minimum": 5, "exclusiveMinimum": 5}, good=["6"], bad=["5"])
    check(oracle, {"type": "integer", "minimum": 123456789012345678901},
          good=["123456789012345678901", "923456789012345678901"], bad=["123456789012345678900"])
    with pytest.raises(SchemaError, match="no integer"):
        convert({"type": "integer", "minimum": 5, "maximum": 4})


def test_number_ranges_with_whole_bounds(oracle: GrammarOracle) -> None:
    def texts() -> List[str]:
        out = ["-0.5", "0.5", "1e3", ".5", "01"]
        for i in range(-12, 13):
            out += [str(i), f"{i}.0", f"{i}.5", f"{i}.001", f"{i}.999"]
        return out

    cases = [dict(minimum=0, maximum=1), dict(exclusiveMinimum=-1), dict(minimum=-3, exclusiveMaximum=5),
             dict(exclusiveMinimum=2, exclusiveMaximum=4), dict(exclusiveMaximum=0), dict(maximum=-2),
             dict(minimum=-10, exclusiveMaximum=-2), dict(minimum=5, maximum=5)]
    for bounds in cases:
        schema = {"type": "number", **bounds}
        verdicts = oracle.accepts_many(convert(schema), texts())
        v = validator(schema)
        for text, ok in verdicts.items():
            well_formed = re.fullmatch(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?", text) is not None
            valid = well_formed and v.is_valid(json.loads(text))
            assert ok == valid, (bounds, text)


def test_number_with_fractional_bounds_is_narrowed_to_whole_numbers(oracle: GrammarOracle) -> None:
    # documented: fractional bounds are rounded inward; outputs stay valid, some valid values are lost
    check(oracle, {"type": "number", "minimum": 0.5, "maximum": 2.5}, good=["1", "1.75", "2.0"],
          bad=["0.4", "2.6", "3"])


@pytest.mark.parametrize("fmt,good,bad", [
    ("date", ['"2024-02-28"', '"1999-12-31"', '"2023-04-30"'], ['"2024-13-01"', '"2023-04-31"', '"2023-02-30"']),
    ("time", ['"23:59:59Z"', '"08:30:00.123+02:00"'], ['"24:00:00Z"', '"12:00:00"']),
    ("date-time", ['"2024-01-15T10:20:30Z"', '"2024-01-15T10:20:30.5-05:00"'], ['"2024-01-15 10:20:30Z"']),
    ("uuid", ['"123e4567-e89b-12d3-a456-426614174000"'], ['"123e4567e89b12d3a456426614174000"']),
])
def test_string_formats(fmt: str, good: List[str], bad: List[str], oracle: GrammarOracle) -> None:
    grammar = convert({"type": "string", "format": fmt})
    verdicts = oracle.accepts_many(grammar, good + bad)
    assert all(verdicts[t] for t in good) and not any(verdicts[t] for t in bad), verdicts


def test_other_formats_are_plain_strings() -> None:
    assert convert({"type": "string", "format": "email"}) == convert({"type": "string"})


def test_any_of_one_of_and_type_lists(oracle: GrammarOracle) -> None:
    check(oracle, {"anyOf": [{"type": "integer", "minimum": 0, "maximum": 9}, {"type": "null"},
                             {"type": "string", "enum": ["x"]}]},
          good=["0", "null", '"x"'], bad=["10", '"y"', "true"])
    check(oracle, {"oneOf": [{"type": "object", "properties": {"kind": {"const": "a"}}, "required": ["kind"],
                              "additionalProperties": False},
                             {"type": "boolean"}]},
          good=['{"kind": "a"}', "true"], bad=['{"kind": "b"}', "null"])
    check(oracle, {"type": ["integer", "boolean"], "minimum": 3, "maximum": 4}, good=["3", "true"], bad=["5", "null"])
    check(oracle, {"type": ["string", "null"], "maxLength": 2}, good=['"ab"', "null"], bad=['"abc"'])


def test_any_of_inherits_the_parent_constraints(oracle: GrammarOracle) -> None:
    check(oracle, {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                   "additionalProperties": False, "anyOf": [{"required": ["a"]}, {"required": ["b"]}]},
          good=['{"a": 1}', '{"b": 2}', '{"a": 1, "b": 2}'], bad=["{}"])


def test_all_of_merges_members(oracle: GrammarOracle) -> None:
    schema = {"$defs": {"Base": {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]}},
              "allOf": [{"$ref": "#/$defs/Base"},
                        {"properties": {"name": {"type": "string", "maxLength": 3}}, "required": ["name"]},
                        {"properties": {"note": {"type": "string", "maxLength": 3}}}],
              "unevaluatedProperties": False}
    check(oracle, schema, good=['{"id": 1, "name": "x"}', '{"id": 1, "name": "x", "note": "y"}'],
          bad=['{"name": "x"}', '{"id": 1}', '{"id": 1, "name": "x", "other": 1}'])
    # additionalProperties only sees its own schema's properties: "extra" is not allowed here
    closed = {"properties": {"id": {"type": "integer"}}, "additionalProperties": False,
              "allOf": [{"properties": {"id": {"minimum": 0}, "extra": {"type": "string"}}}]}
    check(oracle, closed, good=['{"id": 1}', "{}"], bad=['{"id": 1, "extra": "x"}', '{"id": -1}'])
    with pytest.raises(SchemaError, match="'extra'"):
        convert({**closed, "allOf": [{"properties": {"extra": {}}, "required": ["extra"]}]})
    check(oracle, {"allOf": [{"type": "string"}, {"maxLength": 2}]}, good=['"ab"'], bad=['"abc"', "1"])


def test_recursive_refs(oracle: GrammarOracle) -> None:
    tree = {"$defs": {"node": {"type": "object", "properties": {
        "v": {"type": "integer"}, "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}}, "required": ["v"]}},
        "$ref": "#/$defs/node"}
    check(oracle, tree, good=['{"v": 1}', '{"v": 1, "kids": [{"v": 2, "kids": [{"v": 3}]}, {"v": 4}]}'],
          bad=['{"v": 1, "kids": [{"kids": []}]}'])
    to_root = {"type": "object", "properties": {"next": {"anyOf": [{"$ref": "#"}, {"type": "null"}]}},
               "required": ["next"]}
    check(oracle, to_root, good=['{"next": null}', '{"next": {"next": {"next": null}}}'], bad=['{"next": 1}'])
    pointer = {"definitions": {"a/b": {"type": "integer", "minimum": 0, "maximum": 5}},
               "properties": {"x": {"$ref": "#/definitions/a~1b"}}, "required": ["x"]}
    check(oracle, pointer, good=['{"x": 5}'], bad=['{"x": 6}'])


def test_ref_names_do_not_collide() -> None:
    schema = {"$defs": {"a": {"properties": {"x": {"type": "integer"}}, "required": ["x"]},
                        "b": {"properties": {"x": {"type": "string"}}, "required": ["x"]}},
              "properties": {"p": {"$ref": "#/$defs/a/properties/x"}, "q": {"$ref": "#/$defs/b/properties/x"},
                             "x": {"type": "boolean"}},
              "required": ["p", "q", "x"]}
    rules = rules_of(convert(schema))
    assert rules["p"] != rules["q"]


def test_patterns_fix_the_reference_bugs(oracle: GrammarOracle) -> None:
    # \d, \w and \s give valid GBNF; a quantifier after several literal characters repeats only the last one
    check(oracle, {"type": "string", "pattern": "^[a-z]{2,3}-\\d+$"},
          good=['"ab-1"', '"abc-1234"'], bad=['"ab-"', '"ab--1"', '"ab-1-1"', '"a-1"'])
    check(oracle, {"type": "string", "pattern": "^ab{2}c$"}, good=['"abbc"'], bad=['"ababc"', '"abc"'])
    check(oracle, {"type": "string", "pattern": "^\\w{2}\\s\\d$"}, good=['"a_ 1"', '"Z9\\t0"', '"ab\\n5"'],
          bad=['"a- 1"', '"ab1"', '"ab x"'])
    check(oracle, {"type": "string", "pattern": "^x\\S\\D\\W$"}, good=['"xa-."', '"x!a "'], bad=['"x 1a"', '"xa1a"'])


def test_pattern_features(oracle: GrammarOracle) -> None:
    cases = [
        ("^(GET|POST) /[a-z]{1,3}$", ['"GET /a"', '"POST /abc"'], ['"PUT /a"', '"GET /abcd"', '"GET "']),
        ("^(?:ab|cd)+x?$", ['"ab"', '"abcdx"'], ['""', '"abx x"']),
        ("^[^,]{1,3}$", ['"a b"', '"\u00e9\u00e9"'], ['"a,b"', '""']),
        ("^\\$\\d\\.\\d{2}$", ['"$1.50"'], ['"1.50"', '"$1,50"']),
        ('^[a"\\\\]{2}$', ['"a\\""', '"\\\\a"', '"\\"\\\\"'], ['"ab"']),
        ("^.{2}$", ['"ab"', '"\u00e9!"'], ['"a"', '"abc"']),
        ("^a|^b$", None, None),  # anchors bind to single alternatives: refused
        ("^x*$", ['""', '"xxx"'], ['"xy"']),
        ("^(?<year>[0-9]{4})-(?P<m>[01][0-9])$", ['"2024-01"'], ['"2024-1"']),
        ("^\\x41\\u0042[\\x43-\\x44]$", ['"ABC"', '"ABD"'], ['"ABE"']),
        ("^a{2,}$", ['"aa"', '"aaaa"'], ['"a"']),
        ("^[\\d\\-]{3}$", ['"1-2"'], ['"1a2"']),
        ("^(a|)*b$", ['"b"', '"aab"'], ['"ba"']),  # an empty alternative, repeated
    ]
    for pattern, good, bad in cases:
        schema = {"type": "string", "pattern": pattern}
        if good is None:
            with pytest.raises(SchemaError, match="anchor"):
                convert(schema)
            continue
        if "(?<" in pattern:  # Python's re does not know JavaScript named groups: check by hand
            verdicts = oracle.accepts_many(convert(schema), good + bad)
            assert all(verdicts[t] for t in good) and not any(verdicts[t] for t in bad)
            continue
        check(oracle, schema, good, bad)


@pytest.mark.parametrize("pattern,fragment", [
    ("abc", "must be anchored"), ("^abc", "must be anchored"), ("abc$", "must be anchored"),
    ("^a(?=b)$", "lookaround"), ("^(a)\\1$", "back-references"), ("^\\bword$", "word boundaries"),
    ("^\\p{L}$", "Unicode property"), ("^(?i)a$", "inline flags"), ("^a**$", "two quantifiers"),
    ("^[ab$", "unterminated character class"), ("^(a$", "unterminated group"), ("^a)$", "unmatched ')'"),
    ("^a{3,1}$", "maximum below"), ("^[z-a]$", "reversed range"), ("^a^b$", "anchors"), ("^*$", "quantifier cannot follow an anchor"), ("^a|*$", "nothing to repeat"),
])
def test_unsupported_patterns_are_refused_with_the_reason(pattern: str, fragment: str) -> None:
    with pytest.raises(SchemaError, match=re.escape(fragment)) as info:
        convert({"type": "string", "pattern": pattern})
    assert isinstance(info.value, ValueError) and isinstance(info.value, AssertionError)
    assert repr(pattern)[1:-1] in str(info.value) or pattern in str(info.value)


@pytest.mark.parametrize("schema,fragment", [
    ({"type": "decimal"}, "unknown type 'decimal'"),
    ({"$ref": "https://example.com/schema.json"}, "remote $ref"),
    ({"$ref": "other.json#/a"}, "Unsupported ref"),
    ({"$ref": "#/$defs/missing"}, "points to nothing"),
    ({"type": "object", "properties": {"a": {}}, "dependentRequired": {"a": ["b"]}}, "'dependentRequired'"),
    ({"type": "object", "dependentSchemas": {"a": {}}, "properties": {"a": {}}}, "'dependentSchemas'"),
    ({"type": "object", "properties": {"a": {}}, "dependencies": {"a": ["b"]}}, "'dependencies'"),
    ({"type": "object", "additionalProperties": True, "propertyNames": {"pattern": "^a$"}, "minProperties": 1},
     "'propertyNames'"),
    ({"type": "object", "properties": {"a": {}, "b": {}}, "maxProperties": 1}, "'maxProperties'"),
    ({"type": "object", "properties": {"a": {}}, "required": ["b"], "additionalProperties": False}, "'b'"),
    ({"type": "string", "minLength": 3, "maxLength": 2}, "maxLength 2 is below minLength 3"),
    ({"type": "array", "minItems": 3, "maxItems": 2}, "maxItems 2 is below minItems 3"),
    ({"type": "number", "minimum": 0.2, "maximum": 0.8}, "admit no value"),
    ({"enum": []}, "'enum' must be a non-empty list"),
    ({"anyOf": []}, "'anyOf' must be a non-empty list"),
    (False, "accepts no value"),
    ({"$defs": {"a": {"allOf": [{"$ref": "#/$defs/a"}]}}, "$ref": "#/$defs/a"}, "refers to itself"),
])
def test_schemas_that_cannot_be_converted_raise_a_clear_error(schema: Any, fragment: str) -> None:
    with pytest.raises(SchemaError) as info:
        convert(schema)
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, AssertionError)
    with pytest.raises(ValueError):
        LlamaGrammar.from_json_schema(json.dumps(schema))


def test_deeply_nested_schema_is_a_schema_error() -> None:
    schema: dict = {"type": "integer"}
    for _ in range(3000):
        schema = {"type": "array", "items": schema, "maxItems": 1}
    with pytest.raises(SchemaError, match="nested too deeply"):
        json_schema_to_gbnf(schema)


def test_invalid_json_text_is_a_schema_error() -> None:
    with pytest.raises(SchemaError, match="not valid JSON"):
        LlamaGrammar.from_json_schema("{not json")


def test_ignored_keywords_change_nothing() -> None:
    base = {"type": "object", "properties": {"n": {"type": "integer"}, "s": {"type": "array", "items": {}}}}
    noisy = json.loads(json.dumps(base))
    noisy["properties"]["n"].update(multipleOf=3, title="N", description="d", default=3, examples=[3])
    noisy["properties"]["s"].update(uniqueItems=True, contains={"type": "integer"}, minContains=1)
    noisy.update({"not": {"required": ["x"]}, "if": {}, "then": {}, "else": {}, "patternProperties": {"^x": {}},
                  "$comment": "c", "unevaluatedProperties": False, "x-vendor": 1})
    assert convert(noisy) == convert(base)


def test_untyped_length_and_range_keywords_pick_the_kind(oracle: GrammarOracle) -> None:
    check(oracle, {"maxLength": 2}, good=['"ab"'], bad=[], excluded=["1", '{"a": 1}'])
    check(oracle, {"minimum": 1, "maximum": 2}, good=["1", "1.5"], bad=["3"], excluded=['"x"'])


def test_annotation_only_schema_means_any_value(oracle: GrammarOracle) -> None:
    check(oracle, {"description": "anything"}, good=["1", '"s"', '{"a": [null]}'], bad=["nope"])
    assert convert({"type": "object"}) == convert({"type": "object", "title": "T"})


def test_property_names_needing_escapes(oracle: GrammarOracle) -> None:
    schema = {"type": "object", "properties": {"a b": {"type": "null"}, "q\"uote": {"type": "null"},
                                               "\u00e9": {"type": "null"}, "string": {"type": "null"},
                                               "root": {"type": "integer", "minimum": 1, "maximum": 2}},
              "required": ["a b", "q\"uote", "\u00e9", "string", "root"]}
    grammar = convert(schema)
    assert "root- ::= " in grammar  # a property named like a reserved rule gets a trailing '-'
    assert "string-kv ::= " in grammar and rules_of(grammar)["root"].startswith('"{"')
    check(oracle, schema, good=[json.dumps({"a b": None, "q\"uote": None, "\u00e9": None, "string": None,
                                            "root": 1})],
          bad=['{"a b": null}'])


def test_schema_converter_class_api() -> None:
    converter = SchemaConverter(prop_order={"b": 0}, allow_fetch=False, dotall=False, raw_pattern=False)
    schema = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
              "required": ["a", "b"]}
    converter.resolve_refs(schema, "test")
    assert converter.visit(schema, "") == "root"
    assert rules_of(converter.format_grammar())["root"] == '"{" space b-kv "," space a-kv "}" space'
    raw = SchemaConverter(prop_order={}, allow_fetch=False, dotall=True, raw_pattern=True)
    raw.visit({"type": "string", "pattern": "^a.$"}, "")
    assert rules_of(raw.format_grammar())["root"] == '"a" [\\x00-\\U0010FFFF]'


def test_dict_schema_is_accepted_too() -> None:
    assert json_schema_to_gbnf({"type": "boolean"}) == json_schema_to_gbnf('{"type": "boolean"}')


def test_long_bounds_use_counted_repetition(oracle: GrammarOracle) -> None:
    grammar = convert({"type": "array", "items": {"type": "string", "maxLength": 1500}, "maxItems": 3000})
    LlamaGrammar.from_string(grammar)
    assert oracle.compiles(grammar)
    assert "{0,500}" in grammar


@pytest.mark.parametrize("entry", CORPUS, ids=[e["name"] for e in CORPUS])
def test_every_corpus_schema_converts_and_llama_cpp_takes_it(entry: dict, oracle: GrammarOracle) -> None:
    grammar = LlamaGrammar.from_json_schema(json.dumps(entry["schema"]))
    assert oracle.compiles(grammar._grammar)


def test_corpus_is_big_and_varied() -> None:
    assert len(CORPUS) >= 40
    text = json.dumps([e["schema"] for e in CORPUS])
    for keyword in ["$ref", "$defs", "definitions", "anyOf", "oneOf", "allOf", "enum", "const", "pattern",
                    "prefixItems", "additionalProperties", "minItems", "maxItems", "minLength", "maxLength",
                    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", '"date"', '"time"',
                    '"date-time"', '"uuid"', '"required"', "minProperties", "maxProperties"]:
        assert keyword in text, keyword


def test_reference_suite_cases_construct(oracle: GrammarOracle) -> None:
    # the three grammar tests of llama-cpp-python's own suite: construction must succeed
    assert LlamaGrammar.from_string('root ::= "true" | "false"')._grammar == 'root ::= "true" | "false"'
    schema = {"properties": {"temperature": {"description": "The temperature mentioned", "type": "number"},
                             "unit": {"anyOf": [{"description": "Unit for temperature", "enum": ["celsius", "fahrenheit"],
                                                 "type": "string"}, {"type": "null"}]}},
              "type": "object"}
    grammar = LlamaGrammar.from_json_schema(json.dumps(schema))
    assert oracle.accepts(grammar._grammar, '{"temperature": 21.5, "unit": "celsius"}')
    assert oracle.accepts(grammar._grammar, '{"unit": null}')
    assert not oracle.accepts(grammar._grammar, '{"unit": "kelvin"}')
