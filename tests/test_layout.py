"""ctypes record layouts equal the C compiler's (the same check the build runs)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import llama_cpp_core
from llama_cpp_core import _bindings as B
from llama_cpp_core._layout import compare, parse_probe_output

PKG = Path(llama_cpp_core.__file__).parent


def test_layout_probe_matches_ctypes(tmp_path: Path) -> None:
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.fail("a C compiler is needed for the layout check (apt-get install gcc)")
    exe = tmp_path / "probe"
    subprocess.run(
        [cc, "-std=c11", "-I", str(PKG / "include"), str(PKG / "_layout_probe.c"), "-o", str(exe)],
        check=True, capture_output=True, text=True,
    )
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    records, fields = parse_probe_output(out)
    assert len(records) == len(B.RECORDS) >= 30
    assert len(fields) > 200
    assert compare(B, out) == []


def test_compare_reports_a_moved_field() -> None:
    import ctypes

    name, _c, members = next(r for r in B.RECORDS if r[0] == "llama_token_data")
    cls = getattr(B, name)
    good = [f"R {name} {ctypes.sizeof(cls)} {ctypes.alignment(cls)}"] + [
        f"F {name} {f} {getattr(cls, f).offset}" for f, _ in members
    ]
    bad = good[:-1] + [f"F {name} {members[-1][0]} 999"]
    others = []
    for rname, _c2, rmembers in B.RECORDS:
        if rname == name:
            continue
        rcls = getattr(B, rname)
        others.append(f"R {rname} {ctypes.sizeof(rcls)} {ctypes.alignment(rcls)}")
        others += [f"F {rname} {f} {getattr(rcls, f).offset}" for f, m in rmembers if m]
    assert compare(B, "\n".join(good + others)) == []
    diffs = compare(B, "\n".join(bad + others))
    assert diffs == [f"{name}.{members[-1][0]}: offset C 999 != ctypes {getattr(cls, members[-1][0]).offset}"]
