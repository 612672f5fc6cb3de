"""A tiny local stand-in for the Hugging Face Hub's file API (for from_pretrained tests).

Serves repositories from a directory tree ``<root>/<org>/<name>/...`` on
127.0.0.1: the tree listing (``/api/models/<repo>/tree/<rev>``), the model info
(``/api/models/<repo>/revision/<rev>``) and file downloads
(``/<repo>/resolve/<rev>/<path>``, HEAD and GET, with the ETag and commit
headers ``huggingface_hub`` expects). Point ``HF_ENDPOINT`` at ``url``.
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class HubServer:
    def __init__(self, root: Path):
        self.root = root
        self.requests: list[str] = []
        handler = self._handler()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> HubServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def files(self, repo: str) -> list[Path]:
        base = self.root / repo
        return sorted(p for p in base.rglob("*") if p.is_file())

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _json(self, obj: object) -> None:
                body = json.dumps(obj).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _not_found(self) -> None:
                self.send_response(404)
                self.send_header("X-Error-Code", "EntryNotFound")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _route(self, head: bool) -> None:
                path = unquote(urlparse(self.path).path)
                server.requests.append(f"{self.command} {path}")
                parts = path.strip("/").split("/")
                if parts[:2] == ["api", "models"] and len(parts) >= 6 and parts[4] in ("tree", "revision"):
                    repo = "/".join(parts[2:4])
                    if not (server.root / repo).is_dir():
                        return self._not_found()
                    files = server.files(repo)
                    base = server.root / repo
                    if parts[4] == "tree":
                        return self._json([
                            {"type": "file", "path": p.relative_to(base).as_posix(), "size": p.stat().st_size,
                             "oid": hashlib.sha1(p.read_bytes()).hexdigest()}
                            for p in files
                        ])
                    return self._json({"id": repo, "sha": COMMIT,
                                       "siblings": [{"rfilename": p.relative_to(base).as_posix()} for p in files]})
                if len(parts) >= 5 and parts[2] == "resolve":
                    repo = "/".join(parts[:2])
                    file = server.root / repo / "/".join(parts[4:])
                    if not file.is_file():
                        return self._not_found()
                    data = file.read_bytes()
                    etag = hashlib.sha256(data).hexdigest()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Content-Length", str(len(data)))
                    self.send_header("ETag", f'"{etag}"')
                    self.send_header("X-Repo-Commit", COMMIT)
                    self.end_headers()
                    if not head:
                        self.wfile.write(data)
                    return None
                return self._not_found()

            def do_GET(self) -> None:
                self._route(head=False)

            def do_HEAD(self) -> None:
                self._route(head=True)

        return Handler
