"""The models a server holds: loading from ``ModelSettings``, routing by alias, LRU unloading, admission.

Each loaded model is one ``Llama`` built with ``n_seq_max=n_parallel``: the
engine decodes the sequences of concurrent calls together, so the server only
has to bound how many calls run (``n_parallel``) and how many may wait
(``max_queue``) per model, and run each call in a worker thread.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from typing import Any, Dict, List, Optional

import anyio

from .errors import ApiError
from .settings import ModelSettings

__all__ = ["ServedModel", "ModelManager", "LlamaProxy", "load_llama_from_model_settings", "parse_kv_overrides"]

logger = logging.getLogger("llama_cpp.server")

_VISION_HANDLERS = {
    "llava-1-5": "Llava15ChatHandler",
    "obsidian": "ObsidianChatHandler",
    "llava-1-6": "Llava16ChatHandler",
    "moondream": "MoondreamChatHandler",
    "nanollava": "NanoLlavaChatHandler",
    "llama-3-vision-alpha": "Llama3VisionAlphaChatHandler",
    "minicpm-v-2.6": "MiniCPMv26ChatHandler",
    "qwen2.5-vl": "Qwen25VLChatHandler",
    "gemma4": "Gemma4ChatHandler",
}


def parse_kv_overrides(items: Optional[List[str]]) -> Optional[Dict[str, Any]]:
    """``["key=type:value", ...]`` (type bool, int, float or str) as ``Llama(kv_overrides=...)`` wants them."""
    if not items:
        return None
    out: Dict[str, Any] = {}
    for item in items:
        key, sep, typed = item.partition("=")
        if not sep or ":" not in typed:
            continue
        kind, _, value = typed.partition(":")
        if kind == "bool":
            out[key] = value.strip().lower() in ("true", "1", "yes", "on")
        elif kind == "int":
            out[key] = int(value)
        elif kind == "float":
            out[key] = float(value)
        elif kind == "str":
            out[key] = value
        else:
            raise ValueError(f"kv_overrides: unknown type {kind!r} in {item!r} (bool, int, float or str)")
    return out or None


def _accepted(name: str) -> bool:
    from ..llama import Llama

    return name in inspect.signature(Llama.__init__).parameters


def load_llama_from_model_settings(settings: ModelSettings) -> Any:
    """A ``Llama`` for ``settings`` (blocking: call it from a worker thread)."""
    from .. import llama_chat_format, llama_speculative, llama_tokenizer
    from ..llama import Llama
    from ..llama_cache import LlamaDiskCache, LlamaRAMCache

    chat_handler = None
    if settings.clip_model_path is not None:
        name = _VISION_HANDLERS.get(settings.chat_format or "", "MTMDChatHandler")
        handler_class = getattr(llama_chat_format, name)
        chat_handler = handler_class(clip_model_path=settings.clip_model_path, verbose=settings.verbose)
    elif settings.hf_pretrained_model_name_or_path is not None:
        chat_handler = llama_chat_format.hf_autotokenizer_to_chat_completion_handler(
            settings.hf_pretrained_model_name_or_path
        )
    elif settings.hf_tokenizer_config_path is not None:
        with open(settings.hf_tokenizer_config_path, encoding="utf-8") as f:
            chat_handler = llama_chat_format.hf_tokenizer_config_to_chat_completion_handler(json.load(f))

    tokenizer = None
    if settings.hf_pretrained_model_name_or_path is not None:
        tokenizer = llama_tokenizer.LlamaHFTokenizer.from_pretrained(settings.hf_pretrained_model_name_or_path)
    draft_model = None
    if settings.draft_model is not None:
        draft_model = llama_speculative.LlamaPromptLookupDecoding(
            num_pred_tokens=settings.draft_model_num_pred_tokens
        )

    kwargs: Dict[str, Any] = dict(
        n_gpu_layers=settings.n_gpu_layers, split_mode=settings.split_mode, main_gpu=settings.main_gpu,
        tensor_split=settings.tensor_split, vocab_only=settings.vocab_only, use_mmap=settings.use_mmap,
        use_mlock=settings.use_mlock, kv_overrides=parse_kv_overrides(settings.kv_overrides),
        rpc_servers=settings.rpc_servers, seed=settings.seed, n_ctx=settings.n_ctx, n_batch=settings.n_batch,
        n_ubatch=settings.n_ubatch, n_threads=settings.n_threads, n_threads_batch=settings.n_threads_batch,
        rope_scaling_type=settings.rope_scaling_type, rope_freq_base=settings.rope_freq_base,
        rope_freq_scale=settings.rope_freq_scale, yarn_ext_factor=settings.yarn_ext_factor,
        yarn_attn_factor=settings.yarn_attn_factor, yarn_beta_fast=settings.yarn_beta_fast,
        yarn_beta_slow=settings.yarn_beta_slow, yarn_orig_ctx=settings.yarn_orig_ctx,
        mul_mat_q=settings.mul_mat_q, logits_all=settings.logits_all, embedding=settings.embedding,
        pooling_type=settings.pooling_type,
        offload_kqv=settings.offload_kqv, flash_attn=settings.flash_attn,
        last_n_tokens_size=settings.last_n_tokens_size, lora_base=settings.lora_base,
        lora_path=settings.lora_path, numa=settings.numa, chat_format=settings.chat_format,
        chat_handler=chat_handler, draft_model=draft_model, tokenizer=tokenizer, type_k=settings.type_k,
        type_v=settings.type_v, verbose=settings.verbose,
    )
    if _accepted("n_seq_max"):
        kwargs["n_seq_max"] = settings.n_parallel
        if _accepted("kv_unified"):
            kwargs["kv_unified"] = True
    if settings.hf_model_repo_id is not None:
        llama = Llama.from_pretrained(repo_id=settings.hf_model_repo_id, filename=settings.model, **kwargs)
    else:
        if not os.path.exists(settings.model):
            raise ValueError(f"Model path does not exist: {settings.model}")
        llama = Llama(model_path=settings.model, **kwargs)
    if settings.cache:
        cache_class = LlamaDiskCache if settings.cache_type == "disk" else LlamaRAMCache
        llama.set_cache(cache_class(capacity_bytes=settings.cache_size))
    return llama


class ServedModel:
    """One configured model: its ``Llama`` once loaded, and the admission counters of its requests."""

    def __init__(self, settings: ModelSettings, max_queue: int) -> None:
        self.settings = settings
        self.alias = settings.alias
        self.max_queue = max_queue
        self.llama: Any = None
        self.created = int(os.path.getmtime(settings.model)) if os.path.exists(settings.model) else int(time.time())
        self.processing = 0  # requests holding one of the n_parallel places
        self.deferred = 0  # requests waiting for one
        self.users = 0  # requests that hold the loaded Llama (processing, deferred, or quick calls)
        self.last_used = time.monotonic()
        self._load_lock = threading.Lock()
        self._places: Optional[anyio.Semaphore] = None

    @property
    def n_parallel(self) -> int:
        return self.settings.n_parallel

    def load(self) -> Any:
        """The ``Llama``, loading it first if needed (blocking)."""
        with self._load_lock:
            if self.llama is None:
                started = time.monotonic()
                logger.info("loading model %r from %s", self.alias, self.settings.model)
                self.llama = load_llama_from_model_settings(self.settings)
                logger.info("model %r loaded in %.2fs", self.alias, time.monotonic() - started)
            return self.llama

    def unload(self) -> None:
        with self._load_lock:
            llama, self.llama = self.llama, None
        if llama is not None:
            logger.info("unloading model %r", self.alias)
            llama.close()

    def _semaphore(self) -> anyio.Semaphore:
        if self._places is None:
            self._places = anyio.Semaphore(self.n_parallel)
        return self._places

    def admit(self, retry_after: int) -> None:
        """Count a request in, or refuse it with 429 when ``n_parallel + max_queue`` are taken."""
        if self.processing + self.deferred >= self.n_parallel + self.max_queue:
            raise ApiError(
                429,
                f"The server is busy: {self.processing} requests running and {self.deferred} waiting on model "
                f"{self.alias!r}; retry later",
                "rate_limit_error", None, "server_overloaded", {"Retry-After": str(retry_after)},
            )
        self.deferred += 1

    async def enter(self) -> None:
        """Wait (cancellably) for one of the ``n_parallel`` places, after ``admit``; pair with ``leave``."""
        try:
            await self._semaphore().acquire()
        finally:
            self.deferred -= 1
        self.processing += 1

    def leave(self) -> None:
        self.processing -= 1
        self._semaphore().release()


class ModelManager:
    """Routes a request's ``model`` to its ``ServedModel``; keeps at most ``max_loaded`` loaded (LRU)."""

    def __init__(self, models: List[ModelSettings], max_loaded: int = 0, max_queue: int = 64) -> None:
        if not models:
            raise ValueError("no model configured: pass --model or a config file with 'models'")
        self.models: OrderedDict[str, ServedModel] = OrderedDict()
        for settings in models:
            if settings.alias in self.models:
                raise ValueError(f"two models share the alias {settings.alias!r}")
            self.models[settings.alias] = ServedModel(settings, max_queue)
        self.max_loaded = max_loaded
        self.loading = 0
        self._lock = threading.Lock()

    def find(self, name: Optional[str]) -> ServedModel:
        if not name:
            return next(iter(self.models.values()))
        served = self.models.get(name)
        if served is None:
            raise ApiError(404, f"The model `{name}` does not exist", "invalid_request_error", "model",
                           "model_not_found")
        return served

    def preload_list(self) -> List[ServedModel]:
        limit = self.max_loaded or len(self.models)
        return list(self.models.values())[:limit]

    def acquire_loaded(self, served: ServedModel) -> Any:
        """Load ``served`` (unloading least recently used idle models past the limit) and count one user."""
        with self._lock:
            served.users += 1
            served.last_used = time.monotonic()
        try:
            if served.llama is None:
                with self._lock:
                    self.loading += 1
                try:
                    self._make_room(served)
                    return served.load()
                finally:
                    with self._lock:
                        self.loading -= 1
            return served.llama
        except BaseException:
            self.release(served)
            raise

    def release(self, served: ServedModel) -> None:
        with self._lock:
            served.users -= 1
            served.last_used = time.monotonic()

    def _make_room(self, wanted: ServedModel) -> None:
        if not self.max_loaded:
            return
        with self._lock:
            loaded = [m for m in self.models.values() if m.llama is not None and m is not wanted]
            excess = len(loaded) + 1 - self.max_loaded
            idle = sorted((m for m in loaded if m.users == 0), key=lambda m: m.last_used)
            victims = idle[:max(excess, 0)]
            closing = []
            for victim in victims:  # detached under the lock: a request arriving now loads it afresh
                closing.append((victim.alias, victim.llama))
                victim.llama = None
        for alias, llama in closing:
            logger.info("unloading model %r (max_loaded_models=%d)", alias, self.max_loaded)
            llama.close()
        if excess > len(victims):
            logger.warning("max_loaded_models=%d exceeded: every loaded model is in use", self.max_loaded)

    def close(self) -> None:
        for served in self.models.values():
            served.unload()


class LlamaProxy:
    """``llama-cpp-python``'s model holder, for code that imports it: one ``Llama`` loaded at a time.

    ``proxy(alias)`` returns the model's ``Llama``, closing the previous one when
    the alias changes; ``None`` or an unknown alias means the first model, as in
    the reference (the server itself answers 404 for unknown names and may keep
    several models loaded: see ``ModelManager``).
    """

    def __init__(self, models: List[ModelSettings]) -> None:
        self._manager = ModelManager(models, max_loaded=1)
        self._current: Optional[ServedModel] = None

    def __call__(self, model: Optional[str] = None) -> Any:
        served = self._manager.models.get(model or "") or next(iter(self._manager.models.values()))
        if self._current is not None and self._current is not served:
            self._current.unload()
        self._current = served
        return served.load()

    def __getitem__(self, model: str) -> Dict[str, Any]:
        return self._manager.models[model].settings.model_dump()

    def __setitem__(self, model: str, settings: Any) -> None:
        if isinstance(settings, dict):
            settings = ModelSettings.model_validate(settings)
        self._manager.models[model] = ServedModel(settings, self._manager.models[model].max_queue
                                                  if model in self._manager.models else 64)

    def __iter__(self) -> Any:
        return iter(self._manager.models)

    def free(self) -> None:
        self._manager.close()
        self._current = None

    load_llama_from_model_settings = staticmethod(load_llama_from_model_settings)
