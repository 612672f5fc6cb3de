"""Vision chat handlers (``Llama(chat_handler=Llava15ChatHandler(...))``).

Images are encoded by llama.cpp's multimodal library (libmtmd, shipped in
``llama-cpp-core``): the handler renders its prompt with the media marker
where each image goes, loads the projector (``clip_model_path``) once per
Llama, and hands the prompt and the image bytes to the Llama as a
``llama_cpp._media.MediaPrompt``, which it evaluates under its lock
before sampling. Everything after that (streaming, ``response_format``,
tools, stops, logprobs) is the text path's.
"""

from __future__ import annotations

import base64
import os
import threading
import urllib.parse
import urllib.request
import weakref
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from .. import llama_types
from .._media import MediaPrompt, MtmdContext
from .adapter import _complete
from .jinja import compile_template, make_environment, render_template
from .messages import flatten_text_parts, prepare_messages, validate_messages
from .protocols import ChatFormatterResponse
from .request import ChatRequest

if TYPE_CHECKING:  # pragma: no cover
    from ..llama import Llama

__all__ = [
    "MEDIA_MARKER",
    "Gemma4ChatHandler",
    "Llama3VisionAlpha",
    "Llama3VisionAlphaChatHandler",
    "Llava15ChatHandler",
    "Llava16ChatHandler",
    "MTMDChatHandler",
    "MiniCPMv26ChatHandler",
    "MoondreamChatHandler",
    "MultimodalUnavailableError",
    "NanoLlavaChatHandler",
    "ObsidianChatHandler",
    "Qwen25VLChatHandler",
]

MEDIA_MARKER = "<__media__>"  # libmtmd's default marker for where an image's embeddings go


class MultimodalUnavailableError(ImportError):
    """The request contains images but llama.cpp's multimodal library (libmtmd) is not available."""


def _require_mtmd() -> None:
    from llama_cpp_core import LibraryLoadError
    from llama_cpp_core._loader import libraries

    try:
        libraries().optional_library("mtmd")
    except LibraryLoadError as exc:
        raise MultimodalUnavailableError(
            f"This request contains images, but llama.cpp's multimodal library (libmtmd) cannot be loaded: {exc}. "
            "Send text-only messages, or install a llama-cpp-core build with multimodal support."
        ) from exc


def _image_url(part: Mapping[str, Any]) -> Optional[str]:
    if part.get("type") != "image_url":
        return None
    url = part.get("image_url")
    if isinstance(url, Mapping):
        url = url.get("url")
    return url if isinstance(url, str) else None


# Templates below see messages whose image parts already carry the media marker
# as their URL, so "{{ part.image_url.url }}" writes the marker. The environment
# trims the newline right after a block tag, so text starting with a newline
# after "%}" is written as an expression.
_USER_PARTS = (
    "{% if message.content is string %}{{ message.content }}"
    "{% else %}"
    "{% for part in message.content %}{% if part.type == 'image_url' %}{{ part.image_url.url }}{% endif %}{% endfor %}"
    "{% for part in message.content %}{% if part.type == 'text' %}{{ part.text }}{% endif %}{% endfor %}"
    "{% endif %}"
)


class Llava15ChatHandler:
    """LLaVA 1.5: ``system`` text, then ``\\nUSER: <images><text>`` and ``\\nASSISTANT: <reply>`` turns."""

    takes_request = True  # the dispatcher passes a ChatRequest to handle()

    DEFAULT_SYSTEM_MESSAGE: Optional[str] = (
        "A chat between a curious human and an artificial intelligence assistant. "
        "The assistant gives helpful, detailed, and polite answers to the human's questions."
    )

    CHAT_FORMAT = (
        "{% for message in messages %}"
        "{% if message.role == 'system' %}{{ message.content }}"
        "{% elif message.role == 'user' %}{{ '\\nUSER: ' }}" + _USER_PARTS + ""
        "{% elif message.role == 'assistant' and message.content is not none %}{{ '\\nASSISTANT: ' + message.content }}"
        "{% endif %}"
        "{% endfor %}"
        "{% if add_generation_prompt %}{{ '\\nASSISTANT: ' }}{% endif %}"
    )

    PROMPT_HAS_BOS = False  # True when the template writes the BOS token itself

    def __init__(self, clip_model_path: str, verbose: bool = True) -> None:
        if not isinstance(clip_model_path, (str, os.PathLike)):
            raise TypeError(f"clip_model_path must be a path string, not {type(clip_model_path).__name__}")
        clip_model_path = os.fspath(clip_model_path)
        if not os.path.exists(clip_model_path):
            raise ValueError(f"Clip model path does not exist: {clip_model_path}")
        self.clip_model_path = clip_model_path
        self.verbose = verbose
        self._template = compile_template(make_environment(), self.CHAT_FORMAT, f"{type(self).__name__}.CHAT_FORMAT")
        self._contexts: weakref.WeakKeyDictionary[Llama, MtmdContext] = weakref.WeakKeyDictionary()
        self._mtmd_lock = threading.Lock()
        self.use_gpu = True

    # ---- projector
    def _mtmd_for(self, llama: Llama) -> MtmdContext:
        """The projector loaded for ``llama``'s model: once per Llama, freed when that Llama closes.

        Runs under the Llama's lock (from ``MediaPrompt.evaluate``), so the Llama cannot close while
        its projector loads, and each Llama sharing this handler has its own projector."""
        with self._mtmd_lock:
            ctx = self._contexts.get(llama)
            if ctx is not None and ctx.ctx:
                return ctx
        llama._require_open()
        ctx = MtmdContext(self.clip_model_path, llama, use_gpu=self.use_gpu, verbose=self.verbose)
        llama._stack.callback(ctx.close)  # before the Llama frees the model the projector points to
        with self._mtmd_lock:
            self._contexts[llama] = ctx
        return ctx

    def close(self) -> None:
        """Free the projectors this handler loaded, waiting for each Llama that is busy to finish."""
        with self._mtmd_lock:
            loaded, self._contexts = list(self._contexts.items()), weakref.WeakKeyDictionary()
        for llama, ctx in loaded:
            with llama._busy():
                ctx.close()

    def __getstate__(self) -> Dict[str, Any]:
        state = self.__dict__.copy()
        for name in ("_contexts", "_mtmd_lock", "_template"):  # native handles, locks, compiled code
            state.pop(name, None)
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        if "_compiled_for" in state:  # MTMDChatHandler: its template is compiled again on first use
            state["_compiled_for"] = None
        self.__dict__.update(state)
        self._contexts = weakref.WeakKeyDictionary()
        self._mtmd_lock = threading.Lock()
        self._template = compile_template(make_environment(), self.CHAT_FORMAT, f"{type(self).__name__}.CHAT_FORMAT")

    def _media_text(self, prompt: str) -> str:
        """The rendered prompt as libmtmd should see it (hook for formats whose markup libmtmd adds itself)."""
        return prompt

    # ---- images
    def load_image(self, image_url: str) -> bytes:
        """The bytes of an image given as a ``data:`` URL, a ``file://`` URL, a local path or an http(s) URL."""
        if not isinstance(image_url, str):
            raise TypeError(f"image_url must be a str, not {type(image_url).__name__}")
        if image_url.startswith("data:"):
            header, sep, payload = image_url.partition(",")
            if not sep:
                raise ValueError(f"image data URL has no ',' before its data: {image_url[:60]!r}")
            try:
                if header.endswith(";base64"):
                    return base64.b64decode(payload, validate=True)
                return urllib.parse.unquote_to_bytes(payload)
            except ValueError as exc:
                raise ValueError(f"image data URL is not valid base64: {image_url[:60]!r}...") from exc
        parsed = urllib.parse.urlparse(image_url)
        try:
            if parsed.scheme in ("http", "https", "file"):
                with urllib.request.urlopen(image_url, timeout=60) as response:
                    return bytes(response.read())
            with open(image_url, "rb") as f:
                return f.read()
        except OSError as exc:
            raise ValueError(f"could not read image {image_url[:200]!r}: {exc}") from exc

    @staticmethod
    def get_image_urls(messages: List[llama_types.ChatCompletionRequestMessage]) -> List[str]:
        """Every image URL in the user messages, in order."""
        urls: List[str] = []
        for message in messages:
            content = message.get("content")
            if message.get("role") == "user" and isinstance(content, list):
                urls.extend(u for u in (_image_url(p) for p in content) if u is not None)  # type: ignore[arg-type]
        return urls

    @staticmethod
    def split_text_on_image_urls(text: str, image_urls: List[str]) -> List[Tuple[str, str]]:
        """``text`` cut at each occurrence of an image URL: ``[("text", ...), ("image_url", url), ...]``."""
        pieces: List[Tuple[str, str]] = []
        rest = text
        while rest:
            positions = [(rest.find(u), u) for u in image_urls if u and rest.find(u) >= 0]
            if not positions:
                pieces.append(("text", rest))
                break
            index, url = min(positions)
            if index > 0:
                pieces.append(("text", rest[:index]))
            pieces.append(("image_url", url))
            rest = rest[index + len(url):]
        return pieces

    @classmethod
    def from_pretrained(
        cls,
        repo_id: str,
        filename: Optional[str],
        local_dir: Optional[Union[str, os.PathLike[str]]] = None,
        local_dir_use_symlinks: Union[bool, str] = "auto",
        cache_dir: Optional[Union[str, os.PathLike[str]]] = None,
        **kwargs: Any,
    ) -> Llava15ChatHandler:
        """Download the CLIP/projector file ``filename`` (a glob) from a Hugging Face repo."""
        from .._hub import download_model

        path = download_model(
            repo_id, filename, local_dir=local_dir, local_dir_use_symlinks=local_dir_use_symlinks, cache_dir=cache_dir
        )
        return cls(clip_model_path=path, **kwargs)

    # ---- prompt
    def _with_default_system(self, messages: List[Mapping[str, Any]]) -> List[Mapping[str, Any]]:
        if self.DEFAULT_SYSTEM_MESSAGE is not None and not any(m.get("role") == "system" for m in messages):
            return [{"role": "system", "content": self.DEFAULT_SYSTEM_MESSAGE}, *messages]
        return messages

    def _template_variables(self, llama: Optional[Llama]) -> Dict[str, Any]:
        return {"add_generation_prompt": True}

    def _render(self, messages: Sequence[Mapping[str, Any]], variables: Dict[str, Any], llama: Optional[Llama]) -> str:
        return render_template(self._template, f"{type(self).__name__}.CHAT_FORMAT", variables)

    def render_prompt(
        self,
        messages: List[llama_types.ChatCompletionRequestMessage],
        llama: Optional[Llama] = None,
        **kwargs: Any,
    ) -> Tuple[str, List[str]]:
        """``(prompt, image_urls)``: the prompt with ``MEDIA_MARKER`` where each image goes."""
        validate_messages(messages)
        urls = self.get_image_urls(messages)
        marked: List[Dict[str, Any]] = []
        for message in prepare_messages(self._with_default_system(list(messages))):  # type: ignore[arg-type]
            content = message.get("content")
            if isinstance(content, list):
                if message.get("role") == "user":
                    message["content"] = [
                        {"type": "image_url", "image_url": {"url": MEDIA_MARKER}} if _image_url(p) is not None else p
                        for p in content
                    ]
                else:  # only user images are sent (get_image_urls): others would be markers without an image
                    message["content"] = [p for p in content if _image_url(p) is None]
            marked.append(message)
        variables = self._template_variables(llama)
        variables.update(kwargs)
        variables["messages"] = marked
        return self._render(marked, variables, llama), urls

    # ---- call
    def __call__(self, *, llama: Llama, **kwargs: Any) -> Any:
        """Answer a chat request given as the handler protocol's keywords."""
        return self.handle(llama, ChatRequest.from_kwargs(kwargs))

    def handle(self, llama: Llama, request: ChatRequest) -> Any:
        """Answer ``request``: its images go to the projector, its text to the model."""
        messages = request.messages
        validate_messages(messages)
        urls = self.get_image_urls(messages)
        media: Optional[Callable[[str, bool], MediaPrompt]] = None
        if urls:
            _require_mtmd()
            images = [self.load_image(url) for url in urls]
            labels = [f"image {i + 1} ({url[:40]}{'...' if len(url) > 40 else ''})" for i, url in enumerate(urls)]

            def media(prompt: str, add_special: bool) -> MediaPrompt:
                return MediaPrompt(self._mtmd_for, self._media_text(prompt), images, add_special, labels)

        def formatter(*, messages: List[Any], **extra: Any) -> ChatFormatterResponse:
            passthrough = {k: v for k, v in extra.items() if k not in ("functions", "function_call", "tool_choice")}
            prompt, _ = self.render_prompt(messages, llama, **passthrough)
            return ChatFormatterResponse(prompt=prompt, added_special=self.PROMPT_HAS_BOS)

        return _complete(llama, formatter, request, media=media)


class ObsidianChatHandler(Llava15ChatHandler):
    """Obsidian: ChatML turns closed by ``###``."""

    DEFAULT_SYSTEM_MESSAGE = Llava15ChatHandler.DEFAULT_SYSTEM_MESSAGE
    CHAT_FORMAT = (
        "{% for message in messages %}"
        "{% if message.role == 'system' %}<|im_start|>system\n{{ message.content }}\n###\n"
        "{% elif message.role == 'user' %}<|im_start|>user\n" + _USER_PARTS + "\n###\n"
        "{% elif message.role == 'assistant' and message.content is not none %}"
        "<|im_start|>assistant\n{{ message.content }}\n###\n"
        "{% endif %}"
        "{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )


class MoondreamChatHandler(Llava15ChatHandler):
    """Moondream 2: ``<image>\\n\\nQuestion: <text>\\n\\nAnswer:``."""

    DEFAULT_SYSTEM_MESSAGE = None
    CHAT_FORMAT = (
        "{% for message in messages %}"
        "{% if message.role == 'user' %}"
        "{% if message.content is string %}Question: {{ message.content }}"
        "{% else %}"
        "{% for part in message.content %}{% if part.type == 'image_url' %}{{ part.image_url.url }}\n\n{% endif %}{% endfor %}"
        "Question: {% for part in message.content %}{% if part.type == 'text' %}{{ part.text }}{% endif %}{% endfor %}"
        "{% endif %}{{ '\\n\\n' }}"
        "{% elif message.role == 'assistant' and message.content is not none %}Answer: {{ message.content }}\n\n"
        "{% endif %}"
        "{% endfor %}"
        "{% if add_generation_prompt %}Answer:{% endif %}"
    )


class Llava16ChatHandler(Llava15ChatHandler):
    """LLaVA 1.6 (Mistral/Vicuna based GGUFs): system text, user turns, ``Answer:`` cue."""

    DEFAULT_SYSTEM_MESSAGE = Llava15ChatHandler.DEFAULT_SYSTEM_MESSAGE
    CHAT_FORMAT = (
        "{% for message in messages %}"
        "{% if message.role == 'system' %}{{ message.content }}\n"
        "{% elif message.role == 'user' %}" + _USER_PARTS + "\n"
        "{% elif message.role == 'assistant' and message.content is not none %}Answer: {{ message.content }}\n"
        "{% endif %}"
        "{% endfor %}"
        "{% if add_generation_prompt %}Answer:{% endif %}"
    )


class NanoLlavaChatHandler(Llava15ChatHandler):
    """nanoLLaVA: ChatML, default system message ``Answer the question``."""

    DEFAULT_SYSTEM_MESSAGE = "Answer the question"
    CHAT_FORMAT = (
        "{% for message in messages %}"
        "{% if message.role == 'system' %}<|im_start|>system\n{{ message.content }}<|im_end|>\n"
        "{% elif message.role == 'user' %}<|im_start|>user\n" + _USER_PARTS + "<|im_end|>\n"
        "{% elif message.role == 'assistant' and message.content is not none %}"
        "<|im_start|>assistant\n{{ message.content }}<|im_end|>\n"
        "{% endif %}"
        "{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )


class Llama3VisionAlphaChatHandler(Llava15ChatHandler):
    """llama-3-vision-alpha: Llama 3 headers, no default system message."""

    DEFAULT_SYSTEM_MESSAGE = None
    CHAT_FORMAT = (
        "{% for message in messages %}"
        "<|start_header_id|>{{ message.role }}<|end_header_id|>\n\n"
        "{% if message.role == 'user' %}" + _USER_PARTS + ""
        "{% elif message.content is not none %}{{ message.content }}{% endif %}"
        "<|eot_id|>"
        "{% endfor %}"
        "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
    )


Llama3VisionAlpha = Llama3VisionAlphaChatHandler


class MiniCPMv26ChatHandler(Llava15ChatHandler):
    """MiniCPM-V 2.6: ChatML with the images first in the user turn."""

    DEFAULT_SYSTEM_MESSAGE = "You are a helpful assistant."
    CHAT_FORMAT = NanoLlavaChatHandler.CHAT_FORMAT


class Qwen25VLChatHandler(Llava15ChatHandler):
    """Qwen2.5-VL: ChatML, each image wrapped in ``<|vision_start|>...<|vision_end|>``."""

    DEFAULT_SYSTEM_MESSAGE = "You are a helpful assistant."
    CHAT_FORMAT = (
        "{% for message in messages %}"
        "<|im_start|>{{ message.role }}\n"
        "{% if message.content is string %}{{ message.content }}"
        "{% elif message.content is not none %}"
        "{% for part in message.content %}"
        "{% if part.type == 'image_url' %}<|vision_start|>{{ part.image_url.url }}<|vision_end|>"
        "{% elif part.type == 'text' %}{{ part.text }}{% endif %}"
        "{% endfor %}"
        "{% endif %}"
        "<|im_end|>\n"
        "{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )

    def _media_text(self, prompt: str) -> str:
        # libmtmd's Qwen-VL projectors put <|vision_start|>/<|vision_end|> around every image themselves
        return prompt.replace(f"<|vision_start|>{MEDIA_MARKER}<|vision_end|>", MEDIA_MARKER)


class MTMDChatHandler(Llava15ChatHandler):
    """Any libmtmd model: renders the model's own GGUF ``tokenizer.chat_template``.

    Image parts reach the template as text parts holding the media marker.
    """

    DEFAULT_SYSTEM_MESSAGE = None
    CHAT_FORMAT = ""
    PROMPT_HAS_BOS = True  # GGUF templates write bos_token themselves

    def __init__(self, clip_model_path: str, verbose: bool = True, use_gpu: bool = True) -> None:
        super().__init__(clip_model_path=clip_model_path, verbose=verbose)
        self.use_gpu = bool(use_gpu)
        self._compiled_for: Optional[str] = None

    def _gguf_template(self, llama: Optional[Llama]) -> str:
        metadata = getattr(llama, "metadata", None) or {}
        template = metadata.get("tokenizer.chat_template")
        if not isinstance(template, str):
            raise ValueError(f"{type(self).__name__} requires tokenizer.chat_template metadata")
        return template

    def _template_variables(self, llama: Optional[Llama]) -> Dict[str, Any]:
        variables: Dict[str, Any] = {"add_generation_prompt": True, "bos_token": "", "eos_token": ""}
        if llama is not None:
            from .dispatch import _token_text

            variables["bos_token"] = _token_text(llama, llama.token_bos())
            variables["eos_token"] = _token_text(llama, llama.token_eos())
        return variables

    def _render(self, messages: Sequence[Mapping[str, Any]], variables: Dict[str, Any], llama: Optional[Llama]) -> str:
        source = self._gguf_template(llama)
        if self._compiled_for != source:
            self._template = compile_template(make_environment(), source, "tokenizer.chat_template")
            self._compiled_for = source
        for message in messages:
            content = message.get("content")
            if isinstance(content, list):  # images become the marker; the parts then join into one string
                message["content"] = flatten_text_parts(  # type: ignore[index]
                    [{"type": "text", "text": MEDIA_MARKER} if _image_url(p) is not None else p for p in content]
                )
        return render_template(self._template, "tokenizer.chat_template", variables)


class Gemma4ChatHandler(MTMDChatHandler):
    """Gemma 4 vision: the model's own template, as ``MTMDChatHandler``."""
