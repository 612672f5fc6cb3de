"""The command line: python -m llama_cpp / llama-cpp (complete, chat)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


def cli(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llama_cpp", *args], capture_output=True, text=True, input=stdin,
                          timeout=300, env={**os.environ, **(env or {})})


def test_complete_streams_a_real_completion(model_path: str) -> None:
    r = cli("complete", "The capital of France is", "-n", "6", "-t", "0", "--model", model_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("The capital of France is Paris")


def test_chat_with_the_default_model(model_path: str) -> None:
    r = cli("chat", "What is the capital of France? Answer in one word.", "-n", "16", "-t", "0")
    assert r.returncode == 0, r.stderr
    assert "Paris" in r.stdout
    assert r.stderr == ""  # llama.cpp's log stays in logging unless -v


def test_interactive_chat_keeps_the_conversation(model_path: str) -> None:
    r = cli("chat", "-n", "12", "-t", "0", stdin="Hi, my name is Bob.\nWhat is my name?\n\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("> ") >= 2 and "Bob" in r.stdout.split("> ")[-2]


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    r = cli("chat", "hi", "--model", str(tmp_path / "none.gguf"))
    assert r.returncode == 2
    assert "Model path does not exist" in r.stderr


def test_console_script_is_installed() -> None:
    exe = shutil.which("llama-cpp", path=str(Path(sys.executable).parent))
    assert exe is not None
    r = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "chat" in r.stdout and "complete" in r.stdout
