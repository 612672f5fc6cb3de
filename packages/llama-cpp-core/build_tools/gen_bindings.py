#!/usr/bin/env python3
"""Generate the ctypes bindings of llama.cpp from its C headers.

Run by the core package's CMake build (never by hand in normal work):

    python gen_bindings.py --source-dir vendor/llama.cpp --commit 0c1e57098 \
        --out-py _bindings.py --out-probe layout_probe.c [--cc-include DIR]

It parses ``llama.h``, ``ggml.h``, ``ggml-backend.h``, ``ggml-cpu.h``, ``gguf.h``
and ``ggml-rpc.h`` with libclang (the ``libclang`` wheel), so enum values, array
sizes, deprecation and record layouts come from a real C front end, and writes:

* a Python module of ctypes declarations (records in C field order, callback
  types, enums as IntEnum classes and as module constants, numeric and string
  macros, and a table of every function that the module binds lazily);
* a C program that prints the size, alignment and field offsets of every record
  as the C compiler lays them out, for the layout check (``_layout.py``).
"""

from __future__ import annotations

import argparse
import ctypes
import re
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import clang.cindex as ci

HEADERS = [
    "include/llama.h",
    "ggml/include/ggml.h",
    "ggml/include/ggml-backend.h",
    "ggml/include/ggml-cpu.h",
    "ggml/include/gguf.h",
    "ggml/include/ggml-rpc.h",
    "tools/mtmd/mtmd.h",
    "tools/mtmd/mtmd-helper.h",
]
INCLUDE_DIRS = ["include", "ggml/include", "tools/mtmd"]

# Standard typedefs the headers use, mapped straight to ctypes.
STD_TYPEDEFS = {
    "int8_t": "ctypes.c_int8", "uint8_t": "ctypes.c_uint8",
    "int16_t": "ctypes.c_int16", "uint16_t": "ctypes.c_uint16",
    "int32_t": "ctypes.c_int32", "uint32_t": "ctypes.c_uint32",
    "int64_t": "ctypes.c_int64", "uint64_t": "ctypes.c_uint64",
    "size_t": "ctypes.c_size_t", "ssize_t": "ctypes.c_ssize_t",
    "intptr_t": "ctypes.c_ssize_t", "uintptr_t": "ctypes.c_size_t",
}

BUILTINS = {
    ci.TypeKind.BOOL: "ctypes.c_bool",
    ci.TypeKind.CHAR_S: "ctypes.c_char", ci.TypeKind.CHAR_U: "ctypes.c_char",
    ci.TypeKind.SCHAR: "ctypes.c_byte", ci.TypeKind.UCHAR: "ctypes.c_ubyte",
    ci.TypeKind.SHORT: "ctypes.c_short", ci.TypeKind.USHORT: "ctypes.c_ushort",
    ci.TypeKind.INT: "ctypes.c_int", ci.TypeKind.UINT: "ctypes.c_uint",
    ci.TypeKind.LONG: "ctypes.c_long", ci.TypeKind.ULONG: "ctypes.c_ulong",
    ci.TypeKind.LONGLONG: "ctypes.c_longlong", ci.TypeKind.ULONGLONG: "ctypes.c_ulonglong",
    ci.TypeKind.FLOAT: "ctypes.c_float", ci.TypeKind.DOUBLE: "ctypes.c_double",
    ci.TypeKind.LONGDOUBLE: "ctypes.c_longdouble",
}


def camel(name: str) -> str:
    """``llama_vocab_type`` -> ``LlamaVocabType`` (IntEnum class names; the
    snake_case name is often also a function, e.g. ``llama_vocab_type()``)."""
    return "".join(p[:1].upper() + p[1:] for p in name.split("_") if p)


@dataclass
class Record:
    name: str          # Python class name
    c_name: str        # how C spells the type (for the probe)
    kind: str          # "Structure" or "Union"
    cursor: ci.Cursor
    header: str
    fields: list[tuple[str, str, str | None, int | None]] = field(default_factory=list)
    # (python field name, ctypes expression, C member path for offsetof or None, bit width)
    anonymous: list[str] = field(default_factory=list)
    deps: set[str] = field(default_factory=set)  # by-value dependencies (record / callback names)
    comment: str = ""


@dataclass
class Callback:
    name: str
    restype: str
    argtypes: list[str]
    deps: set[str]
    c_decl: str


@dataclass
class Function:
    name: str
    restype: str
    argtypes: list[str]
    argnames: list[str]
    variadic: bool
    deprecated: str | None
    c_decl: str
    header: str
    comment: str = ""


class Generator:
    def __init__(self, source_dir: Path, cc_include: str | None):
        self.src = source_dir
        self.headers = {str((source_dir / h).resolve()): Path(h).name for h in HEADERS}
        # -fparse-all-comments: llama.h documents with plain `//` comments, not Doxygen ones
        args = ["-x", "c", "-std=c11", "-fparse-all-comments"] + [f"-I{source_dir / d}" for d in INCLUDE_DIRS]
        if cc_include:
            args.append(f"-I{cc_include}")
        with tempfile.NamedTemporaryFile("w", suffix=".c", delete=False) as tu_src:
            for h in HEADERS:
                tu_src.write(f'#include "{Path(h).name}"\n')
        index = ci.Index.create()
        self.tu = index.parse(
            tu_src.name, args=args,
            options=ci.TranslationUnit.PARSE_DETAILED_PROCESSING_RECORD | ci.TranslationUnit.PARSE_SKIP_FUNCTION_BODIES,
        )
        errors = [d for d in self.tu.diagnostics if d.severity >= ci.Diagnostic.Error]
        if errors:
            raise SystemExit("libclang could not parse the headers:\n" + "\n".join(str(d) for d in errors))
        self.records: dict[str, Record] = {}
        self.record_by_usr: dict[str, str] = {}
        self.callbacks: dict[str, Callback] = {}
        self.typedefs: list[tuple[str, str, str]] = []  # (name, expr, header)
        self.typedef_names: set[str] = set()
        self.opaque: dict[str, str] = {}  # opaque struct name -> header
        self.enums: list[tuple[str, str | None, list[tuple[str, int]], str]] = []
        self.enum_docs: dict[str, str] = {}  # enum name -> class docstring
        self.macros: list[tuple[str, object, str]] = []
        self.functions: dict[str, Function] = {}
        self.docs: dict[str, str] = {}  # docstrings of enumerators, macros, typedefs and callbacks
        self._sources: dict[str, bytes] = {}

    # ---------------------------------------------------------------- helpers
    def _header_of(self, cursor: ci.Cursor) -> str | None:
        f = cursor.location.file
        return self.headers.get(str(Path(f.name).resolve())) if f else None

    def _file_of(self, cursor: ci.Cursor) -> str:
        return Path(cursor.location.file.name).name

    def _ours(self, cursor: ci.Cursor) -> bool:
        return self._header_of(cursor) is not None

    def _in_tree(self, cursor: ci.Cursor) -> bool:
        """Declared in any llama.cpp header (ggml-opt.h, ggml-alloc.h, ... too): their
        records and typedefs are generated because our headers' declarations use them."""
        f = cursor.location.file
        return bool(f) and str(Path(f.name).resolve()).startswith(str(self.src) + "/")

    @staticmethod
    def _strip(t: ci.Type) -> ci.Type:
        while t.kind == ci.TypeKind.ELABORATED:
            t = t.get_named_type()
        return t

    def _record_name(self, decl: ci.Cursor) -> str | None:
        return self.record_by_usr.get(decl.get_usr() or decl.hash and str(decl.hash))

    def ctype(self, t: ci.Type, deps: set[str] | None = None, cb_name: str | None = None) -> str:
        """ctypes expression for C type ``t``; by-value record/callback uses go to ``deps``."""
        t = self._strip(t)
        k = t.kind
        if k == ci.TypeKind.TYPEDEF:
            name = t.get_declaration().spelling
            if name in STD_TYPEDEFS:
                return STD_TYPEDEFS[name]
            if name in self.typedef_names:
                if deps is not None and name in self.callbacks:
                    deps.add(name)
                if deps is not None and name in self.records:
                    deps.add(name)
                return name
            return self.ctype(t.get_declaration().underlying_typedef_type, deps, cb_name)
        if k in BUILTINS:
            return BUILTINS[k]
        if k == ci.TypeKind.VOID:
            return "None"
        if k == ci.TypeKind.ENUM:
            ut = t.get_declaration().enum_type
            return self.ctype(ut)
        if k == ci.TypeKind.RECORD:
            decl = t.get_declaration()
            name = self._record_name(decl)
            if name is None:
                raise ValueError(f"record {t.spelling} used by value but not generated")
            if deps is not None:
                deps.add(name)
            return name
        if k == ci.TypeKind.CONSTANTARRAY:
            return f"({self.ctype(t.element_type, deps)} * {t.element_count})"
        if k in (ci.TypeKind.INCOMPLETEARRAY, ci.TypeKind.VARIABLEARRAY, ci.TypeKind.DEPENDENTSIZEDARRAY):
            return f"ctypes.POINTER({self.ctype(t.element_type)})"
        if k == ci.TypeKind.POINTER:
            p = self._strip(t.get_pointee())
            if p.kind in (ci.TypeKind.CHAR_S, ci.TypeKind.CHAR_U):
                return "ctypes.c_char_p"
            if p.kind == ci.TypeKind.VOID:
                return "ctypes.c_void_p"
            if p.kind in (ci.TypeKind.FUNCTIONPROTO, ci.TypeKind.FUNCTIONNOPROTO):
                return self._inline_callback(p, cb_name, deps)
            if p.kind == ci.TypeKind.RECORD:
                decl = p.get_declaration()
                name = self._record_name(decl)
                return f"ctypes.POINTER({name})" if name else "ctypes.c_void_p"
            if p.kind == ci.TypeKind.TYPEDEF and self._strip(p.get_canonical()).kind == ci.TypeKind.RECORD:
                decl = self._strip(p.get_canonical()).get_declaration()
                name = self._record_name(decl)
                return f"ctypes.POINTER({name})" if name else "ctypes.c_void_p"
            return f"ctypes.POINTER({self.ctype(p)})"
        raise ValueError(f"unsupported C type {t.spelling!r} ({k})")

    def _proto(self, p: ci.Type, deps: set[str]) -> tuple[str, list[str]]:
        res = self.ctype(p.get_result(), deps)
        args = [self.ctype(a, deps) for a in p.argument_types()] if p.kind == ci.TypeKind.FUNCTIONPROTO else []
        return res, args

    def _inline_callback(self, p: ci.Type, name: str | None, outer_deps: set[str] | None) -> str:
        deps: set[str] = set()
        res, args = self._proto(p, deps)
        if name is None:
            return f"ctypes.CFUNCTYPE({', '.join([res] + args)})"
        if name not in self.callbacks:
            self.callbacks[name] = Callback(name, res, args, deps, p.spelling)
        if outer_deps is not None:
            outer_deps.add(name)
        return name


    # ---------------------------------------------------------- documentation
    @staticmethod
    def _comment_lines(cursor: ci.Cursor) -> list[str]:
        """The C comment attached to ``cursor`` (the one above it, or after it on the same
        line), with its comment markers kept and its indentation removed."""
        raw = cursor.raw_comment
        if not raw:
            return []
        lines = [line.strip() for line in raw.strip().splitlines()]
        return [(" " + line) if line.startswith("*") else line for line in lines]

    def _source_text(self, cursor: ci.Cursor) -> str:
        """The declaration's own text in its header, dedented."""
        ext = cursor.extent
        path = ext.start.file.name
        if path not in self._sources:
            self._sources[path] = Path(path).read_bytes()
        text = self._sources[path][ext.start.offset:ext.end.offset].decode("utf-8", "replace")
        return textwrap.dedent(" " * (ext.start.column - 1) + text).strip()

    def _preceding_comment(self, cursor: ci.Cursor) -> list[str]:
        """``//`` lines directly above ``cursor`` (libclang attaches none to macros)."""
        path = cursor.extent.start.file.name
        if path not in self._sources:
            self._sources[path] = Path(path).read_bytes()
        lines = self._sources[path].decode("utf-8", "replace").splitlines()
        out: list[str] = []
        i = cursor.extent.start.line - 2
        while i >= 0 and lines[i].strip().startswith("//"):
            out.insert(0, lines[i].strip())
            i -= 1
        return out

    @staticmethod
    def _docstring(summary: str, c_lines: list[str]) -> str:
        """A summary sentence, then the C comment and declaration as a fenced C block."""
        body = "\n".join(c_lines).replace("```", "` ` `")
        return f"{summary}\n\n```c\n{body}\n```"

    # --------------------------------------------------------------- passes
    def collect(self) -> None:
        tree = [c for c in self.tu.cursor.get_children() if self._in_tree(c)]
        top = [c for c in tree if self._ours(c)]
        # 1. name every record defined in our headers (typedef'd anonymous ones by their typedef)
        anon_typedefs = {}
        for c in tree:
            if c.kind == ci.CursorKind.TYPEDEF_DECL:
                u = self._strip(c.underlying_typedef_type)
                d = u.get_declaration() if u.kind == ci.TypeKind.RECORD else None
                if d is not None and (d.is_anonymous() or [t.spelling for t in d.get_tokens()][1:2] == ["{"]):
                    anon_typedefs[u.get_declaration().get_usr()] = c.spelling
        for c in tree:
            if c.kind in (ci.CursorKind.STRUCT_DECL, ci.CursorKind.UNION_DECL):
                if c.is_definition():
                    self._register_record(c, anon_typedefs)
                elif c.spelling and not c.get_definition():
                    self.opaque.setdefault(c.spelling, self._file_of(c))
        # 2. typedefs (scalar aliases, callbacks, pointer-to-opaque handles, record aliases)
        for c in tree:
            if c.kind != ci.CursorKind.TYPEDEF_DECL or c.spelling in STD_TYPEDEFS:
                continue
            self.typedef_names.add(c.spelling)
        for c in tree:
            if c.kind != ci.CursorKind.TYPEDEF_DECL or c.spelling in STD_TYPEDEFS:
                continue
            u = self._strip(c.underlying_typedef_type)
            name = c.spelling
            if u.kind not in (ci.TypeKind.RECORD,):
                what = "callback type" if u.kind == ci.TypeKind.POINTER and self._strip(u.get_pointee()).kind == ci.TypeKind.FUNCTIONPROTO else "typedef"
                self.docs[name] = self._docstring(
                    f"C {what} ``{name}`` from ``{self._file_of(c)}``.",
                    self._comment_lines(c) + [self._source_text(c) + ";"],
                )
            if u.kind == ci.TypeKind.POINTER and self._strip(u.get_pointee()).kind == ci.TypeKind.FUNCTIONPROTO:
                self.typedef_names.discard(name)  # resolve the prototype itself
                deps: set[str] = set()
                res, args = self._proto(self._strip(u.get_pointee()), deps)
                self.callbacks[name] = Callback(name, res, args, deps, u.spelling)
                self.typedef_names.add(name)
                continue
            if u.kind == ci.TypeKind.RECORD:
                rname = self._record_name(u.get_declaration())
                if rname == name:
                    continue  # typedef struct x x;
                self.typedefs.append((name, rname or "ctypes.c_void_p", self._file_of(c)))
                continue
            if u.kind == ci.TypeKind.ENUM:
                self.typedefs.append((name, self.ctype(u), self._file_of(c)))
                continue
            self.typedef_names.discard(name)
            expr = self.ctype(u)
            self.typedef_names.add(name)
            self.typedefs.append((name, expr, self._file_of(c)))
        # 3. record fields (now that typedefs and callbacks are known)
        for rec in list(self.records.values()):
            self._fields(rec)
        # 4. enums, functions, macros
        for c in top:
            if c.kind == ci.CursorKind.ENUM_DECL and c.is_definition():
                name = None if c.is_anonymous() else c.spelling
                if name and name.startswith("enum ("):
                    name = None
                values = [(e.spelling, e.enum_value) for e in c.get_children() if e.kind == ci.CursorKind.ENUM_CONSTANT_DECL]
                header = self._header_of(c)
                self.enums.append((name or "", self.ctype(c.enum_type), values, header))
                c_lines = self._comment_lines(c) + self._source_text(c).splitlines()
                if name:
                    self.enum_docs[name] = self._docstring(f"C ``enum {name}`` from ``{header}``.", c_lines)
                owner = f"``enum {name}``" if name else "an anonymous enum"
                for e in c.get_children():
                    if e.kind != ci.CursorKind.ENUM_CONSTANT_DECL:
                        continue
                    note = " ".join(line.lstrip("/*!< ").strip() for line in self._comment_lines(e)).strip()
                    self.docs[e.spelling] = (
                        f"Enumerator ``{e.spelling} = {e.enum_value}`` of {owner} (``{header}``)."
                        + (f" The header says: {note}" if note else "")
                    )
            elif c.kind == ci.CursorKind.FUNCTION_DECL and c.linkage == ci.LinkageKind.EXTERNAL:
                if c.storage_class == ci.StorageClass.STATIC:
                    continue
                self._function(c)
            elif c.kind == ci.CursorKind.MACRO_DEFINITION:
                self._macro(c)

    def _function_names(self) -> set[str]:
        if not hasattr(self, "_fn_names"):
            self._fn_names = {
                c.spelling for c in self.tu.cursor.get_children()
                if c.kind == ci.CursorKind.FUNCTION_DECL and self._ours(c)
            }
        return self._fn_names

    def _register_record(self, c: ci.Cursor, anon_typedefs: dict[str, str]) -> None:
        usr = c.get_usr()
        tokens = [t.spelling for t in c.get_tokens()][:2]
        if c.is_anonymous() or (len(tokens) == 2 and tokens[1] == "{"):
            name = anon_typedefs.get(usr)
            if not name:
                return
            c_name = name
        else:
            name = c.spelling
            c_name = ("union " if c.kind == ci.CursorKind.UNION_DECL else "struct ") + name
        kind = "Union" if c.kind == ci.CursorKind.UNION_DECL else "Structure"
        if name in self._function_names():
            name = f"struct_{name}"  # e.g. ggml_backend_graph_copy is a struct and a function
        comment = self._comment_lines(c)
        self.records[name] = Record(name, c_name, kind, c, self._file_of(c), comment="\n".join(comment))
        self.record_by_usr[usr] = name

    def _fields(self, rec: Record, prefix: str = "") -> None:
        children = list(rec.cursor.get_children())
        for i, ch in enumerate(children):
            if ch.kind in (ci.CursorKind.STRUCT_DECL, ci.CursorKind.UNION_DECL) and ch.is_definition():
                # nested record: either the type of the next field, or an anonymous member
                nested_name = f"{rec.name}_{'u' if ch.kind == ci.CursorKind.UNION_DECL else 's'}{i}"
                nxt = children[i + 1] if i + 1 < len(children) else None
                is_member_type = (
                    nxt is not None and nxt.kind == ci.CursorKind.FIELD_DECL
                    and self._strip(nxt.type).kind == ci.TypeKind.RECORD
                    and self._strip(nxt.type).get_declaration().get_usr() == ch.get_usr()
                )
                if ch.get_usr() in self.record_by_usr:
                    continue
                if is_member_type:
                    nested_name = f"{rec.name}_{nxt.spelling}"
                elif ch.is_anonymous():
                    nested_name = f"{rec.name}_value" if "value" not in {x.spelling for x in children} else nested_name
                kind = "Union" if ch.kind == ci.CursorKind.UNION_DECL else "Structure"
                sub = Record(nested_name, "", kind, ch, rec.header)
                self.records[nested_name] = sub
                self.record_by_usr[ch.get_usr()] = nested_name
                self._fields(sub)
                if not is_member_type and ch.is_anonymous():
                    member = "value" if nested_name.endswith("_value") else f"_anon{i}"
                    first = next(x.spelling for x in ch.get_children() if x.kind == ci.CursorKind.FIELD_DECL)
                    rec.fields.append((member, nested_name, first, None))
                    rec.anonymous.append(member)
                    rec.deps.add(nested_name)
                continue
            if ch.kind != ci.CursorKind.FIELD_DECL:
                continue
            expr = self.ctype(ch.type, rec.deps, cb_name=f"{rec.name}_{ch.spelling}")
            bits = ch.get_bitfield_width() if ch.is_bitfield() else None
            rec.fields.append((ch.spelling, expr, None if bits else ch.spelling, bits))

    @staticmethod
    def _deprecation(c: ci.Cursor) -> str | None:
        """The hint of ``__attribute__((deprecated(hint)))``, or None when not deprecated."""
        if c.availability != ci.AvailabilityKind.DEPRECATED:
            return None
        fn = ci.conf.lib.clang_getCursorPlatformAvailability
        fn.argtypes = [ci.Cursor, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ci._CXString),
                       ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ci._CXString), ctypes.c_void_p, ctypes.c_int]
        fn.restype = ctypes.c_int
        always_dep, always_unavail = ctypes.c_int(), ctypes.c_int()
        dep_msg, unavail_msg = ci._CXString(), ci._CXString()
        fn(c, ctypes.byref(always_dep), ctypes.byref(dep_msg), ctypes.byref(always_unavail),
           ctypes.byref(unavail_msg), None, 0)
        hint = ci._CXString.from_result(dep_msg)
        ci._CXString.from_result(unavail_msg)
        return hint or "deprecated in llama.cpp"

    def _function(self, c: ci.Cursor) -> None:
        name = c.spelling
        if name in self.functions:
            return
        ftype = c.type
        deps: set[str] = set()
        restype = self.ctype(c.result_type, deps)
        args = list(c.get_arguments())
        argtypes = [self.ctype(a.type, deps) for a in args]
        argnames = [a.spelling or f"arg{i}" for i, a in enumerate(args)]
        c_decl = f"{c.result_type.spelling} {name}({', '.join(f'{a.type.spelling} {a.spelling}'.strip() for a in args)})"
        self.functions[name] = Function(
            name, restype, argtypes, argnames, ftype.is_function_variadic(),
            self._deprecation(c), re.sub(r"\s+", " ", c_decl), self._header_of(c),
            comment="\n".join(self._comment_lines(c)),
        )

    def _macro(self, c: ci.Cursor) -> None:
        name = c.spelling
        toks = [t.spelling for t in c.get_tokens()][1:]
        if not toks or name.startswith("_") or name.endswith("_H"):
            return
        # function-like macros: the name token is directly followed by '('
        ext = c.extent
        if len(toks) and toks[0] == "(":
            src = Path(ext.start.file.name).read_text(errors="replace")
            if src[ext.start.offset + len(name):ext.start.offset + len(name) + 1] == "(":
                return
        known = {n: v for n, v, _ in self.macros}
        out = []
        for t in toks:
            if re.fullmatch(r"0[xX][0-9a-fA-F]+[uUlL]*|\d+[uUlL]*", t):
                out.append(str(int(t.rstrip("uUlL"), 0)))
            elif re.fullmatch(r"(\d+\.\d*|\.\d+)([eE][-+]?\d+)?[fF]?", t):
                out.append(t.rstrip("fF"))
            elif re.fullmatch(r'"(?:[^"\\]|\\.)*"', t):
                out.append(t)
            elif t in known:
                out.append(repr(known[t]))
            elif t in ("(", ")", "+", "-", "*", "<<", ">>", "|", "&", "~"):
                out.append(t)
            else:
                return
        try:
            value = eval(" ".join(out), {"__builtins__": {}}, {})  # only whitelisted tokens reach here
        except Exception:
            return
        if isinstance(value, (int, float, str)):
            header = self._header_of(c)
            self.macros.append((name, value, header))
            self.docs[name] = self._docstring(
                f"C macro ``{name}`` from ``{header}``.",
                self._preceding_comment(c) + ["#define " + self._source_text(c)],
            )

    # --------------------------------------------------------------- output
    def _ordered_definitions(self) -> list[tuple[str, str]]:
        """Records' _fields_ and callbacks in an order where by-value uses are complete."""
        nodes: dict[str, tuple[str, set[str]]] = {}
        for r in self.records.values():
            nodes["R:" + r.name] = ("record", {("R:" if d in self.records else "C:") + d for d in r.deps if d != r.name})
        for cb in self.callbacks.values():
            nodes["C:" + cb.name] = ("callback", {("R:" if d in self.records else "C:") + d for d in cb.deps})
        order: list[str] = []
        state: dict[str, int] = {}

        def visit(n: str) -> None:
            if state.get(n) == 2:
                return
            if state.get(n) == 1:
                raise ValueError(f"by-value cycle through {n}")
            state[n] = 1
            for d in sorted(nodes.get(n, ("", set()))[1]):
                if d in nodes:
                    visit(d)
            state[n] = 2
            order.append(n)

        for n in sorted(nodes):
            visit(n)
        return [(n[:1], n[2:]) for n in order]

    def write_python(self, out: Path, commit: str) -> None:
        L: list[str] = []
        w = L.append
        w(f"# Generated by llama_cpp_core/build_tools/gen_bindings.py from llama.cpp {commit}. Do not edit: it is regenerated by every build.")
        w('"""ctypes declarations generated from the llama.cpp headers ' + ", ".join(Path(h).name for h in HEADERS) + '.')
        w("")
        w("Records keep C field order; enums are IntEnum classes (CamelCase) and module")
        w("constants (C enumerator names); functions are bound on first use by")
        w("``__getattr__`` through ``llama_cpp_core._loader``.")
        w('"""')
        w("")
        w("import ctypes")
        w("import enum")
        w("from typing import NewType")
        w("")
        w(f'LLAMA_CPP_COMMIT = "{commit}"')
        w('"""The llama.cpp commit these bindings were generated from (and the libraries built from)."""')
        w(f"HEADERS = {tuple(Path(h).name for h in HEADERS)!r}")
        w("")
        w("# ---------------------------------------------------------------- macros")
        for name, value, _header in self.macros:
            w(f"{name} = {value!r}")
            if name in self.docs:
                w(repr(self.docs[name]))
        w("")
        w("# ----------------------------------------------------------------- enums")
        enum_names = []
        for name, _ctype, values, _header in self.enums:
            if name:
                cls = camel(name)
                enum_names.append(cls)
                w("")
                w(f"class {cls}(enum.IntEnum):")
                w(f"    {self.enum_docs[name]!r}")
                seen = set()
                for en, ev in values:
                    if ev in seen:
                        w(f"    {en} = {ev}  # alias")
                    else:
                        w(f"    {en} = {ev}")
                    seen.add(ev)
                w("")
            for en, ev in values:
                w(f"{en} = {ev}")
                w(repr(self.docs[en]))
        w("")
        w("# ------------------------------------------------------ opaque handles")
        w("# Pointers to these structs are plain void pointers (int or None in Python).")
        for name in sorted(self.opaque):
            if name in self.records:
                continue
            w(f"{name}_p = NewType({name + '_p'!r}, int)")
            w(repr(f"A ``struct {name} *`` handle, as an ``int`` (``None`` for NULL)."))
            w(f"{name}_p_ctypes = ctypes.c_void_p")
            w(repr(f"The ctypes type of a ``struct {name} *`` handle."))
        w("")
        w("# --------------------------------------------------------- record types")
        for r in self.records.values():
            w(f"class {r.name}(ctypes.{r.kind}):")
            if r.c_name:
                doc = self._docstring(
                    f"C ``{r.c_name}`` from ``{r.header}``.",
                    (r.comment.splitlines() if r.comment else []) + [self._source_text(r.cursor) + ";"],
                )
                w(f"    {doc!r}")
            else:
                w('    """A nested record (a member of another record)."""')
            w("")
        w("")
        w("# -------------------------------------------------------------- typedefs")
        for name, expr, _header in self.typedefs:
            w(f"{name} = {expr}")
            if name in self.docs:
                w(repr(self.docs[name]))
        w("")
        w("# ------------------------------------------- record fields and callbacks")
        for kind, name in self._ordered_definitions():
            if kind == "C":
                cb = self.callbacks[name]
                w(f"{name} = ctypes.CFUNCTYPE({', '.join([cb.restype] + cb.argtypes)})  # {cb.c_decl}")
                if name in self.docs:
                    w(repr(self.docs[name]))
                else:  # the type of a function-pointer member of a record, named after it
                    w(repr(f"The C function-pointer type of the record member this is named after: ``{cb.c_decl}``."))
            else:
                r = self.records[name]
                if r.anonymous:
                    w(f"{name}._anonymous_ = {tuple(r.anonymous)!r}")
                w(f"{name}._fields_ = [")
                for fname, expr, _, bits in r.fields:
                    w(f"    ({fname!r}, {expr}{', ' + str(bits) if bits else ''}),")
                w("]")
        w("")
        w("# Pointer aliases the reference bindings also name.")
        for r in self.records.values():
            if r.c_name:
                w(f"{r.name}_p = ctypes.POINTER({r.name})")
                w(repr(f"``{r.c_name} *`` as a ctypes pointer type."))
        w("")
        w("# ------------------------------------------------------------- records")
        w("# (python name, C type, [(field, C member or None)]) for the layout check")
        w("RECORDS = [")
        for r in self.records.values():
            if r.c_name:
                w(f"    ({r.name!r}, {r.c_name!r}, {[(f, m) for f, _, m, _ in r.fields]!r}),")
        w("]")
        w("")
        w("# ------------------------------------------------------------ functions")
        w("# name: (restype, argtypes, argument names, variadic, deprecation hint or None, header, C declaration)")
        w("FUNCTIONS = {")
        for f in self.functions.values():
            w(f"    {f.name!r}: ({f.restype}, [{', '.join(f.argtypes)}], {tuple(f.argnames)!r}, {f.variadic}, {f.deprecated!r}, {f.header!r}, {f.c_decl!r}),")
        w("}")
        w("")
        w("ENUMS = (" + "".join(f"{n}, " for n in enum_names) + ")")
        w("")
        w("# Docstrings of the functions (their header comment and C declaration), set when bound.")
        w("_DOCS = {")
        for f in self.functions.values():
            summary = f"C function ``{f.name}`` from ``{f.header}``."
            if f.deprecated:
                summary += f" Deprecated: {f.deprecated}."
            decl = re.sub(r"\b_Bool\b", "bool", f.c_decl)  # as the headers spell it (stdbool.h)
            doc = self._docstring(summary, (f.comment.splitlines() if f.comment else []) + [decl + ";"])
            w(f"    {f.name!r}: {doc!r},")
        w("}")
        w("")
        w("")
        w("def __getattr__(name: str):")
        w("    if name in FUNCTIONS:")
        w("        from llama_cpp_core._binder import bind")
        w("        fn = bind(name, FUNCTIONS[name])")
        w("        fn.__doc__ = _DOCS[name]")
        w("        globals()[name] = fn")
        w("        return fn")
        w("    raise AttributeError(f\"module {__name__!r} has no attribute {name!r}\")")
        w("")
        w("")
        w("__all__ = [n for n in list(globals()) if not n.startswith('_') and n not in ('ctypes', 'enum', 'NewType')] + list(FUNCTIONS)")
        out.write_text("\n".join(L) + "\n")

    def write_probe(self, out: Path) -> None:
        L = [
            "/* Generated by gen_bindings.py: prints the C layout of every record for the layout check. */",
            "#include <stdio.h>",
            "#include <stddef.h>",
        ]
        L += [f'#include "{Path(h).name}"' for h in HEADERS]
        L.append("int main(void) {")
        for r in self.records.values():
            if not r.c_name:
                continue
            L.append(f'    printf("R {r.name} %zu %zu\\n", sizeof({r.c_name}), _Alignof({r.c_name}));')
            for fname, _, member, _ in r.fields:
                if member:
                    L.append(f'    printf("F {r.name} {fname} %zu\\n", offsetof({r.c_name}, {member}));')
        L.append("    return 0;")
        L.append("}")
        out.write_text("\n".join(L) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source-dir", required=True, type=Path)
    ap.add_argument("--commit", required=True)
    ap.add_argument("--out-py", required=True, type=Path)
    ap.add_argument("--out-probe", required=True, type=Path)
    ap.add_argument("--cc-include", help="the C compiler's own include dir (stddef.h, stdbool.h)")
    args = ap.parse_args()
    cc_include = args.cc_include
    if not cc_include:
        try:
            cc_include = subprocess.run(["cc", "-print-file-name=include"], capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            cc_include = None
    gen = Generator(args.source_dir.resolve(), cc_include)
    gen.collect()
    args.out_py.parent.mkdir(parents=True, exist_ok=True)
    gen.write_python(args.out_py, args.commit)
    gen.write_probe(args.out_probe)
    print(
        f"gen_bindings: {len(gen.functions)} functions, {len(gen.records)} records, "
        f"{sum(len(v) for _, _, v, _ in gen.enums)} enumerators, {len(gen.macros)} macros, {len(gen.callbacks)} callbacks"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
