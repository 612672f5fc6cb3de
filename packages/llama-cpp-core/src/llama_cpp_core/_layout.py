"""Compare the ctypes record layouts with the C compiler's.

The build compiles ``_layout_probe.c`` (generated with the bindings), runs it
and feeds its output to ``compare`` together with the generated module;
any difference in a record's size, alignment or any field's offset fails the
build. The test suite runs the same comparison against the installed wheel.

This module imports nothing from the package so the build can run it on the
freshly generated bindings file: ``python _layout.py BINDINGS.py --run PROBE_EXE``.
"""

from __future__ import annotations

import ctypes
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

__all__ = ["compare", "parse_probe_output"]


def parse_probe_output(text: str) -> tuple[dict[str, tuple[int, int]], dict[tuple[str, str], int]]:
    records: dict[str, tuple[int, int]] = {}
    fields: dict[tuple[str, str], int] = {}
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "R":
            records[parts[1]] = (int(parts[2]), int(parts[3]))
        elif parts[0] == "F":
            fields[(parts[1], parts[2])] = int(parts[3])
        else:
            raise ValueError(f"unexpected layout probe line: {line!r}")
    return records, fields


def compare(bindings: ModuleType, probe_output: str) -> list[str]:
    """Every difference between the C layout (probe output) and the ctypes one."""
    c_records, c_fields = parse_probe_output(probe_output)
    diffs = []
    for name, _c_name, members in bindings.RECORDS:
        cls = getattr(bindings, name)
        if name not in c_records:
            diffs.append(f"{name}: not measured by the probe")
            continue
        size, align = c_records[name]
        if ctypes.sizeof(cls) != size:
            diffs.append(f"{name}: sizeof C {size} != ctypes {ctypes.sizeof(cls)}")
        if ctypes.alignment(cls) != align:
            diffs.append(f"{name}: alignof C {align} != ctypes {ctypes.alignment(cls)}")
        for fname, member in members:
            if member is None:
                continue  # bit-field: no offsetof in C; covered by the record size
            off = getattr(cls, fname).offset
            c_off = c_fields.get((name, fname))
            if c_off is None:
                diffs.append(f"{name}.{fname}: not measured by the probe")
            elif c_off != off:
                diffs.append(f"{name}.{fname}: offset C {c_off} != ctypes {off}")
    unknown = set(c_records) - {r[0] for r in bindings.RECORDS}
    diffs.extend(f"{name}: measured by the probe but not bound" for name in sorted(unknown))
    return diffs


def _load_file(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("_llama_cpp_core_bindings_under_check", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[1] == "--run":
        import subprocess

        probe_output = subprocess.run([argv[2]], capture_output=True, text=True, check=True).stdout
    elif len(argv) == 2:
        probe_output = Path(argv[1]).read_text()
    else:
        print("usage: python _layout.py BINDINGS.py (PROBE_OUTPUT | --run PROBE_EXE)", file=sys.stderr)
        return 2
    bindings = _load_file(Path(argv[0]))
    diffs = compare(bindings, probe_output)
    if diffs:
        print(f"layout check: {len(diffs)} differences between C and ctypes:", file=sys.stderr)
        for d in diffs:
            print("  " + d, file=sys.stderr)
        return 1
    print(f"layout check: {len(bindings.RECORDS)} records match the C compiler's layout")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
