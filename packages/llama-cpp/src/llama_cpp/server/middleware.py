"""ASGI middleware: request ids, ``openai-processing-ms``, access log, body size limit, per-route counts."""

from __future__ import annotations

import contextvars
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import ApiError

if TYPE_CHECKING:  # pragma: no cover
    from .metrics import Metrics

__all__ = ["RequestContextMiddleware", "RequestIdFilter", "request_id_var"]

logger = logging.getLogger("llama_cpp.server")
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("llama_cpp_server_request_id", default="-")


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` (``-`` outside a request) so formats may use ``%(request_id)s``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


class _BodyTooLarge(HTTPException):
    pass


class RequestContextMiddleware:
    """Gives every HTTP request an id (``x-request-id``, taken from the client's if it sent one)."""

    def __init__(self, app: ASGIApp, metrics: Metrics, max_body: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        request_id = (headers.get("x-request-id") or uuid.uuid4().hex)[:128]
        token = request_id_var.set(request_id)
        started = time.monotonic()
        status: List[int] = [0]
        path = scope.get("path", "")

        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            error = ApiError(413, f"The request body is larger than the server's limit of {self.max_body} bytes",
                             code="request_too_large")
            await error.response()(scope, receive, self._send(send, request_id, started, status))
            self._done(scope, path, status[0], started, request_id, token)
            return

        received = [0]

        async def limited_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                received[0] += len(message.get("body", b""))
                if received[0] > self.max_body:
                    raise _BodyTooLarge(413, f"The request body is larger than the server's limit of "
                                             f"{self.max_body} bytes")
            return message

        try:
            await self.app(scope, limited_receive, self._send(send, request_id, started, status))
        finally:
            self._done(scope, path, status[0], started, request_id, token)

    def _send(self, send: Send, request_id: str, started: float, status: List[int]) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                elapsed_ms = int((time.monotonic() - started) * 1000)
                extra: List[Tuple[bytes, bytes]] = [
                    (b"x-request-id", request_id.encode("latin-1", "replace")),
                    (b"openai-processing-ms", str(elapsed_ms).encode()),
                ]
                message = dict(message, headers=list(message.get("headers", [])) + extra)
            await send(message)

        return wrapped

    def _done(self, scope: Scope, path: str, status: int, started: float, request_id: str,
              token: contextvars.Token[str]) -> None:
        route = scope.get("route")
        route_path = getattr(route, "path", None) or ("unmatched" if status == 404 else path)
        self.metrics.record_request(route_path, status)
        logger.info('%s "%s %s" %d %.0fms', _client(scope), scope.get("method"), path, status,
                    (time.monotonic() - started) * 1000, extra={"request_id": request_id})
        request_id_var.reset(token)


def _headers(scope: Scope) -> Dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _client(scope: Scope) -> str:
    client: Optional[Any] = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "-"
