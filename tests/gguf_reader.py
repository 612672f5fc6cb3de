"""A minimal GGUF metadata reader, independent of llama.cpp, for cross-checking it."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, BinaryIO

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


def _read(f: BinaryIO, fmt: str) -> Any:
    size = struct.calcsize(fmt)
    return struct.unpack(fmt, f.read(size))[0]


def _string(f: BinaryIO) -> str:
    n = _read(f, "<Q")
    return f.read(n).decode("utf-8", errors="replace")


def _value(f: BinaryIO, vtype: int) -> Any:
    if vtype == _STRING:
        return _string(f)
    if vtype == _ARRAY:
        etype = _read(f, "<I")
        n = _read(f, "<Q")
        return [_value(f, etype) for _ in range(n)]
    return _read(f, _SCALARS[vtype])


def read_metadata(path: str | Path) -> dict[str, Any]:
    with open(path, "rb") as f:
        if f.read(4) != b"GGUF":
            raise ValueError(f"{path} is not a GGUF file")
        _version = _read(f, "<I")
        _n_tensors = _read(f, "<Q")
        n_kv = _read(f, "<Q")
        out = {}
        for _ in range(n_kv):
            key = _string(f)
            out[key] = _value(f, _read(f, "<I"))
        return out
