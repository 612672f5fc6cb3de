"""MkDocs hooks: the site states the version it documents and the llama.cpp commit it binds.

Both come from the installed wheels (the docs are built from them), falling back to the
sources when a package is not installed. In Markdown, ``{{ version }}`` and
``{{ llama_cpp_commit }}`` are replaced by them (outside code blocks too, so keep them
out of examples).
"""

from __future__ import annotations

import json
import re
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def _version() -> str:
    try:
        return metadata.version("llama-cpp")
    except metadata.PackageNotFoundError:
        text = (ROOT / "packages" / "llama-cpp" / "pyproject.toml").read_text()
        match = re.search(r'^version\s*=\s*"([^"]+)"', text, re.M)
        return match.group(1) if match else "unknown"


def _commit() -> str:
    try:
        from llama_cpp_core._bindings import LLAMA_CPP_COMMIT

        return str(LLAMA_CPP_COMMIT)
    except ImportError:
        return str(json.loads((ROOT / "vendor" / "llama.cpp.pin.json").read_text())["commit"])


VERSION = _version()
COMMIT = _commit()


def on_config(config: Any, **kwargs: Any) -> Any:
    config.copyright = f"llama-cpp {VERSION}, binding llama.cpp {COMMIT}"
    config.extra["version"] = VERSION
    config.extra["llama_cpp_commit"] = COMMIT
    return config


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    return markdown.replace("{{ version }}", VERSION).replace("{{ llama_cpp_commit }}", COMMIT)
