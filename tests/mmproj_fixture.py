"""A tiny random-weight multimodal projector ("mmproj") GGUF, and a tiny PNG, for exercising libmtmd offline.

No real vision model is available to the test suite, so this module writes the smallest projector file that
libmtmd's CLIP loader accepts and can run: a one-image-size ViT with a llava-style two-layer MLP projector
(``clip.projector_type = "mlp"``), whose outputs have the width of the text model's embeddings. The weights are
random, so the "image understanding" is meaningless, but every stage of the real pipeline runs: loading the
projector, tokenizing a prompt with a media marker, preprocessing and encoding the image, decoding the image
embeddings into the text model, and generating text afterwards.

Why the llava "mlp" projector: it is the oldest and plainest vision path in libmtmd. It needs only the common
hyperparameters, a fixed square input (no tiling or dynamic resolution unless grid pinpoints are given), no
special begin/end-of-image text tokens in the vocabulary, and one output embedding per image patch.

Notes about the loader that shaped the choices below (tools/mtmd in llama.cpp):

* Integer hyperparameters must be stored as UINT32, the epsilon as FLOAT32, flags as BOOL, and image_mean /
  image_std as FLOAT32 arrays of (at least) 3 values; the loader checks the stored type, not just the key.
* The embedding width handed to the text model is read from ``mm.2.weight`` (its second dimension), so that
  tensor is required in practice even though the loader marks it optional; ``mm.0.bias`` and ``mm.2.bias`` are
  added unconditionally in the graph, so they are required too. libmtmd refuses the pair when that width differs
  from the text model's input embedding width.
* The llava graph runs the vision blocks only up to the second-to-last one (the classic llava feature layer),
  so with ``block_count = 2`` exactly one transformer block is computed. All blocks' tensors are still loaded.
* For old llava conversions the loader swaps ``ffn_up`` and ``ffn_down`` when ``ffn_down``'s input width equals
  the hidden width; the feed-forward width here is therefore kept different from the hidden width so that the
  tensors are taken as written.
* Images are resized (aspect-preserving, padded) to ``image_size`` squared; the patch grid must be square and
  ``image_size`` a multiple of ``patch_size``. Each image becomes ``(image_size // patch_size) ** 2`` embeddings.
* A warmup encode runs at load time at ``image_size``; flash attention set to "auto" is probed there and turned
  off if the backend lacks it. The head width is 64, a size the GPU flash-attention kernels handle as well.
* GGUF itself insists that each tensor's offset is exactly the running total of the previous tensors' sizes,
  each rounded up to the alignment, and that the data section starts at an aligned file position.
"""

from __future__ import annotations

import os
import struct
import zlib
from typing import Any, BinaryIO, Union

import numpy as np

# GGUF value type codes used by this writer.
_GGUF_UINT32 = 4
_GGUF_FLOAT32 = 6
_GGUF_BOOL = 7
_GGUF_STRING = 8
_GGUF_ARRAY = 9

# ggml tensor type codes used by this writer.
_GGML_F32 = 0
_GGML_F16 = 1

_ALIGNMENT = 32

# Shape of the tiny vision tower. The image is cut into a 4 x 4 grid of 8-pixel patches, so each image turns
# into 16 embeddings for the text model.
IMAGE_SIZE = 32
PATCH_SIZE = 8
VISION_HIDDEN = 128
VISION_HEADS = 2  # 64 values per head
VISION_FF = 256  # must differ from VISION_HIDDEN, see the module notes
VISION_BLOCKS = 2  # the llava graph computes all but the last, i.e. one block
LAYER_NORM_EPS = 1e-6
N_IMAGE_TOKENS = (IMAGE_SIZE // PATCH_SIZE) ** 2

# A GGUF metadata value as this writer understands it: the type code decides how the Python value is encoded.
_KV = tuple[int, Any]


def _pack_string(text: str) -> bytes:
    """A GGUF string: its UTF-8 byte length as uint64, then the bytes (no terminator)."""
    raw = text.encode("utf-8")
    return struct.pack("<Q", len(raw)) + raw


def _pack_value(vtype: int, value: Any) -> bytes:
    """Encode one metadata value of the given GGUF type (only the types this fixture needs)."""
    if vtype == _GGUF_UINT32:
        return struct.pack("<I", value)
    if vtype == _GGUF_FLOAT32:
        return struct.pack("<f", value)
    if vtype == _GGUF_BOOL:
        return struct.pack("<?", value)
    if vtype == _GGUF_STRING:
        return _pack_string(value)
    if vtype == _GGUF_ARRAY:
        elem_type, items = value
        body = b"".join(_pack_value(elem_type, item) for item in items)
        return struct.pack("<IQ", elem_type, len(items)) + body
    raise ValueError(f"unsupported GGUF value type {vtype}")


def _round_up(n: int, multiple: int) -> int:
    return (n + multiple - 1) // multiple * multiple


def _write_gguf(out: BinaryIO, metadata: dict[str, _KV], tensors: dict[str, np.ndarray]) -> None:
    """Write a version 3 GGUF file from ordered metadata and ordered tensors.

    Each numpy array is stored in row-major order; GGUF lists dimensions fastest-varying first, so the array's
    shape is written reversed. float16 arrays become ggml F16 tensors and everything else ggml F32.
    """
    header = bytearray()
    header += b"GGUF"
    header += struct.pack("<IQQ", 3, len(tensors), len(metadata))
    for key, (vtype, value) in metadata.items():
        header += _pack_string(key)
        header += struct.pack("<I", vtype)
        header += _pack_value(vtype, value)

    blobs: list[bytes] = []
    offset = 0
    for name, array in tensors.items():
        if array.dtype == np.float16:
            ggml_type, blob = _GGML_F16, array.astype("<f2").tobytes()
        else:
            ggml_type, blob = _GGML_F32, array.astype("<f4").tobytes()
        header += _pack_string(name)
        header += struct.pack("<I", array.ndim)
        header += b"".join(struct.pack("<Q", dim) for dim in reversed(array.shape))
        header += struct.pack("<IQ", ggml_type, offset)
        # Offsets count from the start of the data section and every tensor starts on an aligned boundary.
        padded = blob + b"\0" * (_round_up(len(blob), _ALIGNMENT) - len(blob))
        blobs.append(padded)
        offset += len(padded)

    # The data section itself begins at an aligned position in the file.
    header += b"\0" * (_round_up(len(header), _ALIGNMENT) - len(header))
    out.write(bytes(header))
    for blob in blobs:
        out.write(blob)


def _build_tensors(n_embd_text: int, seed: int) -> dict[str, np.ndarray]:
    """Random weights for the tiny ViT and its projector, named and shaped as libmtmd expects.

    Shapes are given in numpy (row-major) order: a linear layer mapping ``n_in`` to ``n_out`` values is an
    ``(n_out, n_in)`` array, as in PyTorch. Matrices are stored as float16 and the vectors (norm scales and
    biases) as float32, the same split real projector files use.
    """
    rng = np.random.default_rng(seed)

    def matrix(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.02).astype(np.float16)

    def ones(n: int) -> np.ndarray:
        return np.ones(n, dtype=np.float32)

    def zeros(n: int) -> np.ndarray:
        return np.zeros(n, dtype=np.float32)

    d, ff = VISION_HIDDEN, VISION_FF
    n_pos = N_IMAGE_TOKENS  # no class token, so one position per patch

    tensors: dict[str, np.ndarray] = {
        # Convolution that turns each patch into a hidden vector: (out channels, in channels, kh, kw).
        "v.patch_embd.weight": matrix(d, 3, PATCH_SIZE, PATCH_SIZE),
        "v.patch_embd.bias": zeros(d),
        # Learned absolute position embeddings, one row per patch. Random rows also keep the layer norms
        # well defined for a flat single-colour image, whose patches would otherwise all be identical.
        "v.position_embd.weight": matrix(n_pos, d),
        "v.pre_ln.weight": ones(d),
        "v.pre_ln.bias": zeros(d),
    }
    for il in range(VISION_BLOCKS):
        blk = f"v.blk.{il}"
        tensors.update(
            {
                f"{blk}.ln1.weight": ones(d),
                f"{blk}.ln1.bias": zeros(d),
                f"{blk}.attn_q.weight": matrix(d, d),
                f"{blk}.attn_q.bias": zeros(d),
                f"{blk}.attn_k.weight": matrix(d, d),
                f"{blk}.attn_k.bias": zeros(d),
                f"{blk}.attn_v.weight": matrix(d, d),
                f"{blk}.attn_v.bias": zeros(d),
                f"{blk}.attn_out.weight": matrix(d, d),
                f"{blk}.attn_out.bias": zeros(d),
                f"{blk}.ln2.weight": ones(d),
                f"{blk}.ln2.bias": zeros(d),
                f"{blk}.ffn_up.weight": matrix(ff, d),
                f"{blk}.ffn_up.bias": zeros(ff),
                f"{blk}.ffn_down.weight": matrix(d, ff),
                f"{blk}.ffn_down.bias": zeros(d),
            }
        )
    # The llava projector: linear, GELU, linear, ending at the text model's embedding width.
    tensors.update(
        {
            "mm.0.weight": matrix(n_embd_text, d),
            "mm.0.bias": zeros(n_embd_text),
            "mm.2.weight": matrix(n_embd_text, n_embd_text),
            "mm.2.bias": zeros(n_embd_text),
        }
    )
    return tensors


def _build_metadata(n_embd_text: int) -> dict[str, _KV]:
    """The key/value pairs the CLIP loader reads for a vision-only llava-style projector."""
    return {
        "general.architecture": (_GGUF_STRING, "clip"),
        "general.name": (_GGUF_STRING, "tiny-random-mmproj"),
        "general.description": (_GGUF_STRING, "random weights, for tests only"),
        "general.alignment": (_GGUF_UINT32, _ALIGNMENT),
        "clip.projector_type": (_GGUF_STRING, "mlp"),
        "clip.has_vision_encoder": (_GGUF_BOOL, True),
        "clip.has_audio_encoder": (_GGUF_BOOL, False),
        # The feed-forward activation inside the vision blocks; without this flag "quick GELU" is used.
        "clip.use_gelu": (_GGUF_BOOL, True),
        "clip.vision.image_size": (_GGUF_UINT32, IMAGE_SIZE),
        "clip.vision.patch_size": (_GGUF_UINT32, PATCH_SIZE),
        "clip.vision.embedding_length": (_GGUF_UINT32, VISION_HIDDEN),
        "clip.vision.feed_forward_length": (_GGUF_UINT32, VISION_FF),
        # Required by the loader but not used by the "mlp" graph; the text width is the natural value.
        "clip.vision.projection_dim": (_GGUF_UINT32, n_embd_text),
        "clip.vision.block_count": (_GGUF_UINT32, VISION_BLOCKS),
        "clip.vision.attention.head_count": (_GGUF_UINT32, VISION_HEADS),
        "clip.vision.attention.layer_norm_epsilon": (_GGUF_FLOAT32, LAYER_NORM_EPS),
        "clip.vision.image_mean": (_GGUF_ARRAY, (_GGUF_FLOAT32, [0.5, 0.5, 0.5])),
        "clip.vision.image_std": (_GGUF_ARRAY, (_GGUF_FLOAT32, [0.5, 0.5, 0.5])),
    }


def write_tiny_mmproj(path: Union[str, os.PathLike[str]], n_embd_text: int = 576, seed: int = 0) -> dict[str, Any]:
    """Write a tiny random-weight llava-style projector GGUF to ``path`` and describe it.

    ``n_embd_text`` must equal the input embedding width of the text model it will be paired with (576 for
    SmolLM2-135M); ``seed`` makes the weights reproducible. The returned dict holds the facts a test may need:
    the projector type, the square input size, and how many embeddings (positions in the text context) one
    image occupies.
    """
    if n_embd_text <= 0:
        raise ValueError("n_embd_text must be positive")
    tensors = _build_tensors(n_embd_text, seed)
    with open(path, "wb") as out:
        _write_gguf(out, _build_metadata(n_embd_text), tensors)
    return {
        "projector_type": "mlp",
        "image_size": IMAGE_SIZE,
        "patch_size": PATCH_SIZE,
        "n_image_tokens": N_IMAGE_TOKENS,
        "n_embd": n_embd_text,
        "vision_hidden": VISION_HIDDEN,
        "vision_blocks": VISION_BLOCKS,
        "tensor_names": list(tensors),
        "size_bytes": os.path.getsize(path),
    }


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: payload length, four-letter type, payload, CRC-32 over type and payload."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def tiny_png(width: int, height: int, rgb: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A valid, single-colour, 8-bit RGB PNG of the given size, built with zlib and struct only."""
    if width <= 0 or height <= 0:
        raise ValueError("width and height must be positive")
    pixel = bytes(rgb)
    if len(pixel) != 3:
        raise ValueError("rgb must have exactly three components")
    # Every scanline starts with its filter type; 0 means the bytes are stored as they are.
    scanline = b"\x00" + pixel * width
    raw = scanline * height
    # IHDR: width, height, bit depth 8, colour type 2 (RGB), deflate compression, adaptive filtering, no interlace.
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(raw, 9))
        + _png_chunk(b"IEND", b"")
    )
