"""The documentation site, built from the installed wheels and checked in a real browser.

The site is built with ``mkdocs build --strict`` (as ``nox -s docs`` does), served on
loopback, and opened in Debian's headless Chromium, driven through the DevTools protocol
(tests/cdp.py): the API reference shows the listed objects with their docstrings,
search finds ``create_chat_completion``, and no internal link on any page is broken.
Set LLAMA_CPP_DOCS_SCREENSHOT=/path.png to keep the screenshot of the reference page.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from importlib import metadata
from pathlib import Path
from typing import Iterator

import pytest
from cdp import Browser, find_chromium

from conftest import REPO

# (heading id on the reference page, text its docstring must contain, or "" for any text)
REFERENCE_OBJECTS = [
    ("llama_cpp.Llama", ""),
    ("llama_cpp.Llama.__call__", ""),
    ("llama_cpp.Llama.create_chat_completion", ""),
    ("llama_cpp.LlamaGrammar.from_json_schema", "JSON Schema"),
    ("llama_cpp.llama_cpp.llama_decode", "Process a batch of tokens"),
    ("llama_cpp.llama_cpp.LLAMA_DEFAULT_SEED", "#define LLAMA_DEFAULT_SEED 0xFFFFFFFF"),
]
LLAMA_MEMBERS = [
    "__init__", "tokenize", "detokenize", "reset", "eval", "sample", "generate", "create_embedding", "embed",
    "create_completion", "__call__", "create_chat_completion", "create_chat_completion_openai_v1", "set_cache",
    "save_state", "load_state", "token_bos", "token_eos", "from_pretrained",
]
# Reference objects allowed to show no docstring yet (names added here while their docstrings are being
# written); none now.
PENDING_DOCSTRINGS: set[str] = set()
ROOT_OBJECTS = [
    "llama_cpp.Llama", "llama_cpp.LlamaGrammar", "llama_cpp.LlamaCache", "llama_cpp.LlamaState",
    "llama_cpp.LogitsProcessor", "llama_cpp.LogitsProcessorList", "llama_cpp.StoppingCriteria",
    "llama_cpp.StoppingCriteriaList", "llama_cpp.llama_types",
]

# For one rendered object: is its heading on the page and visible, and its docstring's text.
DESCRIBE = """
(id => {
  const heading = document.getElementById(id);
  if (!heading) return null;
  const box = heading.getBoundingClientRect();
  const contents = heading.parentElement.querySelector(':scope > .doc-contents');
  let doc = '';
  if (contents) {  // the object's own docstring: without its members or signatures
    const own = contents.cloneNode(true);
    own.querySelectorAll('.doc-children, .doc-object, .doc-signature').forEach(e => e.remove());
    doc = own.textContent.trim();
  }
  return {heading: heading.innerText, visible: box.width > 0 && box.height > 0, doc: doc};
})
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(REPO / "mkdocs.yml"), "--site-dir", str(out)],
        cwd=REPO, capture_output=True, text=True, env=env, timeout=600,
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    return out


@pytest.fixture(scope="module")
def base_url(site: Path) -> Iterator[str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if find_chromium() is None:
        pytest.fail("chromium is not installed: apt-get install -y chromium (.ci/run does)")
    b = Browser()
    try:
        yield b
    finally:
        b.close()


def test_reference_page_shows_the_api_with_docstrings(browser: Browser, base_url: str, tmp_path: Path) -> None:
    browser.goto(base_url + "api-reference/")
    for object_id, expected in REFERENCE_OBJECTS:
        found = browser.evaluate(f"{DESCRIBE}({object_id!r})")
        assert found is not None, f"{object_id} is not on the reference page"
        assert found["visible"], f"{object_id} is on the page but not shown"
        if object_id in PENDING_DOCSTRINGS:
            continue
        assert found["doc"], f"{object_id} is shown without a docstring"
        assert expected in found["doc"], f"{object_id}'s docstring lacks {expected!r}: {found['doc'][:300]!r}"
    undocumented = []
    for object_id in ROOT_OBJECTS + [f"llama_cpp.Llama.{m}" for m in LLAMA_MEMBERS]:
        found = browser.evaluate(f"{DESCRIBE}({object_id!r})")
        assert found is not None, f"{object_id} is not on the reference page"
        if not found["doc"] and object_id not in PENDING_DOCSTRINGS:
            undocumented.append(object_id)
    assert not undocumented, f"shown without a docstring: {undocumented}"
    counts = browser.evaluate(
        "[...document.querySelectorAll('[id^=\"llama_cpp.llama_cpp.\"]')].map(e => e.id.split('.').pop())"
    )
    from llama_cpp_core import _bindings

    shown = set(counts)
    llama_h = {name for name, entry in _bindings.FUNCTIONS.items() if entry[5] == "llama.h"}
    assert len(llama_h) >= 255
    assert not sorted(llama_h - shown), f"llama.h functions missing from the page: {sorted(llama_h - shown)[:20]}"
    constants = {name for name in dir(_bindings) if name.startswith("LLAMA_")}
    assert not sorted(constants - shown), f"LLAMA_ constants missing from the page: {sorted(constants - shown)[:20]}"
    text = browser.evaluate("document.body.innerText")
    roles = sorted(set(re.findall(r":(?:meth|class|func|mod|attr|data|exc):", text)))
    assert not roles, f"Sphinx roles shown as text on the reference page (docstrings are Google style): {roles}"
    shot = tmp_path / "api-reference.png"
    browser.screenshot(shot)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    keep = os.environ.get("LLAMA_CPP_DOCS_SCREENSHOT")
    if keep:
        shutil.copyfile(shot, keep)


def test_site_states_the_version_and_the_llama_cpp_commit(browser: Browser, base_url: str) -> None:
    version = metadata.version("llama-cpp")
    commit = json.loads((REPO / "vendor" / "llama.cpp.pin.json").read_text())["commit"]
    browser.goto(base_url)
    footer = browser.evaluate("document.querySelector('.md-copyright').innerText")
    assert version in footer and commit in footer, footer
    body = browser.evaluate("document.querySelector('article').innerText")
    assert f"llama-cpp {version}" in body and commit in body, body[:500]


def test_search_finds_create_chat_completion(browser: Browser, base_url: str) -> None:
    browser.goto(base_url)
    results = browser.evaluate("""
    new Promise((resolve, reject) => {
      const input = document.querySelector('input.md-search__input');
      if (!input) { reject(new Error('no search box')); return; }
      input.focus();
      input.value = 'create_chat_completion';
      input.dispatchEvent(new Event('input', {bubbles: true}));
      input.dispatchEvent(new KeyboardEvent('keyup', {bubbles: true, key: 'n'}));
      const started = Date.now();
      (function poll() {
        const items = [...document.querySelectorAll('.md-search-result__item a')];
        if (items.length) resolve(items.map(a => [a.href, a.innerText]));
        else if (Date.now() - started > 20000) resolve([]);
        else setTimeout(poll, 100);
      })();
    })
    """)
    assert results, "the search box found nothing for create_chat_completion"
    assert any("create_chat_completion" in text for _, text in results), results[:5]
    assert any("/api-reference/" in href for href, _ in results), results[:5]


def _pages(site: Path) -> list[str]:
    return sorted(
        str(p.relative_to(site).parent).replace(".", "") + "/" if p.parent != site else ""
        for p in site.rglob("index.html") if "assets" not in p.parts
    )


def test_no_internal_link_is_broken(browser: Browser, base_url: str, site: Path) -> None:
    pages = [p.lstrip("/") for p in _pages(site)]
    assert len(pages) >= 10, pages
    ids: dict[str, set[str]] = {}

    def ids_of(url: str) -> set[str] | None:
        if url not in ids:
            try:
                with urllib.request.urlopen(url, timeout=30) as response:
                    html = response.read().decode("utf-8", "replace")
            except urllib.error.HTTPError:
                return None
            ids[url] = set(re.findall(r'\sid="([^"]+)"', html))
        return ids[url]

    broken = []
    for page in pages:
        browser.goto(base_url + page)
        links = browser.evaluate("[...document.querySelectorAll('a[href]')].map(a => a.href)")
        for link in links:
            if not link.startswith(base_url):
                continue
            target, _, fragment = link.partition("#")
            found = ids_of(target)
            if found is None:
                broken.append(f"{page or '/'} -> {link} (missing page)")
            elif fragment and urllib.parse.unquote(fragment) not in found:
                broken.append(f"{page or '/'} -> {link} (missing anchor)")
    assert not broken, "broken internal links:\n" + "\n".join(sorted(set(broken))[:50])
