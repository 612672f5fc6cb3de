"""The OpenAI error envelope, and the mapping from exceptions to HTTP statuses.

Every error leaves the server as ``{"error": {"message", "type", "param", "code"}}``
with a 4xx status for anything the client can fix (the ``openai`` SDK retries
429 and 5xx, so bad input must never be a 5xx), 429/503 with ``Retry-After``
when the server is full or draining, and 500 only for real server faults.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Dict, Mapping, Optional, Sequence

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = ["ApiError", "error_body", "error_from_exception", "install_error_handlers"]

logger = logging.getLogger("llama_cpp.server")

_OVERFLOW = re.compile(r"Requested tokens \((\d+)\) exceed context window of (\d+)")
_NO_MODEL_PATH = re.compile(r"Model path does not exist: (.+)")
_HTTP_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
    503: "unavailable_error",
}


class ApiError(Exception):
    """An error answered with ``status`` and the OpenAI envelope."""

    def __init__(self, status: int, message: str, type: Optional[str] = None, param: Optional[str] = None,
                 code: Optional[str] = None, headers: Optional[Dict[str, str]] = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type or _HTTP_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> Dict[str, Any]:
        return error_body(self.message, self.type, self.param, self.code)

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def error_body(message: str, type: str, param: Optional[str] = None, code: Optional[str] = None) -> Dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def _overflow_message(n_ctx: int, prompt_tokens: int, max_tokens: Optional[int], chat: bool) -> str:
    completion = max_tokens or 0
    total = prompt_tokens + completion
    if chat:
        return (
            f"This model's maximum context length is {n_ctx} tokens. However, you requested {total} tokens "
            f"({prompt_tokens} in the messages, {completion} in the completion). "
            "Please reduce the length of the messages or completion."
        )
    return (
        f"This model's maximum context length is {n_ctx} tokens, however you requested {total} tokens "
        f"({prompt_tokens} in your prompt; {completion} for the completion). "
        "Please reduce your prompt; or completion length."
    )


def error_from_exception(exc: BaseException, body: Optional[Mapping[str, Any]] = None, chat: bool = False) -> ApiError:
    """The envelope for an exception raised by the model: ValueError is the client's, anything else the server's."""
    if isinstance(exc, ApiError):
        return exc
    message = str(exc)
    overflow = _OVERFLOW.search(message)
    if overflow:
        prompt_tokens, n_ctx = int(overflow.group(1)), int(overflow.group(2))
        max_tokens = (body or {}).get("max_tokens") or (body or {}).get("max_completion_tokens")
        return ApiError(400, _overflow_message(n_ctx, prompt_tokens, max_tokens, chat), "invalid_request_error",
                        "messages" if chat else "prompt", "context_length_exceeded")
    missing = _NO_MODEL_PATH.search(message)
    if missing:
        return ApiError(400, f"The model `{missing.group(1)}` does not exist", "invalid_request_error", "model",
                        "model_not_found")
    if isinstance(exc, (ValueError, TypeError, KeyError, NotImplementedError)):
        return ApiError(400, message or type(exc).__name__, "invalid_request_error")
    logger.error("request failed: %s: %s", type(exc).__name__, message, exc_info=exc)
    return ApiError(500, message or type(exc).__name__, "internal_server_error")


def _loc(loc: Sequence[Any]) -> Optional[str]:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or None


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {}
    param = _loc(first.get("loc", ()))
    if first.get("type") == "json_invalid":
        message = "The request body is not valid JSON"
        param = None
    else:
        message = "; ".join(
            f"{_loc(e.get('loc', ())) or 'body'}: {e.get('msg', 'invalid')}" for e in errors[:5]
        ) or "invalid request"
    return ApiError(400, message, "invalid_request_error", param, "invalid_request").response()


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 404 and message == "Not Found":
        message = f"Unknown route: {request.method} {request.url.path}"
    return ApiError(exc.status_code, message, headers=dict(exc.headers or {})).response()


def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return exc.response()


def _any_error(request: Request, exc: Exception) -> JSONResponse:
    return error_from_exception(exc).response()


def install_error_handlers(app: Any) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(Exception, _any_error)
