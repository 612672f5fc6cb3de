"""Images in prompts, through llama.cpp's multimodal library (libmtmd).

``MtmdContext`` owns one ``mtmd_context`` (a projector file loaded for one
text model). ``MediaPrompt`` is a prompt whose text carries media markers
plus the images that replace them; ``llama_cpp.llama.Llama`` evaluates it
under its own lock (``MediaPrompt.evaluate``) and then samples as for any
prompt, so streaming, grammars, stops and logprobs work unchanged.

Bookkeeping: ``Llama.input_ids`` holds one entry per position. Positions that
hold image embeddings get a *negative* id derived from the image's bytes and
the projector, the same for every position of that image. No real token is
negative, so text prompts never match an image's positions in the prefix
reuse, while a later request with the same images in the same places reuses
them without encoding the images again.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, List, Optional, Sequence

from llama_cpp_core import _bindings as B
from llama_cpp_core._log import capture_errors

from ._generate import evaluate
from ._internals import _check_path
from ._numpy import np
from ._utils import common_prefix_length

if TYPE_CHECKING:  # pragma: no cover
    from .llama import Llama

__all__ = ["MtmdContext", "MediaPrompt"]


def _check_projector(path: str) -> str:
    _check_path(path, "clip_model_path", "Clip model path")
    path = os.fspath(path)
    with open(path, "rb") as f:
        if f.read(4) != b"GGUF":
            raise ValueError(f"Clip model path is not a GGUF file (no GGUF magic): {path}")
    return path


class MtmdContext:
    """A multimodal projector loaded for one text model (``mtmd_context *``)."""

    def __init__(self, clip_model_path: str, llama: Llama, *, use_gpu: bool = True, verbose: bool = False) -> None:
        self.path = _check_projector(clip_model_path)
        self.ctx: Optional[int] = None
        self.model = llama._model.model if llama._model is not None else None
        if not self.model:
            raise RuntimeError("the Llama is closed")
        params = B.mtmd_context_params_default()
        params.use_gpu = bool(use_gpu)
        params.print_timings = bool(verbose)
        params.n_threads = int(llama.n_threads)
        params.flash_attn_type = llama.context_params.flash_attn_type
        with capture_errors() as said:
            ctx = B.mtmd_init_from_file(self.path.encode("utf-8"), self.model, params)
        if not ctx:
            reason = "; ".join(line for line in said if line) or "no reason given"
            raise ValueError(
                f"Failed to load the multimodal projector {self.path}: it is not a projector (mmproj) GGUF that "
                f"llama.cpp can use with this model. llama.cpp said: {reason}"
            )
        self.ctx = ctx
        if not B.mtmd_support_vision(ctx):
            self.close()
            raise ValueError("Vision is not supported by this model")
        digest = hashlib.sha256(os.path.abspath(self.path).encode("utf-8"))
        self._salt = digest.digest()

    def close(self) -> None:
        if self.ctx:
            B.mtmd_free(self.ctx)
        self.ctx = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def marker(self) -> str:
        return bytes(B.mtmd_default_marker()).decode("utf-8")

    def placeholder(self, image_digest: bytes) -> int:
        """The negative id every position of an image's embeddings gets in ``input_ids``, from the
        image's SHA-256 and this projector."""
        h = hashlib.sha256(self._salt + image_digest).digest()
        return -1 - (int.from_bytes(h[:4], "little") & 0x7FFFFFFF)


@dataclass
class _Span:
    start: int
    ids: List[int]          # what input_ids holds for these positions once evaluated
    chunk: Optional[int]    # the mtmd_input_chunk * of an image, None for text
    label: str = ""         # which image, for messages
    cells: int = 0          # KV cells the chunk takes (M-RoPE images take more cells than positions)

    @property
    def end(self) -> int:
        return self.start + len(self.ids)


class MediaPrompt:
    """Prompt text with media markers and the image bytes for them, evaluated by ``evaluate``.

    ``projector`` gives the ``MtmdContext`` for a Llama; it is called by ``evaluate``, under
    that Llama's lock, so a projector is never loaded or freed while its Llama is in use.
    """

    def __init__(self, projector: Callable[[Llama], MtmdContext], text: str, images: Sequence[bytes],
                 add_special: bool, labels: Optional[Sequence[str]] = None) -> None:
        self.projector = projector
        self.text = text
        self.images = list(images)
        self.add_special = add_special
        self.labels = list(labels) if labels is not None else [f"image {i + 1}" for i in range(len(self.images))]
        self._digests = [hashlib.sha256(data).hexdigest().encode() for data in self.images]

    def _tokenize(self, mtmd: MtmdContext) -> tuple[int, List[_Span]]:
        """mtmd-tokenize into chunks; returns ``(chunks handle, spans)``. The caller frees the chunks."""
        ctx = mtmd.ctx
        if not ctx:
            raise RuntimeError("the multimodal projector is closed")
        marker = mtmd.marker()
        if self.text.count(marker) != len(self.images):
            raise ValueError(f"the prompt has {self.text.count(marker)} media markers ({marker}) but "
                             f"{len(self.images)} images were given: each image needs one marker where it goes")
        bitmaps: List[int] = []
        chunks = 0
        try:
            opt = B.mtmd_helper_init_opt_default()
            for label, data in zip(self.labels, self.images):
                buf = (ctypes.c_ubyte * len(data)).from_buffer_copy(data)
                wrapped = B.mtmd_helper_bitmap_init_from_buf(ctx, buf, len(data), False, opt)
                if wrapped.video_ctx:  # only with a video-enabled libmtmd: not an image
                    B.mtmd_helper_video_free(wrapped.video_ctx)
                if wrapped.bitmap:
                    bitmaps.append(wrapped.bitmap)
                if not wrapped.bitmap or wrapped.video_ctx:
                    raise ValueError(f"{label} could not be decoded: not an image format llama.cpp reads "
                                     "(PNG, JPEG, BMP, GIF, TGA, PSD, HDR, PIC, PNM)")
                if B.mtmd_bitmap_is_audio(wrapped.bitmap):
                    raise ValueError(f"{label} is audio, not an image")
            chunks = B.mtmd_input_chunks_init()
            raw = self.text.encode("utf-8")
            text = B.mtmd_input_text(text=raw, text_len=len(raw), add_special=self.add_special, parse_special=True)
            array = (ctypes.c_void_p * max(len(bitmaps), 1))(*bitmaps)
            rc = B.mtmd_tokenize(ctx, chunks, ctypes.byref(text), array, len(bitmaps))
            if rc != 0:
                raise ValueError(f"the images could not be preprocessed for this projector (mtmd_tokenize returned {rc})")
            spans: List[_Span] = []
            pos = 0
            for i in range(B.mtmd_input_chunks_size(chunks)):
                chunk = B.mtmd_input_chunks_get(chunks, i)
                if B.mtmd_input_chunk_get_type(chunk) == B.MTMD_INPUT_CHUNK_TYPE_TEXT:
                    n = ctypes.c_size_t(0)
                    ptr = B.mtmd_input_chunk_get_tokens_text(chunk, ctypes.byref(n))
                    ids = np.ctypeslib.as_array(ptr, shape=(n.value,)).tolist() if n.value else []
                    spans.append(_Span(pos, ids, None, cells=len(ids)))
                else:
                    # chunks carry the SHA-256 of their image as id (several chunks for a sliced image)
                    chunk_id = bytes(B.mtmd_input_chunk_get_id(chunk) or b"")
                    k = self._digests.index(chunk_id) if chunk_id in self._digests else 0
                    n_pos = int(B.mtmd_input_chunk_get_n_pos(chunk))
                    cells = int(B.mtmd_input_chunk_get_n_tokens(chunk))
                    spans.append(_Span(pos, [mtmd.placeholder(self._digests[k])] * n_pos, chunk, self.labels[k], cells))
                pos = spans[-1].end
            if not spans or spans[-1].chunk is not None:
                raise ValueError("the prompt ends with an image: text must follow it (e.g. the assistant cue) so "
                                 "that there is something to predict from")
            return chunks, spans
        except BaseException:
            if chunks:
                B.mtmd_input_chunks_free(chunks)
            raise
        finally:
            for bitmap in bitmaps:
                B.mtmd_bitmap_free(bitmap)

    def evaluate(self, llama: Llama) -> List[int]:
        """Bring ``llama``'s context to exactly this prompt (reusing what already matches), logits fresh.

        Called with the Llama's lock held. Returns the prompt as ``input_ids`` now holds it.
        """
        mtmd = self.projector(llama)
        chunks, spans = self._tokenize(mtmd)
        try:
            return self._evaluate(llama, mtmd, spans)
        finally:
            B.mtmd_input_chunks_free(chunks)

    def _evaluate(self, llama: Llama, mtmd: MtmdContext, spans: List[_Span]) -> List[int]:
        engine = llama._engine
        assert engine is not None and engine.default is not None
        seq = engine.default  # images go to the single-sequence API's sequence
        ctx = engine.require_open()
        expected = [t for s in spans for t in s.ids]
        total = len(expected)
        n_ctx = engine.n_ctx
        need = max(total, sum(s.cells for s in spans))
        if need >= n_ctx:
            raise ValueError(f"Prompt exceeds n_ctx: {need} > {n_ctx}")
        n_ubatch = int(llama.context_params.n_ubatch)
        for s in spans:
            # bidirectional attention over an image (Gemma 3 & co.) needs the whole image in one ubatch
            if s.chunk is not None and B.mtmd_decode_use_non_causal(mtmd.ctx, s.chunk) and s.cells > n_ubatch:
                raise ValueError(f"{s.label} takes {s.cells} tokens, and this model attends over an image in one "
                                 f"batch: create the Llama with n_ubatch >= {s.cells} (and n_batch >= it)")
        keep = common_prefix_length(seq.tokens.tolist(), expected)
        for s in spans:  # half an image cannot be kept: back up to its start
            if s.chunk is not None and s.start < keep < s.end:
                keep = s.start
        if keep == total == seq.n_tokens and seq.logits_fresh and seq.restored_logits is None:
            return expected
        if keep == total:  # everything is there but the last logits are not: redo the last text token
            keep = total - 1
        seq.restored_logits = None  # logits saved by load_state() belong to another prompt
        if keep > 0 and not ctx.kv_cache_seq_rm(seq.seq_id, keep, -1):
            keep = 0
        if keep == 0:
            engine.reset_default()
            ctx.kv_cache_seq_rm(seq.seq_id, 0, -1)
        seq.n_tokens = keep
        seq.logits_fresh = False
        for s in spans:
            if s.end <= keep:
                continue
            if s.chunk is None:
                evaluate(engine, seq, s.ids[max(keep - s.start, 0):], explicit_positions=True)
                continue
            start = seq.n_tokens
            new_n_past = B.llama_pos(start)
            rc = B.mtmd_helper_eval_chunk_single(
                mtmd.ctx, ctx.ctx, s.chunk, start, seq.seq_id, min(engine.n_batch, n_ubatch), False,
                ctypes.byref(new_n_past),
            )
            if rc != 0:
                if not ctx.kv_cache_seq_rm(seq.seq_id, start, -1):  # a recurrent state cannot drop half an image
                    engine.reset_default()
                    ctx.kv_cache_seq_rm(seq.seq_id, 0, -1)
                raise RuntimeError(f"llama.cpp could not encode or decode {s.label} "
                                   f"(mtmd_helper_eval_chunk_single returned {rc})")
            seq.input_ids[start: s.end] = s.ids
            seq.n_tokens = s.end
        seq.logits_fresh = True  # the last span is text (checked by _tokenize): its logits are current
        return expected
        if keep == total:  # everything is there but the last logits are not: redo the last text token
            keep = total - 1
        assert llama._ctx is not None
        llama._restored_logits = None  # logits saved by load_state() belong to another prompt
        if keep > 0 and not llama._ctx.kv_cache_seq_rm(0, keep, -1):
            keep = 0
        if keep == 0:
            llama._reset()
            llama._ctx.kv_cache_seq_rm(0, 0, -1)
        llama.n_tokens = keep
        llama._logits_fresh = False
        lctx = llama._ctx.ctx
        for s in spans:
            if s.end <= keep:
                continue
            if s.chunk is None:
                llama._eval(s.ids[max(keep - s.start, 0):], explicit_positions=True)
                continue
            start = llama.n_tokens
            new_n_past = B.llama_pos(start)
            rc = B.mtmd_helper_eval_chunk_single(
                mtmd.ctx, lctx, s.chunk, start, 0, min(llama.n_batch, n_ubatch), False, ctypes.byref(new_n_past),
            )
            if rc != 0:
                if not llama._ctx.kv_cache_seq_rm(0, start, -1):  # a recurrent state cannot drop half an image
                    llama._reset()
                    llama._ctx.kv_cache_seq_rm(0, 0, -1)
                raise RuntimeError(f"llama.cpp could not encode or decode {s.label} "
                                   f"(mtmd_helper_eval_chunk_single returned {rc})")
            llama.input_ids[start: s.end] = s.ids
            llama.n_tokens = s.end
        llama._logits_fresh = True  # the last span is text (checked by _tokenize): its logits are current
        return expected
