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

# most capable first; the flags each needs, as /proc/cpuinfo spells them
VARIANTS = [
    ("icelake", {"sse4_2", "avx", "f16c", "fma", "avx2", "bmi2", "avx512f", "avx512vbmi", "avx512_vnni"}),
    ("skylakex", {"sse4_2", "avx", "f16c", "fma", "avx2", "bmi2", "avx512f"}),
    ("alderlake", {"sse4_2", "avx", "f16c", "fma", "avx2", "bmi2", "avx_vnni"}),
    ("haswell", {"sse4_2", "avx", "f16c", "fma", "avx2", "bmi2"}),
    ("sandybridge", {"sse4_2", "avx"}),
    ("sse42", {"sse4_2"}),
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
