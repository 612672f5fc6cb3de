#!/usr/bin/env python3
"""Print the best ggml CPU variant this machine can run (for LLAMA_CPP_CPU_VARIANT=auto).

Dev and CI builds compile one variant instead of all of them; the variant must
not use instructions the build machine lacks, or the tests would die with
"Illegal instruction".
"""

from __future__ import annotations

import platform
import sys
from pathlib import Path

# ggml's x86 variants (GGML_CPU_ALL_VARIANTS in ggml/src/CMakeLists.txt), most capable first;
# the /proc/cpuinfo flags each one's ISA options need
_AVX2 = {"sse4_2", "avx", "f16c", "fma", "avx2", "bmi2"}
_AVX512 = _AVX2 | {"avx512f"}
VARIANTS = [
    ("zen4", _AVX512 | {"avx512vbmi", "avx512_vnni", "avx512_bf16"}),
    ("cooperlake", _AVX512 | {"avx512_vnni", "avx512_bf16"}),
    ("icelake", _AVX512 | {"avx512vbmi", "avx512_vnni"}),
    ("cascadelake", _AVX512 | {"avx512_vnni"}),
    ("cannonlake", _AVX512 | {"avx512vbmi"}),
    ("skylakex", _AVX512),
    ("alderlake", _AVX2 | {"avx_vnni"}),
    ("haswell", _AVX2),
    ("piledriver", {"sse4_2", "avx", "f16c", "fma"}),
    ("ivybridge", {"sse4_2", "avx", "f16c"}),
    ("sandybridge", {"sse4_2", "avx"}),
    ("sse42", {"sse4_2"}),
]
# Also in ggml's list, never picked by "auto": sapphirerapids (zen4's set plus AMX_TILE/AMX_INT8).
# Its AMX path repacks quantised weights into its own buffer type, so a dev build on an AMX
# machine would test a different weight layout than most users run; build it explicitly with
# LLAMA_CPP_CPU_VARIANT=sapphirerapids (the release build, "all", includes it).
EXPLICIT_ONLY = [
    ("sapphirerapids", _AVX512 | {"avx512vbmi", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8"}),
]


def best_variant() -> str:
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return "all"  # non-x86: ggml's own variant list (or the single default) applies
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "x64"
    flags: set[str] = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    for name, needs in VARIANTS:
        if needs <= flags:
            return name
    return "x64"


if __name__ == "__main__":
    print(best_variant())
    sys.exit(0)
