"""Every ```python block of docs/*.md and README.md runs on the real model.

The blocks of one page run in order, in one namespace, in a fresh interpreter whose
working directory is a temporary folder where ``model.gguf`` is the SmolLM2 test model
(so examples write ``Llama(model_path="model.gguf")``), ``mmproj.gguf`` a tiny
multimodal projector that fits it and ``image.png`` a small picture (both from
tests/mmproj_fixture.py: random weights, so the pipeline runs but answers mean
nothing). A block preceded by
``<!-- docs-test: skip (reason) -->`` is not run (it needs a GPU, a remote host, ...).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from docs_blocks import Block, MarkdownError, page_blocks, python_blocks
from mmproj_fixture import tiny_png, write_tiny_mmproj

from conftest import REPO

PAGES = sorted(p for p in (REPO / "docs").rglob("*.md") if "_ext" not in p.parts) + [REPO / "README.md"]

# Runs the blocks given as JSON on stdin; each block is compiled under its page and line,
# so a traceback points at the Markdown source.
RUNNER = textwrap.dedent('''
    import json, sys, traceback
    namespace = {"__name__": "__main__"}
    for label, line, code in json.load(sys.stdin):
        print(f"--- {label}", flush=True)
        try:
            exec(compile("\\n" * (line - 1) + code, label.rsplit(":", 1)[0], "exec"), namespace)
        except BaseException:
            traceback.print_exc()
            print(f"DOCS-EXAMPLE-FAILED {label}", flush=True)
            sys.exit(1)
''')


def _runnable(page: Path) -> list[Block]:
    return [b for b in page_blocks(page, REPO) if b.skip_reason is None]


def _page_id(page: Path) -> str:
    return str(page.relative_to(REPO))


@pytest.mark.parametrize("page", [p for p in PAGES if _runnable(p)], ids=_page_id)
def test_page_examples_run(page: Path, model_path: str, tmp_path: Path) -> None:
    (tmp_path / "model.gguf").symlink_to(model_path)
    write_tiny_mmproj(tmp_path / "mmproj.gguf")
    (tmp_path / "image.png").write_bytes(tiny_png(64, 48))
    blocks = [(b.label, b.line, b.code) for b in _runnable(page)]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    result = subprocess.run(
        [sys.executable, "-c", RUNNER], input=json.dumps(blocks), capture_output=True, text=True,
        cwd=tmp_path, env=env, timeout=600,
    )
    tail = (result.stdout[-4000:] + "\n" + result.stderr[-6000:]).strip()
    assert result.returncode == 0, f"an example of {_page_id(page)} failed:\n{tail}"
    assert result.stdout.count("--- ") == len(blocks), tail


def test_the_docs_have_examples_and_every_skip_has_a_reason() -> None:
    blocks = [b for p in PAGES for b in page_blocks(p, REPO)]
    runnable = [b for b in blocks if b.skip_reason is None]
    assert len(runnable) >= 20, f"only {len(runnable)} runnable examples were found"
    assert all(b.skip_reason for b in blocks if b.skip_reason is not None)


def test_collector_reads_fences_markers_and_indentation() -> None:
    text = textwrap.dedent('''
        Intro.

        ```python
        x = 1
        ```

        <!-- docs-test: skip (needs a GPU) -->

        ```python
        gpu()
        ```

        ```bash
        ```python
        not_python()
        ```

        - item

          ```python
          y = x + 1
          ```
        ''')
    blocks = python_blocks(text, "page.md")
    assert [(b.line, b.code, b.skip_reason) for b in blocks] == [
        (5, "x = 1\n", None),
        (11, "gpu()\n", "needs a GPU"),
        (22, "y = x + 1\n", None),
    ]
    with pytest.raises(MarkdownError, match="malformed marker"):
        python_blocks("<!-- docs-test: skip -->\n```python\nx\n```\n", "bad.md")
    with pytest.raises(MarkdownError, match="never closed"):
        python_blocks("```python\nx = 1\n", "open.md")
