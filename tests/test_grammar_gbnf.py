"""GBNF checking in Python (llama_cpp.llama_grammar) against llama.cpp's own grammar parser.

The rules: every grammar ``LlamaGrammar`` accepts is accepted by llama.cpp;
every malformed grammar raises a ``ValueError`` that says where (line,
column) and what to fix; and none of it can take the interpreter down.
llama.cpp itself is the oracle (a vocab-only load of the test model).
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
from grammar_oracle import GrammarOracle, get_oracle

from conftest import VENDOR, run_python
from llama_cpp import llama_grammar
from llama_cpp.llama_grammar import (
    ARITHMETIC_GBNF,
    C_GBNF,
    CHESS_GBNF,
    JAPANESE_GBNF,
    JSON_ARR_GBNF,
    JSON_GBNF,
    LIST_GBNF,
    GrammarError,
    LlamaGrammar,
)

SAMPLES = {
    "ARITHMETIC_GBNF": ARITHMETIC_GBNF, "C_GBNF": C_GBNF, "CHESS_GBNF": CHESS_GBNF, "JAPANESE_GBNF": JAPANESE_GBNF,
    "JSON_ARR_GBNF": JSON_ARR_GBNF, "JSON_GBNF": JSON_GBNF, "LIST_GBNF": LIST_GBNF,
}

# Grammars that exercise every part of the syntax llama.cpp accepts.
VALID = {
    "alternatives and groups": 'root ::= ("a" | "b") c\nc ::= "c" | "d"',
    "all repetitions": 'root ::= "a"* "b"+ "c"? "d"{2} "e"{1,} "f"{0,3} [g]{2,4} ("h" "i"){0,}',
    "repetition with spaces": 'root ::= "a"{ 2 , 5 } "b"{ 3 }',
    "zero repetition": 'root ::= "x" "a"{0} "b"{0,0}',
    "max above the limit means unbounded": 'root ::= "a"{1,5000}',
    "escapes": 'root ::= "\\n\\r\\t\\\\\\"\\[\\]\\-\\x41\\u00e9\\U0001F600" [\\x00-\\x1F\\-\\]\\[^]',
    "classes": 'root ::= [a-zA-Z_] [^"\\\\] [-a] [a-] [\\]] . [ぁ-ゟ] []',
    "comments everywhere": '# head\nroot ::= "a" | # after the bar\n  "b" # tail\nx ::= ( # in a group\n "c" ) # end',
    "newlines in parentheses": 'root ::= (\n  "a"\n  "b" |\n  "c"\n)',
    "continuation after a bar": 'root ::= "a" |\n    "b" |\n    "c"',
    "empty alternatives": 'root ::= ("a" | ) opt none\nopt ::= | "x"\nnone ::=',
    "crlf line endings": 'root ::= a\r\na ::= "x"\r\n',
    "token ids": 'root ::= <[1]> !<[2]>* "end"',
    "token text": 'root ::= <|im_start|> !<|im_end|>* <|im_end|>',
    "digits and dashes in names": 'root ::= 3d-rule\n3d-rule ::= "x"',
    "rule used before definition": 'root ::= later later\nlater ::= "z"',
    "redefinition keeps the last": 'root ::= "a"\nroot ::= "b"',
    "literal spanning lines": 'root ::= "line1\nline2"',
    "nested groups within the limit": 'root ::= ("a"{0,998}){2}',
    "not left recursive: nullable only via helpers": 'root ::= ("a"?)*',
    "right recursion": 'root ::= "a" root | "b"',
}

# (grammar, line, column, fragment of the reason); llama.cpp rejects all of these.
INVALID = [
    ("   \n# only a comment\n", None, None, "the grammar is empty"),
    ('foo ::= "a"', None, None, "no 'root' rule"),
    ("root ::= foo", 1, 10, "undefined rule 'foo'"),
    ('root ::= "a"\nfoo ::= bar baz', 2, 9, "undefined rule 'bar'"),
    ('root ::= "a"\r\nfoo ::= bar\r\n', 2, 9, "undefined rule 'bar'"),
    ('root ::= a b\na ::= "x"\nb ::= c', 3, 7, "undefined rule 'c'"),
    ('root ::= "abc', 1, 10, "unterminated string literal"),
    ("root ::= [a-z", 1, 10, "unterminated character class"),
    ("root ::= [a-", 1, 10, "unterminated character class"),
    ('root ::= ("a" | "b"', 1, 20, "expected ')' to close the group opened at line 1, column 10"),
    ('root ::= ("a"\n"b" ]', 2, 5, "expected ')'"),
    ('root ::= "a")', 1, 13, "unmatched ')'"),
    ('root ::= "\\q"', 1, 11, "unknown escape '\\q'"),
    ('root ::= "\\', 1, 11, "lone backslash"),
    ('root ::= "\\x4"', 1, 11, "exactly 2 hex digits"),
    ('root ::= "\\u12G4"', 1, 11, "exactly 4 hex digits"),
    ('root ::= [\\U0001F60]', 1, 11, "exactly 8 hex digits"),
    ('root ::= * "a"', 1, 10, "'*' has nothing to repeat"),
    ('root ::= "a" | +', 1, 16, "'+' has nothing to repeat"),
    ('root ::= ""?', 1, 12, "'?' has nothing to repeat"),
    ('root ::= "a"{2001}', 1, 13, "exceeds llama.cpp's limit of 2000"),
    ('root ::= ("a"{0,1000}){3}', 1, 23, "3003 rules"),
    ('root ::= "a"{', 1, 14, "expected a repetition count"),
    ('root ::= "a"{x}', 1, 14, "expected a repetition count"),
    ('root ::= "a"{2', 1, 15, "expected ',' or '}'"),
    ('root ::= "a"{2,3', 1, 17, "expected '}'"),
    ('root ::= "a"{99999999999999999999999}', 1, 13, "too large"),
    ('root ::= expr\nexpr ::= expr "+" "1" | "1"', 2, 1, "'expr' is left-recursive (expr -> expr)"),
    ("root ::= a\na ::= b\nb ::= a", 2, 1, "'a' is left-recursive (a -> b -> a)"),
    ('root ::= x\nx ::= e x "1"\ne ::= | "z"', 2, 1, "left-recursive"),
    ('root ::= (|"a")*', 1, 1, "repeated group whose body can be empty"),
    ('root ::= "a"\n| "b"', 2, 1, "an alternative cannot start a line"),
    ('root ::= "a" "b"\n  "c"', 2, 3, "continuation line"),
    ('root "a"', 1, 6, "expected '::=' after rule name 'root'"),
    ('root\n::= "a"', 1, 5, "same line as the rule name"),
    ('root ::= "a" ::= "b"', 1, 14, "each rule must start on a new line"),
    ("root ::= 'a'", 1, 10, "use double quotes"),
    ('root ::= "a" $', 1, 14, "unexpected '$'"),
    ('::= "a"', 1, 1, "expected a rule name"),
    ('root ::= !"a"', 1, 10, "'!' must be followed by a token reference"),
    ("root ::= <[abc]>", 1, 12, "expected a token id"),
    ("root ::= <[12>", 1, 14, "expected ']'"),
    ("root ::= <[99999999999]>", 1, 12, "out of range"),
    ("root ::= <[12]", 1, 15, "expected '>'"),
    ("root ::= <abc", 1, 10, "unterminated token reference"),
]

# llama.cpp accepts these, then aborts the process (or never returns) once it
# samples or builds them; LlamaGrammar refuses them up front.
REFUSED_FOR_SAFETY = [
    ("root ::= [z-a]", 1, 11, "reversed"),
    ('root ::= "a" [b-az]', 1, 15, "reversed"),
    ("root ::= [^\\x00-\\U0010FFFF]", 1, 10, "can never match"),
    ('root ::= "\\x00"', 1, 11, "can never be generated"),
    ('root ::= "\\U00110000"', 1, 11, "can never be generated"),
    ('root ::= "a"{3,1}', 1, 13, "maximum below its minimum"),
    ('root ::= "a"\x00 "b"', 1, 13, "NUL character"),
    ('root ::= "\ud800"', 1, 11, "lone surrogate"),
]


@pytest.fixture(scope="module")
def oracle(model_path: str) -> GrammarOracle:
    return get_oracle(model_path)


def test_module_surface() -> None:
    assert llama_grammar.LLAMA_GRAMMAR_DEFAULT_ROOT == "root"
    for name in ["LlamaGrammar", "LLAMA_GRAMMAR_DEFAULT_ROOT", *SAMPLES, "SPACE_RULE", "INVALID_RULE_CHARS_RE",
                 "GRAMMAR_LITERAL_ESCAPE_RE", "GRAMMAR_LITERAL_ESCAPES", "BuiltinRule", "PRIMITIVE_RULES",
                 "STRING_FORMAT_RULES", "DOTALL", "DOT", "RESERVED_NAMES", "NON_LITERAL_SET",
                 "ESCAPED_IN_REGEXPS_BUT_NOT_IN_LITERALS", "SchemaConverter", "json_schema_to_gbnf"]:
        assert name in llama_grammar.__all__ and hasattr(llama_grammar, name), name
    assert issubclass(GrammarError, ValueError)


def test_json_gbnf_is_the_exact_reference_text() -> None:
    # the spec quotes it as a raw string that starts with a newline: llama.cpp's json.gbnf
    expected = "\n" + (VENDOR / "grammars" / "json.gbnf").read_text()
    assert JSON_GBNF == expected
    assert JSON_GBNF.startswith("\nroot   ::= object\nvalue  ::= object | array | string | number |")
    assert JSON_GBNF.endswith('ws ::= | " " | "\\n" [ \\t]{0,20}\n')


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_sample_grammars_are_llama_cpp_sample_files(name: str, oracle: GrammarOracle) -> None:
    text = SAMPLES[name]
    source = name[:-len("_GBNF")].lower() + ".gbnf"
    assert text == "\n" + (VENDOR / "grammars" / source).read_text()
    grammar = LlamaGrammar.from_string(text)
    assert grammar._grammar == text and grammar._root == "root"
    assert oracle.compiles(text)


def test_sample_grammars_describe_what_their_names_say(oracle: GrammarOracle) -> None:
    checks = [
        (JSON_GBNF, '{"a": [1, 2.5, "x"], "b": null}', True), (JSON_GBNF, "[1, 2]", False),
        (JSON_ARR_GBNF, '[\n1,\n{"a": true}]', True),
        (CHESS_GBNF, "1. e4 e5\n2. Nf3 Nc6\n", True), (CHESS_GBNF, '{"move": "e4"}', False),
        (JAPANESE_GBNF, "こんにちは 世界", True), (JAPANESE_GBNF, "hello", False),
        (ARITHMETIC_GBNF, "1+2= 3\n", True), (LIST_GBNF, "- apples\n- pears\n", True),
        (C_GBNF, "int main(){return 0;}", True),
    ]
    for grammar, text, expected in checks:
        assert oracle.accepts(grammar, text) is expected, (grammar[:40], text)


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_grammars_pass_here_and_in_llama_cpp(name: str, oracle: GrammarOracle) -> None:
    text = VALID[name]
    grammar = LlamaGrammar.from_string(text)
    assert grammar._grammar == text
    assert oracle.compiles(text), "llama.cpp refused a grammar the Python check accepted"


def test_valid_grammars_mean_what_they_say(oracle: GrammarOracle) -> None:
    grammar = VALID["all repetitions"]
    assert oracle.accepts(grammar, "bdd" "e" "ggg" "hi")
    assert oracle.accepts(grammar, "aaabbddeeeffgghihi")
    assert not oracle.accepts(grammar, "bdd" "e" "g")  # [g]{2,4} needs two
    assert not oracle.accepts(grammar, "bddeffffgg")  # at most three f
    assert oracle.accepts(VALID["redefinition keeps the last"], "b")
    assert not oracle.accepts(VALID["redefinition keeps the last"], "a")


@pytest.mark.parametrize("text,line,column,fragment", INVALID + REFUSED_FOR_SAFETY)
def test_malformed_grammar_error_names_place_and_problem(text: str, line, column, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        LlamaGrammar.from_string(text)
    err = info.value
    assert isinstance(err, GrammarError)
    assert (err.line, err.column) == (line, column), str(err)
    assert fragment in err.reason, str(err)
    if line is not None:
        assert f"line {line}, column {column}" in str(err)
        assert "^" in str(err)  # a caret under the offending character


@pytest.mark.parametrize("text", [t for t, *_ in INVALID])
def test_malformed_grammars_are_refused_by_llama_cpp_too(text: str, oracle: GrammarOracle) -> None:
    assert not oracle.compiles(text)


def test_text_tokens_are_left_to_the_vocabulary(oracle: GrammarOracle) -> None:
    grammar = LlamaGrammar.from_string('root ::= <|im_start|> "x" !<nonexistent-token-text> <[5]>')
    assert grammar._token_texts == ["<|im_start|>", "<nonexistent-token-text>"]
    # the syntax is fine; only the vocabulary can say the second text is not one token
    assert not oracle.compiles(grammar._grammar)
    assert oracle.compiles('root ::= <|im_start|> "x"')


def test_empty_string_is_refused_although_llama_cpp_would_ignore_it(oracle: GrammarOracle) -> None:
    # llama.cpp builds a sampler that constrains nothing for "", which would
    # silently drop the grammar; it is an error here
    with pytest.raises(GrammarError, match="empty"):
        LlamaGrammar.from_string("")
    assert oracle.compiles("")


def test_repetition_limits_agree_with_llama_cpp(oracle: GrammarOracle) -> None:
    cases = ['root ::= "a"{2000}', 'root ::= "a"{2001}', 'root ::= ("a"{0,999}){2}', 'root ::= ("a"{0,1000}){2}',
             'root ::= ("a" "b"?){1000}', 'root ::= (("a"?){0,40}){0,50}', 'root ::= "a"{0,2000}',
             'root ::= "a"{0,2001}', 'root ::= ([a-c]{0,30} "x"){0,66}', 'root ::= ([a-c]{0,30} "x"){0,67}']
    for text in cases:
        try:
            LlamaGrammar.from_string(text)
            ours = True
        except GrammarError:
            ours = False
        assert ours == oracle.compiles(text), text


def test_nesting_depth_is_bounded(oracle: GrammarOracle) -> None:
    def nested(depth: int) -> str:
        return "root ::= " + "(" * depth + '"a"' + ")" * depth

    assert LlamaGrammar.from_string(nested(300))._grammar == nested(300)
    assert oracle.compiles(nested(300))
    with pytest.raises(GrammarError, match="nested more than 300 levels"):
        LlamaGrammar.from_string(nested(5000))  # a clear error, not a RecursionError


def test_error_survives_pickling() -> None:
    with pytest.raises(GrammarError) as info:
        LlamaGrammar.from_string('root ::= "a"\nx ::= y')
    copy = pickle.loads(pickle.dumps(info.value))
    assert (copy.line, copy.column, copy.reason, str(copy)) == (2, 7, info.value.reason, str(info.value))


def test_from_file(tmp_path: Path) -> None:
    good = tmp_path / "list.gbnf"
    good.write_text(LIST_GBNF, encoding="utf-8")
    assert LlamaGrammar.from_file(good)._grammar == LIST_GBNF
    assert LlamaGrammar.from_file(str(good), verbose=False)._grammar == LIST_GBNF
    empty = tmp_path / "empty.gbnf"
    empty.write_text("")
    with pytest.raises(ValueError, match="^from_file: error parsing grammar file: params_grammer is empty$"):
        LlamaGrammar.from_file(empty)
    with pytest.raises(OSError, match="from_file: error reading grammar file: "):
        LlamaGrammar.from_file(tmp_path / "missing.gbnf")
    bad = tmp_path / "bad.gbnf"
    bad.write_text('root ::= "a"\nroot ::= (')
    with pytest.raises(GrammarError, match="line 2, column 11"):
        LlamaGrammar.from_file(bad)


def test_direct_construction_is_checked_too() -> None:
    assert LlamaGrammar(_grammar='root ::= "a"')._root == "root"
    with pytest.raises(GrammarError):
        LlamaGrammar(_grammar="root ::= missing")
    with pytest.raises(TypeError):
        LlamaGrammar.from_string(b'root ::= "a"')  # type: ignore[arg-type]


FUZZ_SCRIPT = r"""
import json, random, sys
sys.path.insert(0, {tests!r})
from grammar_oracle import GrammarOracle
from llama_cpp.llama_grammar import LlamaGrammar, GrammarError, JSON_GBNF, C_GBNF, CHESS_GBNF, ARITHMETIC_GBNF
oracle = GrammarOracle({model!r})
random.seed({seed})
bases = [JSON_GBNF, C_GBNF, CHESS_GBNF, ARITHMETIC_GBNF, 'root ::= a+ b{{2,3}} c?\na ::= "x" | [a-z]\nb ::= ("y" | "z")*\nc ::= .',
         'root ::= <[12]> !<[13]>* "e\\x41\\u00e9" [\\x00-\\x1F\\-\\]\\[]']
pieces = list('"[]()|*+?{{}},.:=-#!^\\ \n\t\r0123456789abxyz') + ['::=', 'root', '{{0}}', '{{2,1}}', '{{1,3}}', '\\x', '"a"', '[a-z]', '[z-a]', '<[7]>']
# deliberately stricter than llama.cpp: classes/literals that can never match, and {{m,n}} with n < m
STRICTER = ("reversed", "can never", "maximum below its minimum")
stats = {{"ours_ok": 0, "ours_err": 0, "agree": 0, "stricter": 0, "vocab": 0}}
problems = []
for i in range({count}):
    g = random.choice(bases)
    for _ in range(random.randint(1, 4)):
        k = random.randrange(len(g) + 1)
        op = random.random()
        if op < 0.4:
            g = g[:k] + random.choice(pieces) + g[k:]
        elif op < 0.8:
            g = g[:k] + g[k + random.randint(1, 3):]
        else:
            g = g[:k] + random.choice(pieces) + g[k + 1:]
    try:
        grammar = LlamaGrammar.from_string(g)
        ok, reason = True, ""
        stats["ours_ok"] += 1
        if grammar._token_texts:
            stats["vocab"] += 1
            continue  # whether <text> is one token is the vocabulary's call, made by llama.cpp
    except GrammarError as e:
        ok, reason = False, e.reason
        stats["ours_err"] += 1
        assert e.line is None or (e.line >= 1 and e.column >= 1)
    if not ok and "maximum below its minimum" in reason:
        stats["stricter"] += 1
        continue  # llama.cpp would loop until memory runs out on this one
    theirs = oracle.compiles(g)
    if ok == theirs:
        stats["agree"] += 1
    elif not ok and any(s in reason for s in STRICTER):
        stats["stricter"] += 1
    else:
        problems.append([g, ok, theirs, reason])
print(json.dumps({{"stats": stats, "problems": problems[:5], "n_problems": len(problems)}}))
"""


@pytest.mark.parametrize("seed", [1, 2])
def test_fuzzed_grammars_agree_with_llama_cpp_and_never_crash(seed: int, model_path: str) -> None:
    # mutated sample grammars, mostly malformed, all in a child interpreter
    code = FUZZ_SCRIPT.format(tests=str(Path(__file__).parent), model=model_path, seed=seed, count=1500)
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    stats = report["stats"]
    assert report["n_problems"] == 0, report["problems"]
    assert stats["ours_err"] > 800 and stats["ours_ok"] > 100, stats  # both kinds really occurred
    assert stats["agree"] + stats["stricter"] + stats["vocab"] == 1500
    assert stats["agree"] > 1300, stats


def test_malformed_grammars_in_a_child_interpreter_raise_and_it_lives_on(model_path: str) -> None:
    texts = [t for t, *_ in INVALID + REFUSED_FOR_SAFETY]
    code = f"""
import json
from llama_cpp import Llama
from llama_cpp.llama_grammar import LlamaGrammar
texts = json.loads({json.dumps(json.dumps(texts))})
llm = Llama(model_path={model_path!r}, n_ctx=256, verbose=False)
raised = 0
for text in texts:
    try:
        grammar = LlamaGrammar.from_string(text)
    except ValueError:
        raised += 1
        continue
    llm.create_completion("x", grammar=grammar, max_tokens=4)
good = LlamaGrammar.from_string('root ::= "yes" | "no"')
out = llm.create_completion("Answer:", grammar=good, max_tokens=4, temperature=0)
print(json.dumps({{"raised": raised, "text": out["choices"][0]["text"]}}))
"""
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["raised"] == len(texts)
    assert report["text"] in ("yes", "no")
