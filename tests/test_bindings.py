"""The generated bindings cover the pinned headers completely.

Each header is parsed here with plain regular expressions, independently of
the libclang-based generator, and every declaration found must be bound.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import llama_cpp
import llama_cpp.llama_cpp as C
import llama_cpp_core
from llama_cpp_core import _bindings as B

INCLUDE = Path(llama_cpp_core.__file__).parent / "include"


def _strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    # C++-only parts (mtmd.h's wrappers): not C API, not bound; the extern "C" openers go with them
    text = re.sub(r"#ifdef __cplusplus\n.*?#endif", " ", text, flags=re.S)
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def api_functions(header: str, marker: str) -> set[str]:
    """Names of every function declared with ``marker`` (LLAMA_API, GGML_API, ...)."""
    text = _strip_comments((INCLUDE / header).read_text())
    names = set()
    for m in re.finditer(rf"\b{marker}\b", text):
        rest = text[m.end():]
        head = rest[: rest.index("(")]
        if head.strip() in ("DEPRECATED", "GGML_DEPRECATED"):  # `LLAMA_API DEPRECATED(ret name(...`
            rest = rest[rest.index("(") + 1:]
            head = rest[: rest.index("(")]
        ident = re.findall(r"[A-Za-z_]\w*", head)
        if ident:
            names.add(ident[-1])
    return names


def _bodies(text: str, keyword: str):
    for m in re.finditer(rf"\b{keyword}\s+(\w+)\s*\{{", text):
        depth, i = 1, m.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        yield m.group(1), text[m.end(): i - 1]


def struct_fields(header: str) -> dict[str, list[str]]:
    text = _strip_comments((INCLUDE / header).read_text())
    out = {}
    for name, body in _bodies(text, "struct"):
        fields = []
        depth, stmt = 0, ""
        for ch in body:
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            if ch == ";" and depth == 0:
                fields.append(stmt)
                stmt = ""
            else:
                stmt += ch
        names = []
        for s in fields:
            s = s.strip()
            if s.startswith(("union", "struct")) and "{" in s and s.rstrip().endswith("}"):
                inner = s[s.index("{") + 1: s.rindex("}")]
                names += [re.findall(r"\w+", x.split("[")[0])[-1] for x in inner.split(";") if x.strip()]
                continue
            fp = re.search(r"\(\s*\*\s*(\w+)\s*\)", s)
            names.append(fp.group(1) if fp else re.findall(r"\w+", s.split("[")[0])[-1])
        out[name] = names
    return out


def enumerators(header: str) -> dict[str, str | None]:
    text = _strip_comments((INCLUDE / header).read_text())
    out: dict[str, str | None] = {}
    for _name, body in _bodies(text, "enum"):
        for item in body.split(","):
            m = re.match(r"\s*([A-Z_][A-Z0-9_]*)\s*(?:=\s*(.+?))?\s*$", item, flags=re.S)
            if m:
                out[m.group(1)] = m.group(2)
    return out


LLAMA_FUNCTIONS = api_functions("llama.h", "LLAMA_API")
HEADERS = ("llama.h", "ggml.h", "ggml-backend.h", "ggml-cpu.h", "gguf.h", "ggml-rpc.h", "mtmd.h", "mtmd-helper.h")


def test_every_header_is_generated() -> None:
    assert B.HEADERS == HEADERS


def test_llama_h_has_the_expected_number_of_functions() -> None:
    # the pinned llama.h declares 255 functions, the 2 threadpool ones included
    # (the API we replace binds the other 253 plus 2 Python-only shims)
    assert len(LLAMA_FUNCTIONS) == 255
    assert {"llama_attach_threadpool", "llama_detach_threadpool"} <= LLAMA_FUNCTIONS
    assert callable(C.llama_set_adapter_lora) and callable(C.llama_apply_adapter_cvec)


@pytest.mark.parametrize("name", sorted(LLAMA_FUNCTIONS))
def test_every_llama_function_is_bound_to_a_real_symbol(name: str) -> None:
    fn = getattr(C, name)
    assert getattr(llama_cpp, name) is fn
    raw = getattr(fn, "__wrapped__", fn)
    assert hasattr(raw, "argtypes"), f"{name} is not bound to a native symbol"
    restype, argtypes = B.FUNCTIONS[name][0], B.FUNCTIONS[name][1]
    assert raw.restype is restype and list(raw.argtypes) == list(argtypes)


@pytest.mark.parametrize(
    "header,marker",
    [("ggml.h", "GGML_API"), ("ggml-backend.h", "GGML_API"), ("ggml-cpu.h", "GGML_BACKEND_API"),
     ("gguf.h", "GGML_API"), ("ggml-rpc.h", "GGML_BACKEND_API"), ("mtmd.h", "MTMD_API"),
     ("mtmd-helper.h", "MTMD_API")],
)
def test_every_ggml_function_is_generated_and_resolves(header: str, marker: str) -> None:
    names = api_functions(header, marker)
    assert names, header
    missing = sorted(names - set(B.FUNCTIONS))
    assert not missing, f"{header}: not generated: {missing}"
    unresolved = [n for n in sorted(names) if not hasattr(getattr(getattr(B, n), "__wrapped__", getattr(B, n)), "argtypes")]
    # upstream declares a few functions it never defines; those must stay unresolved stubs
    undefined_upstream = {n for n in unresolved if not _defined_in_sources(n)}
    assert not set(unresolved) - undefined_upstream, f"{header}: no native symbol for {unresolved}"
    for n in undefined_upstream:
        with pytest.raises(llama_cpp_core.SymbolNotFoundError, match=n):
            getattr(B, n)()


def _defined_in_sources(name: str) -> bool:
    from conftest import VENDOR

    pattern = re.compile(rf"\b{name}\s*\(")
    for path in [*(VENDOR / "ggml" / "src").rglob("*.c*"), *(VENDOR / "tools" / "mtmd").rglob("*.c*")]:
        text = path.read_text(errors="replace")
        if name in text and pattern.search(text):
            return True
    return False


def test_every_struct_and_field_is_bound() -> None:
    checked = 0
    for header in HEADERS:
        for struct, fields in struct_fields(header).items():
            cls = getattr(B, struct)
            if struct in B.FUNCTIONS:  # a struct and a function share the name: the class gets a prefix
                cls = getattr(B, f"struct_{struct}")
            for f in fields:
                assert hasattr(cls, f), f"{struct}.{f}"
                checked += 1
    assert checked > 200


def test_every_enumerator_is_bound_with_its_value() -> None:
    values = 0
    for header in HEADERS:
        for name, expr in enumerators(header).items():
            assert hasattr(B, name), name
            if expr is not None and re.fullmatch(r"-?\s*(0x[0-9a-fA-F]+|\d+)", expr.strip()):
                assert getattr(B, name) == int(expr.replace(" ", ""), 0), name
                values += 1
    assert values > 100
    # llama.h enumerators are also on llama_cpp, and IntEnum classes exist
    for name in enumerators("llama.h"):
        assert hasattr(llama_cpp, name)
    assert llama_cpp.LlamaVocabType.LLAMA_VOCAB_TYPE_BPE == llama_cpp.LLAMA_VOCAB_TYPE_BPE == 2


def test_generated_module_says_so_and_names_the_commit() -> None:
    first = Path(B.__file__).read_text().splitlines()[0]
    assert first.startswith("# Generated by") and "0c1e57098" in first and "Do not edit" in first
    assert llama_cpp_core.LLAMA_CPP_COMMIT == "0c1e57098"


def test_macros_and_reference_constants() -> None:
    assert C.LLAMA_DEFAULT_SEED == 0xFFFFFFFF
    assert C.LLAMA_TOKEN_NULL == -1
    assert C.LLAMA_SESSION_MAGIC == C.LLAMA_FILE_MAGIC_GGSN == 0x6767736E
    assert C.LLAMA_STATE_SEQ_VERSION == 3
    assert C.LLAMA_MAX_DEVICES == C.llama_max_devices() >= 1
    assert C.GGML_TYPE_Q4_1 == 3 and C.LLAMA_FTYPE_GUESSED == 1024


def test_reference_aliases_and_callbacks() -> None:
    import ctypes

    assert C.llama_token_data_array_p._type_ is C.llama_token_data_array
    assert C.llama_sampler_p_ctypes._type_ is C.llama_sampler
    assert C.llama_model_p_ctypes is ctypes.c_void_p
    assert C.byref is ctypes.byref
    # callbacks are CFUNCTYPEs with the C signature
    assert C.llama_progress_callback._restype_ is ctypes.c_bool
    assert C.llama_progress_callback._argtypes_ == (ctypes.c_float, ctypes.c_void_p)
    assert [f[0] for f in C.llama_sampler_i._fields_][:6] == ["name", "accept", "apply", "reset", "clone", "free"]
    kv = C.llama_model_kv_override()
    kv.val_i64 = 7
    assert kv.value.val_i64 == 7


def test_missing_symbol_fails_only_when_called() -> None:
    from llama_cpp_core._binder import bind
    from llama_cpp_core._errors import SymbolNotFoundError

    fn = bind("llama_no_such_function", (None, [], (), False, None, "llama.h", "void llama_no_such_function(void)"))
    with pytest.raises(SymbolNotFoundError, match="llama_no_such_function"):
        fn()
