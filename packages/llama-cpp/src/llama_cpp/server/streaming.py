"""Server-sent events: ``data: <json>`` per chunk, ``data: [DONE]`` at the end.

``EventStream`` is an ASGI response that pulls chunks from one or more
``Llama`` stream iterators, each in a worker thread (the event loop never
blocks on a token), and sends them as they come. It watches the connection:
a client that goes away cancels the pull and closes the iterators at once,
which ends their sequences and frees their KV cells. A failure after the
first byte is sent as a ``data: {"error": {...}}`` event before ``[DONE]``,
which the ``openai`` SDK raises as ``APIError``. Ping comments (``: ping``)
keep idle connections open unless disabled.
"""

from __future__ import annotations

import json
import logging
import math
import time
from typing import Any, Awaitable, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import anyio
import anyio.to_thread
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from .errors import error_body, error_from_exception

__all__ = ["EventStream", "sse_event"]

logger = logging.getLogger("llama_cpp.server")

_END = object()
_NOTHING = object()


def sse_event(data: Any) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"data: {text}\n\n".encode()


def _next(iterator: Iterator[Any]) -> Any:
    return next(iterator, _END)


class EventStream(Response):
    """Merge ``sources`` (choice ``i`` of the response comes from ``sources[i]``) into one SSE response.

    ``rewrite(chunk, source_index)`` adjusts each chunk (the choice index);
    ``finish(chunks_by_source)`` returns the trailing chunks (the usage chunk)
    once every source ended; ``on_close()`` always runs at the end.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        sources: Sequence[Iterator[Dict[str, Any]]],
        *,
        rewrite: Callable[[Dict[str, Any], int], Dict[str, Any]],
        finish: Callable[[List[List[Dict[str, Any]]]], List[Dict[str, Any]]],
        on_close: Callable[[], Awaitable[None]],
        ping_interval: Optional[float],
        drain_deadline: Callable[[], Optional[float]],
        error_context: Optional[Dict[str, Any]] = None,
        headers: Optional[Dict[str, str]] = None,
    ) -> None:
        super().__init__(content=None, status_code=200, headers=headers, media_type=self.media_type)
        existing: List[Tuple[bytes, bytes]] = list(getattr(self, "raw_headers", []))
        kept = [(k, v) for k, v in existing if k != b"content-length"]  # the body is streamed
        self.raw_headers = kept + [(b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]
        self.sources = list(sources)
        self.rewrite = rewrite
        self.finish = finish
        self.on_close = on_close
        self.ping_interval = ping_interval
        self.drain_deadline = drain_deadline
        self.error_context = error_context or {}
        self.disconnected = False
        self.outcome = "complete"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            async with anyio.create_task_group() as group:

                async def watch() -> None:
                    while True:
                        message = await receive()
                        if message["type"] == "http.disconnect":
                            self.disconnected = True
                            self.outcome = "disconnected"
                            group.cancel_scope.cancel()
                            return

                group.start_soon(watch)
                await self._pump(send)
                group.cancel_scope.cancel()
            if not self.disconnected:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:  # the socket went away under a send
            self.outcome = "disconnected"
        finally:
            with anyio.CancelScope(shield=True):
                await self.on_close()

    async def _pump(self, send: Send) -> None:
        chunks: List[List[Dict[str, Any]]] = [[] for _ in self.sources]
        out_send, out_receive = anyio.create_memory_object_stream[Any](max_buffer_size=64)
        failure: List[BaseException] = []

        async def pull(index: int, iterator: Iterator[Dict[str, Any]]) -> None:
            try:
                while True:
                    chunk = await anyio.to_thread.run_sync(_next, iterator)
                    if chunk is _END:
                        return
                    chunks[index].append(chunk)
                    await out_send.send(self.rewrite(chunk, index))
            except Exception as exc:  # a model failure mid-stream: reported as an error event
                failure.append(exc)
            finally:
                with anyio.CancelScope(shield=True):
                    close = getattr(iterator, "close", None)
                    if close is not None:
                        await anyio.to_thread.run_sync(close)

        async def pull_all() -> None:
            async with out_send:
                async with anyio.create_task_group() as pullers:
                    for index, iterator in enumerate(self.sources):
                        pullers.start_soon(pull, index, iterator)

        async with anyio.create_task_group() as group:
            group.start_soon(pull_all)
            last_sent = time.monotonic()
            async with out_receive:
                while True:
                    deadline = self.drain_deadline()
                    wait = min(self.ping_interval or math.inf, 0.25 if deadline is not None else math.inf, 3600.0)
                    if deadline is not None and time.monotonic() >= deadline:
                        group.cancel_scope.cancel()
                        self.outcome = "shutdown"
                        err = error_body("The server is shutting down; the stream was cut short",
                                         "server_error", None, "server_shutting_down")
                        await send({"type": "http.response.body", "body": sse_event(err), "more_body": True})
                        break
                    item: Any = _NOTHING
                    with anyio.move_on_after(wait):
                        try:
                            item = await out_receive.receive()
                        except anyio.EndOfStream:
                            item = _END
                    if item is _END:
                        break
                    if item is not _NOTHING:
                        await send({"type": "http.response.body", "body": sse_event(item), "more_body": True})
                        last_sent = time.monotonic()
                        continue
                    if self.ping_interval and time.monotonic() - last_sent >= self.ping_interval:
                        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
                        await send({"type": "http.response.body", "body": f": ping - {stamp}\n\n".encode(),
                                    "more_body": True})
                        last_sent = time.monotonic()
        if self.outcome == "complete":
            trailing: List[Dict[str, Any]] = []
            if not failure:
                try:
                    trailing = await anyio.to_thread.run_sync(self.finish, chunks)
                except Exception as exc:  # e.g. the model was closed under the stream
                    failure.append(exc)
            if failure:
                self.outcome = "error"
                error = error_from_exception(failure[0], self.error_context)
                await send({"type": "http.response.body", "body": sse_event(error.body()), "more_body": True})
            for chunk in trailing:
                await send({"type": "http.response.body", "body": sse_event(chunk), "more_body": True})
        await send({"type": "http.response.body", "body": sse_event("[DONE]"), "more_body": True})
