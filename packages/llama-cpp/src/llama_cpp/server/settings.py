"""Server and model settings: each field is a ``--flag``, an environment variable and a config-file key.

``Settings`` (server + one model) is what a plain command line builds;
``ConfigFileSettings`` (server + ``models: [...]``) is what ``--config_file``
reads. Field names, defaults and parsing follow ``llama-cpp-python``'s server;
the fields after ``# new`` comments are this server's additions.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path
from typing import Any, Dict, List, Literal, Optional, Union

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ModelSettings", "ServerSettings", "Settings", "ConfigFileSettings", "load_config_file"]

_CPU = multiprocessing.cpu_count()
LLAMA_DEFAULT_SEED = 0xFFFFFFFF


def _supports(name: str, fallback: bool) -> bool:
    try:
        from .. import llama_cpp as C

        return bool(getattr(C, name)())
    except Exception:  # settings must be constructible even where the core cannot load
        return fallback


class ModelSettings(BaseSettings):
    """How one model is loaded (the ``Llama(...)`` arguments) and served."""

    model_config = SettingsConfigDict(extra="forbid", protected_namespaces=())

    model: str = Field(description="The path to the model to use for generating completions.")
    model_alias: Optional[str] = Field(
        default=None, description="The alias of the model to use for generating completions (default: the path)."
    )
    # placement
    n_gpu_layers: int = Field(default=0, ge=-1, description="Layers to offload to the GPU (-1: all).")
    split_mode: int = Field(default=1, description="How to split the model across GPUs (1: layer).")
    main_gpu: int = Field(default=0, ge=0, description="The GPU for the whole model or for intermediate results.")
    tensor_split: Optional[List[float]] = Field(default=None, description="Fraction of the model per GPU.")
    vocab_only: bool = Field(default=False, description="Load only the vocabulary.")
    use_mmap: bool = Field(default_factory=lambda: _supports("llama_supports_mmap", True), description="Use mmap.")
    use_mlock: bool = Field(default_factory=lambda: _supports("llama_supports_mlock", False), description="Use mlock.")
    kv_overrides: Optional[List[str]] = Field(
        default=None, description="Metadata overrides, each key=type:value with type bool, int, float or str."
    )
    rpc_servers: Optional[str] = Field(default=None, description="Comma-separated RPC servers for offloading.")
    # context and threads
    seed: int = Field(default=LLAMA_DEFAULT_SEED, description="Random seed (-1 or the default: random).")
    n_ctx: int = Field(default=2048, ge=0, description="Context size in tokens, shared by the parallel sequences.")
    n_batch: int = Field(default=512, ge=1, description="Prompt tokens per decode call.")
    n_ubatch: int = Field(default=512, ge=1, description="Physical batch size.")
    n_threads: int = Field(default=max(_CPU // 2, 1), ge=-1, description="Generation threads (-1: all CPUs).")
    n_threads_batch: int = Field(default=max(_CPU, 1), ge=-1, description="Prompt threads (-1: all CPUs).")
    # new: continuous batching
    n_parallel: int = Field(
        default=4, ge=1, le=256,
        description="Sequences decoded together on this model (requests served at once); they share n_ctx.",
    )
    # RoPE / YaRN
    rope_scaling_type: int = Field(default=-1, description="RoPE scaling (-1: from the model; 0 none, 1 linear, 2 yarn).")
    rope_freq_base: float = Field(default=0.0, description="RoPE base frequency (0: from the model).")
    rope_freq_scale: float = Field(default=0.0, description="RoPE frequency scale (0: from the model).")
    yarn_ext_factor: float = Field(default=-1.0, description="YaRN extrapolation mix factor (-1: from the model).")
    yarn_attn_factor: float = Field(default=1.0, description="YaRN attention magnitude scale.")
    yarn_beta_fast: float = Field(default=32.0, description="YaRN low correction dimension.")
    yarn_beta_slow: float = Field(default=1.0, description="YaRN high correction dimension.")
    yarn_orig_ctx: int = Field(default=0, description="YaRN original context size (0: from the model).")
    # compute
    mul_mat_q: bool = Field(default=True, description="Accepted for compatibility (llama.cpp always uses it).")
    logits_all: bool = Field(
        default=False,
        description="Keep every position's logits: needed for echo with logprobs, but requests then run one at a "
                    "time (llama-cpp-python's server defaults to true).",
    )
    embedding: bool = Field(default=False, description="Serve embeddings from this model.")
    # new
    pooling_type: int = Field(
        default=-1, description="Embedding pooling (-1: the model's; 0: none, token-level; 1: mean; 2: cls; 3: last)."
    )
    offload_kqv: bool = Field(default=True, description="Keep the KV cache on the GPU.")
    flash_attn: bool = Field(default=False, description="Use flash attention.")
    last_n_tokens_size: int = Field(default=64, ge=0, description="Tokens the repeat penalty looks back over.")
    # LoRA / NUMA
    lora_base: Optional[str] = Field(default=None, description="Accepted for compatibility (llama.cpp ignores it).")
    lora_path: Optional[str] = Field(default=None, description="A LoRA adapter to apply.")
    numa: Union[bool, int] = Field(default=False, description="NUMA strategy (true: distribute).")
    # chat and multimodal
    chat_format: Optional[str] = Field(default=None, description="Chat format name (default: from the model).")
    chat_template_kwargs: Optional[Dict[str, Any]] = Field(
        default=None, description="Extra chat template variables for every chat request (JSON object)."
    )
    clip_model_path: Optional[str] = Field(default=None, description="Multimodal projector (mmproj) for vision.")
    # cache
    cache: bool = Field(default=False, description="Use a prompt-state cache.")
    cache_type: Literal["ram", "disk"] = Field(default="ram", description="Where the prompt-state cache lives.")
    cache_size: int = Field(default=2 << 30, description="Cache size in bytes.")
    # tokenizer / Hugging Face
    hf_tokenizer_config_path: Optional[str] = Field(
        default=None, description="A tokenizer_config.json whose chat template formats the chats.")
    hf_pretrained_model_name_or_path: Optional[str] = Field(
        default=None, description="A Hugging Face tokenizer (needs transformers) for tokens and chat template.")
    hf_model_repo_id: Optional[str] = Field(default=None, description="Download `model` (a file glob) from this repo.")
    # speculative decoding
    draft_model: Optional[str] = Field(default=None, description="Any value enables prompt-lookup decoding.")
    draft_model_num_pred_tokens: int = Field(default=10, description="Tokens proposed per draft.")
    # KV cache types
    type_k: Optional[int] = Field(default=None, description="KV cache type of K (a ggml_type number).")
    type_v: Optional[int] = Field(default=None, description="KV cache type of V (a ggml_type number).")
    verbose: bool = Field(default=True, description="Print llama.cpp's log.")

    @model_validator(mode="before")
    @classmethod
    def _threads(cls, values: Any) -> Any:
        if isinstance(values, dict):
            for key in ("n_threads", "n_threads_batch"):
                if values.get(key) in (-1, "-1"):
                    values[key] = _CPU
        return values

    @property
    def alias(self) -> str:
        return self.model_alias or self.model


class ServerSettings(BaseSettings):
    """How the HTTP server runs."""

    model_config = SettingsConfigDict(extra="ignore")

    host: str = Field(default="localhost", description="Listen address.")
    port: int = Field(default=8000, description="Listen port.")
    ssl_keyfile: Optional[str] = Field(default=None, description="SSL key file for HTTPS.")
    ssl_certfile: Optional[str] = Field(default=None, description="SSL certificate file for HTTPS.")
    api_key: Optional[Union[str, List[str]]] = Field(
        default=None, description="API key(s) a client must send as 'Authorization: Bearer <key>' (repeatable)."
    )
    interrupt_requests: bool = Field(
        default=True, description="Accepted for compatibility; no effect (streams are never interrupted here)."
    )
    disable_ping_events: bool = Field(default=False, description="Send no SSE ping comments.")
    root_path: str = Field(default="", description="The path prefix a reverse proxy serves this app under.")
    # new
    api_key_file: Optional[str] = Field(default=None, description="A file of API keys, one per line.")
    max_queue: int = Field(
        default=64, ge=0,
        description="Requests per model that may wait for a free sequence; past it: 429 with Retry-After.",
    )
    max_loaded_models: int = Field(
        default=0, ge=0, description="Models kept loaded at once, least recently used unloaded first (0: all)."
    )
    max_request_bytes: int = Field(default=32 << 20, ge=1024, description="Largest request body accepted.")
    allow_local_files: bool = Field(
        default=False, description="Let requests name local files (file:// or paths as image_url)."
    )
    retry_after: int = Field(default=1, ge=0, description="Seconds sent in Retry-After when overloaded.")
    shutdown_timeout: float = Field(
        default=10.0, ge=0, description="On SIGTERM, seconds running streams get to finish before an error event."
    )
    ping_interval: float = Field(default=15.0, gt=0, description="Seconds between SSE ping comments.")

    @field_validator("api_key", mode="before")
    @classmethod
    def _keys(cls, value: Any) -> Any:
        if isinstance(value, (list, tuple)) and len(value) == 1:
            return value[0]
        return value

    def api_keys(self) -> List[str]:
        """Every accepted key: ``api_key`` (one or several) plus the lines of ``api_key_file``."""
        keys: List[str] = []
        if isinstance(self.api_key, str):
            keys.append(self.api_key)
        elif self.api_key:
            keys.extend(self.api_key)
        if self.api_key_file:
            text = Path(self.api_key_file).read_text(encoding="utf-8")
            keys.extend(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))
        return [k for k in keys if k]


class Settings(ServerSettings, ModelSettings):
    """One server with one model: what ``python -m llama_cpp.server --model M ...`` builds."""

    model_config = SettingsConfigDict(extra="ignore", protected_namespaces=())


class ConfigFileSettings(ServerSettings):
    """A config file: the server fields plus ``models: [...]``."""

    model_config = SettingsConfigDict(extra="forbid")

    models: List[ModelSettings] = Field(default_factory=list, description="The models to serve.")


def load_config_file(path: str) -> ConfigFileSettings:
    """Read a JSON config file, or YAML if it is named ``.yaml``/``.yml``."""
    text = Path(path).read_text(encoding="utf-8")
    if path.endswith((".yaml", ".yml")):
        import yaml

        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"config file {path}: expected an object with server settings and 'models'")
    return ConfigFileSettings.model_validate(data)


def config_file_from_env() -> Optional[str]:
    return os.environ.get("CONFIG_FILE") or None
