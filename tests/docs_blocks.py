"""Find the Python code blocks of a Markdown page (for tests/test_docs_examples.py).

A block is a fence opened by a line that is exactly ```` ```python ```` (indentation
allowed, e.g. inside a list) and closed by ```` ``` ```` at the same indentation. A block
whose preceding non-blank line is ``<!-- docs-test: skip (reason) -->`` is not run;
the reason is required.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

SKIP = re.compile(r"^<!--\s*docs-test:\s*skip\s*\((?P<reason>[^)]*\S[^)]*)\)\s*-->$")
MARKER = re.compile(r"^<!--\s*docs-test:")
OPEN = re.compile(r"^(?P<indent>[ \t]*)```python\s*$")


@dataclass
class Block:
    page: str
    line: int          # 1-based line of the first code line
    code: str
    skip_reason: str | None = None

    @property
    def label(self) -> str:
        return f"{self.page}:{self.line}"


class MarkdownError(ValueError):
    """A page's fences or docs-test markers are malformed."""


def python_blocks(text: str, page: str) -> list[Block]:
    lines = text.splitlines()
    blocks: list[Block] = []
    last_nonblank = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        opened = OPEN.match(line)
        if opened is None:
            stripped = line.strip()
            if MARKER.match(stripped) and not SKIP.match(stripped):
                raise MarkdownError(f"{page}:{i + 1}: malformed marker {stripped!r}; write <!-- docs-test: skip (reason) -->")
            if stripped.startswith("```") and stripped != "```":  # another language: skip over it whole
                fence_indent = line[: len(line) - len(line.lstrip())]
                i += 1
                while i < len(lines) and lines[i].rstrip() != fence_indent + "```":
                    i += 1
            if stripped:
                last_nonblank = stripped
            i += 1
            continue
        indent = opened.group("indent")
        start = i + 1
        j = start
        while j < len(lines) and lines[j].rstrip() != indent + "```":
            j += 1
        if j == len(lines):
            raise MarkdownError(f"{page}:{i + 1}: ```python block is never closed")
        body = [ln[len(indent):] if ln.startswith(indent) else ln.lstrip() for ln in lines[start:j]]
        skip = SKIP.match(last_nonblank)
        blocks.append(Block(page, start + 1, "\n".join(body) + "\n", skip.group("reason").strip() if skip else None))
        last_nonblank = "```"
        i = j + 1
    return blocks


def page_blocks(path: Path, root: Path) -> list[Block]:
    return python_blocks(path.read_text(encoding="utf-8"), str(path.relative_to(root)))
