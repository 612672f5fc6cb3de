"""The FastAPI application: ``create_app(settings=None, server_settings=None, model_settings=None)``.

Use it as an ASGI factory (``uvicorn --factory llama_cpp.server.app:create_app``,
settings from the environment) or through ``python -m llama_cpp.server``.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Awaitable, Callable, Dict, Iterator, List, Optional, Tuple, TypeVar

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from .. import __version__
from . import calls as C
from .errors import ApiError, error_from_exception, install_error_handlers
from .metrics import Metrics
from .middleware import RequestContextMiddleware, RequestIdFilter
from .model import ModelManager, ServedModel
from .settings import (
    ModelSettings,
    ServerSettings,
    Settings,
    config_file_from_env,
    load_config_file,
)
from .streaming import EventStream
from .types import (
    CreateChatCompletionRequest,
    CreateCompletionRequest,
    CreateEmbeddingRequest,
    DetokenizeInputRequest,
    DetokenizeInputResponse,
    ModelData,
    ModelList,
    TokenizeInputCountResponse,
    TokenizeInputRequest,
    TokenizeInputResponse,
)

__all__ = ["create_app", "begin_shutdown", "ServerState"]

logger = logging.getLogger("llama_cpp.server")
T = TypeVar("T")


class _ClientGone(Exception):
    pass


class ServerState:
    """What the routes share: settings, models, metrics, readiness and shutdown."""

    def __init__(self, server: ServerSettings, models: List[ModelSettings]) -> None:
        self.settings = server
        self.manager = ModelManager(models, server.max_loaded_models, server.max_queue)
        self.metrics = Metrics()
        self.keys = [k.encode("utf-8") for k in server.api_keys()]
        self.ready = threading.Event()
        self.drain_deadline: Optional[float] = None

    def preload(self) -> None:
        try:
            for served in self.manager.preload_list():
                try:
                    self.manager.acquire_loaded(served)
                    self.manager.release(served)
                except Exception as exc:  # the request that needs it reports the error
                    logger.error("could not load model %r: %s", served.alias, exc)
        finally:
            self.ready.set()


def begin_shutdown(app: FastAPI, timeout: Optional[float] = None) -> None:
    """Start draining: running streams get ``timeout`` seconds, then end with an error event."""
    state: ServerState = app.state.llama
    wait = state.settings.shutdown_timeout if timeout is None else timeout
    if state.drain_deadline is None:
        state.drain_deadline = time.monotonic() + wait
        logger.info("shutting down: running streams have %.1fs to finish", wait)


def _resolve_settings(settings: Optional[Settings], server_settings: Optional[ServerSettings],
                      model_settings: Optional[List[ModelSettings]]) -> tuple[ServerSettings, List[ModelSettings]]:
    if settings is None and server_settings is None and model_settings is None:
        path = config_file_from_env()
        if path:
            config = load_config_file(path)
            return _server_part(config), list(config.models)
        settings = Settings()  # type: ignore[call-arg]  # from the environment: MODEL=...
    if settings is not None:
        server_settings = server_settings or _server_part(settings)
        if model_settings is None:
            model_fields = set(ModelSettings.model_fields)
            model_settings = [ModelSettings.model_validate(
                {k: v for k, v in settings.model_dump().items() if k in model_fields})]
    if server_settings is None:
        server_settings = ServerSettings.model_validate({})
    if not model_settings:
        raise ValueError("no model configured: pass --model, MODEL=..., or a config file with 'models'")
    return server_settings, list(model_settings)


def _server_part(settings: Any) -> ServerSettings:
    fields = set(ServerSettings.model_fields)
    return ServerSettings.model_validate({k: v for k, v in settings.model_dump().items() if k in fields})


def create_app(
    settings: Optional[Settings] = None,
    server_settings: Optional[ServerSettings] = None,
    model_settings: Optional[List[ModelSettings]] = None,
) -> FastAPI:
    """The OpenAI-compatible app for these settings (from the environment / ``CONFIG_FILE`` when none are given)."""
    server, models = _resolve_settings(settings, server_settings, model_settings)
    state = ServerState(server, models)
    if not any(isinstance(f, RequestIdFilter) for f in logger.filters):
        logger.addFilter(RequestIdFilter())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # every running request may hold a worker thread (a whole call, or one token of a stream at a time)
        limiter = anyio.to_thread.current_default_thread_limiter()
        wanted = 2 * sum(m.n_parallel for m in state.manager.models.values()) + 16
        limiter.total_tokens = max(limiter.total_tokens, wanted)
        loader = threading.Thread(target=state.preload, name="llama-server-preload", daemon=True)
        loader.start()
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(loader.join)
            await anyio.to_thread.run_sync(state.manager.close)

    app = FastAPI(
        title="llama-cpp server", version=__version__, root_path=server.root_path, lifespan=lifespan,
        description="OpenAI-compatible API over llama.cpp, with continuous batching.",
    )
    app.state.llama = state
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_credentials=True, allow_methods=["*"],
                       allow_headers=["*"])
    app.add_middleware(RequestContextMiddleware, metrics=state.metrics, max_body=server.max_request_bytes)
    install_error_handlers(app)
    app.include_router(_open_routes(state))
    app.include_router(_api_routes(state))
    return app


# ---------------------------------------------------------------- routes
def _authenticate(state: ServerState) -> Callable[[Request], Awaitable[None]]:
    async def authenticate(request: Request) -> None:
        if not state.keys:
            return
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer":
            given = request.headers.get("x-api-key", "")
        given_bytes = given.strip().encode("utf-8")
        ok = False
        for key in state.keys:  # every key compared, in constant time
            ok |= hmac.compare_digest(key, given_bytes)
        if not ok:
            raise ApiError(401, "Invalid API key", "invalid_request_error", None, "invalid_api_key",
                           {"WWW-Authenticate": "Bearer"})

    return authenticate


def _open_routes(state: ServerState) -> APIRouter:
    router = APIRouter()

    @router.get("/health", tags=["Operations"])
    @router.get("/v1/health", include_in_schema=False)
    async def health() -> JSONResponse:
        """200 ``{"status": "ok"}`` once the models are loaded; 503 while loading or shutting down."""
        if state.drain_deadline is not None:
            body = {"error": {"code": 503, "message": "Shutting down", "type": "unavailable_error"}}
            return JSONResponse(body, status_code=503)
        if not state.ready.is_set() or state.manager.loading:
            body = {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}
            return JSONResponse(body, status_code=503, headers={"Retry-After": "1"})
        return JSONResponse({"status": "ok"})

    return router


def _api_routes(state: ServerState) -> APIRouter:
    router = APIRouter(dependencies=[Depends(_authenticate(state))])
    manager = state.manager

    @router.get("/metrics", tags=["Operations"], response_class=PlainTextResponse)
    async def metrics() -> PlainTextResponse:
        """Prometheus text format (llama-server's ``llamacpp:*`` names, plus per-model gauges)."""
        return PlainTextResponse(state.metrics.render(manager), media_type="text/plain; version=0.0.4")

    @router.get("/v1/models", tags=["OpenAI V1"])
    async def list_models() -> ModelList:
        return ModelList(data=[_model_data(m) for m in manager.models.values()])

    @router.get("/v1/models/{model_id:path}", tags=["OpenAI V1"])
    async def get_model(model_id: str) -> ModelData:
        return _model_data(manager.find(model_id))

    @router.post("/v1/completions", tags=["OpenAI V1"], response_model=None)
    @router.post("/v1/engines/copilot-codex/completions", include_in_schema=False, response_model=None)
    async def create_completion(request: Request, body: CreateCompletionRequest) -> Response:
        if request.url.path.endswith("/copilot-codex/completions"):
            body.model = None
        return await _generate(state, request, body, chat=False)

    @router.post("/v1/chat/completions", tags=["OpenAI V1"], response_model=None)
    async def create_chat_completion(request: Request, body: CreateChatCompletionRequest) -> Response:
        return await _generate(state, request, body, chat=True)

    @router.post("/v1/embeddings", tags=["OpenAI V1"], response_model=None)
    async def create_embedding(request: Request, body: CreateEmbeddingRequest) -> Response:
        served = manager.find(body.model)
        if not served.settings.embedding:
            raise ApiError(400, f"The model `{served.alias}` does not serve embeddings: configure it with "
                                "embedding=true (--embedding true)", "invalid_request_error", "model",
                           "embeddings_not_enabled")

        def embed(llama: Any) -> Dict[str, Any]:
            return C.encode_embeddings(llama.create_embedding(body.input, model=served.alias), body.encoding_format)

        try:
            result = await _run_admitted(state, request, served, embed, body.model_dump())
        except _ClientGone:
            return Response(status_code=499)
        return JSONResponse(result)

    @router.post("/extras/tokenize", tags=["Extras"])
    async def tokenize(body: TokenizeInputRequest) -> TokenizeInputResponse:
        tokens = await _with_model(state, body.model, lambda llama: llama.tokenize(body.input.encode("utf-8"),
                                                                                   special=True))
        return TokenizeInputResponse(tokens=tokens)

    @router.post("/extras/tokenize/count", tags=["Extras"])
    async def count(body: TokenizeInputRequest) -> TokenizeInputCountResponse:
        tokens = await _with_model(state, body.model, lambda llama: llama.tokenize(body.input.encode("utf-8"),
                                                                                   special=True))
        return TokenizeInputCountResponse(count=len(tokens))

    @router.post("/extras/detokenize", tags=["Extras"])
    async def detokenize(body: DetokenizeInputRequest) -> DetokenizeInputResponse:
        def run(llama: Any) -> str:
            n_vocab = llama.n_vocab()
            bad = [t for t in body.tokens if not 0 <= t < n_vocab]
            if bad:
                raise ApiError(400, f"token ids outside the vocabulary (0..{n_vocab - 1}): {bad[:5]}", param="tokens")
            return bytes(llama.detokenize(body.tokens)).decode("utf-8", errors="replace")

        return DetokenizeInputResponse(text=await _with_model(state, body.model, run))

    return router


def _model_data(served: ServedModel) -> ModelData:
    return ModelData(id=served.alias, created=served.created)


# ---------------------------------------------------------------- running calls
async def _captured(work: Callable[[], Awaitable[T]]) -> Tuple[bool, Any]:
    """``(True, result)`` or ``(False, exception)``: errors leave a task group as themselves, not in a group."""
    try:
        return True, await work()
    except Exception as exc:
        return False, exc


def _unwrap(outcome: Tuple[bool, Any]) -> Any:
    ok, value = outcome
    if not ok:
        raise value
    return value


async def _until_disconnect(request: Request, work: Callable[[], Awaitable[T]]) -> T:
    """``await work()``, cancelled if the client disconnects first (raises ``_ClientGone``)."""
    outcome: Optional[Tuple[bool, Any]] = None
    async with anyio.create_task_group() as group:

        async def watch() -> None:
            while True:
                message = await request.receive()
                if message["type"] == "http.disconnect":
                    group.cancel_scope.cancel()
                    return

        group.start_soon(watch)
        outcome = await _captured(work)
        group.cancel_scope.cancel()
    if outcome is None:
        raise _ClientGone()
    return _unwrap(outcome)


async def _with_model(state: ServerState, name: Optional[str], fn: Callable[[Any], T]) -> T:
    """A quick call (tokenize) on the model, outside the generation admission."""
    served = state.manager.find(name)

    def run() -> T:
        llama = state.manager.acquire_loaded(served)
        try:
            return fn(llama)
        finally:
            state.manager.release(served)

    try:
        return await anyio.to_thread.run_sync(run)
    except Exception as exc:
        raise error_from_exception(exc) from exc


async def _enter(state: ServerState, request: Request, served: ServedModel) -> Any:
    """Admission (429 past the queue), a place among ``n_parallel`` (waiting is cancelled by a disconnect), the model."""
    if state.drain_deadline is not None:
        raise _shutting_down(state)
    served.admit(state.settings.retry_after)
    await _until_disconnect(request, served.enter)
    try:
        if state.drain_deadline is not None and time.monotonic() >= state.drain_deadline:
            raise _shutting_down(state)  # it waited past the end of the drain: do not start now
        return await anyio.to_thread.run_sync(state.manager.acquire_loaded, served)
    except BaseException:
        served.leave()
        raise


def _shutting_down(state: ServerState) -> ApiError:
    return ApiError(503, "The server is shutting down", "unavailable_error", None, "server_shutting_down",
                    {"Retry-After": str(state.settings.retry_after)})


def _leave(state: ServerState, served: ServedModel) -> None:
    state.manager.release(served)
    served.leave()


async def _run_admitted(state: ServerState, request: Request, served: ServedModel, fn: Callable[[Any], T],
                        context: Dict[str, Any]) -> T:
    llama = await _enter(state, request, served)
    try:
        return await anyio.to_thread.run_sync(fn, llama)
    except Exception as exc:
        raise error_from_exception(exc, context) from exc
    finally:
        _leave(state, served)


async def _generate(state: ServerState, request: Request, body: Any, chat: bool) -> Response:
    served = state.manager.find(body.model)
    try:
        llama = await _enter(state, request, served)
    except _ClientGone:
        return Response(status_code=499)
    context = body.model_dump(include={"max_tokens", "max_completion_tokens"})
    handed_off = False
    try:
        if chat:
            calls = await anyio.to_thread.run_sync(
                C.chat_calls, llama, body, served.alias, served.settings.chat_template_kwargs,
                state.settings.allow_local_files)
            method, n_prompts = llama.create_chat_completion, 1
        else:
            calls, n_prompts = await anyio.to_thread.run_sync(C.completion_calls, llama, body, served.alias)
            method = llama.create_completion
        started = time.monotonic()
        if body.stream:
            response = await _start_stream(state, served, llama, method, calls, n_prompts, chat, body, started,
                                           context)
            handed_off = True
            return response
        responses = await _unless_drained(state, lambda: _run_calls(method, calls))
        result = C.merge_responses(responses, n_prompts)
        if not chat and len(calls) > 1:
            n = body.n or 1
            result = C.best_of_choices(result, n, max(body.best_of or 1, n), bool(body.logprobs))
        usage = result.get("usage") or {}
        state.metrics.record_generation(usage.get("prompt_tokens", 0), None, usage.get("completion_tokens", 0),
                                        time.monotonic() - started)
        return JSONResponse(result)
    except _ClientGone:
        return Response(status_code=499)
    except Exception as exc:
        raise error_from_exception(exc, context, chat) from exc
    finally:
        if not handed_off:
            _leave(state, served)


async def _unless_drained(state: ServerState, work: Callable[[], Awaitable[T]]) -> T:
    """``await work()``, or a 503 once a shutdown's grace period is over (the call is abandoned, not awaited)."""
    outcome: Optional[Tuple[bool, Any]] = None
    async with anyio.create_task_group() as group:

        async def watch() -> None:
            while True:
                deadline = state.drain_deadline
                if deadline is not None and time.monotonic() >= deadline:
                    group.cancel_scope.cancel()
                    return
                await anyio.sleep(0.25)

        group.start_soon(watch)
        outcome = await _captured(work)
        group.cancel_scope.cancel()
    if outcome is None:
        raise _shutting_down(state)
    return _unwrap(outcome)


async def _run_calls(method: Callable[..., Any], calls: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    # abandon_on_cancel: only a shutdown cancels a running call, and it must not wait for the whole generation
    if len(calls) == 1:
        return [await anyio.to_thread.run_sync(lambda: method(**calls[0]), abandon_on_cancel=True)]
    results: List[Any] = [None] * len(calls)

    async def one(i: int) -> None:
        results[i] = await _captured(
            lambda: anyio.to_thread.run_sync(lambda: method(**calls[i]), abandon_on_cancel=True))

    async with anyio.create_task_group() as group:
        for i in range(len(calls)):
            group.start_soon(one, i)
    return [_unwrap(outcome) for outcome in results]


def _lazy(method: Callable[..., Any], call: Dict[str, Any]) -> Iterator[Dict[str, Any]]:
    yield from method(**call)


async def _start_stream(state: ServerState, served: ServedModel, llama: Any, method: Callable[..., Any],
                        calls: List[Dict[str, Any]], n_prompts: int, chat: bool, body: Any, started: float,
                        context: Dict[str, Any]) -> Response:
    # the first call starts now, so bad arguments are a 4xx before any byte is sent; the others start in
    # their own pull (a Llama without the batching engine runs one stream at a time)
    first = await anyio.to_thread.run_sync(lambda: method(**calls[0]))
    sources: List[Iterator[Dict[str, Any]]] = [first] + [_lazy(method, call) for call in calls[1:]]
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    per_call_choices = 1 if len(calls) > 1 else max(body.n or 1, 1)
    first_token: List[float] = []
    meta: Dict[str, Any] = {}

    def rewrite(chunk: Dict[str, Any], source: int) -> Dict[str, Any]:
        if not first_token:
            first_token.append(time.monotonic())
        if not meta:
            meta.update({k: chunk.get(k) for k in ("id", "object", "created", "model", "system_fingerprint")})
        if len(calls) > 1:
            chunk = dict(chunk, choices=[dict(c, index=source * per_call_choices + c.get("index", 0))
                                         for c in chunk.get("choices", [])])
        out = dict(chunk, id=meta["id"]) if meta.get("id") else dict(chunk)  # one id for the whole response
        out.pop("usage", None)  # usage goes in its own last chunk, and only when asked for
        if include_usage:
            out["usage"] = None
        return out

    def finish(chunks: List[List[Dict[str, Any]]]) -> List[Dict[str, Any]]:
        usage = C.stream_usage(llama, calls, chunks, chat, n_prompts)
        now = time.monotonic()
        ttft = (first_token[0] if first_token else now) - started
        state.metrics.record_generation(usage["prompt_tokens"], ttft, usage["completion_tokens"],
                                        now - (first_token[0] if first_token else now))
        if not include_usage:
            return []
        chunk = {k: v for k, v in meta.items() if v is not None}
        chunk.update(choices=[], usage=usage)
        return [chunk]

    async def on_close() -> None:
        _leave(state, served)

    return EventStream(
        sources, rewrite=rewrite, finish=finish, on_close=on_close,
        ping_interval=None if state.settings.disable_ping_events else state.settings.ping_interval,
        drain_deadline=lambda: state.drain_deadline, error_context=context,
    )

