"""``Llama.from_pretrained``: find and download GGUF files from the Hugging Face Hub.

Uses ``huggingface_hub`` (an optional dependency: ``pip install 'llama-cpp[hub]'``),
so its cache, token and ``HF_ENDPOINT``/``HF_HUB_OFFLINE`` settings apply, and
it shows a progress bar while downloading.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
from typing import List, Optional, Union

__all__ = ["download_model", "match_file"]

_SPLIT = re.compile(r"^(?P<stem>.*)-(?P<index>\d{5})-of-(?P<count>\d{5})\.gguf$")


def match_file(files: List[str], pattern: str, repo_id: str) -> str:
    """Pick the one repository file a glob names.

    The parts of a split model (``name-00001-of-00003.gguf``, ...) count as one
    match, its first part.

    Args:
        files: The repository's file names.
        pattern: A glob such as ``"*Q4_K_M.gguf"``.
        repo_id: The repository, for messages.

    Returns:
        The matching file name.

    Raises:
        ValueError: No file, or more than one, matches; the message lists the
            repository's files.
    """
    matches = [f for f in files if fnmatch.fnmatch(f, pattern)]
    listing = json.dumps(files, indent=1)
    if not matches:
        raise ValueError(f"No file found in {repo_id} that match {pattern}\n\nAvailable Files:\n{listing}")
    # the parts of one split model count as one match (the first part is loaded)
    firsts = {m for m in matches if not _SPLIT.match(m) or _SPLIT.match(m).group("index") == "00001"}  # type: ignore[union-attr]
    if len(firsts) > 1 or not firsts:
        raise ValueError(f"Multiple files found in {repo_id} matching {pattern}\n\nAvailable Files:\n{listing}")
    return firsts.pop()


def _split_parts(path: str, files: List[str], repo_id: str) -> List[str]:
    m = _SPLIT.match(path)
    if not m:
        return [path]
    count = int(m.group("count"))
    parts = [f"{m.group('stem')}-{i:05d}-of-{m.group('count')}.gguf" for i in range(1, count + 1)]
    missing = [p for p in parts if p not in files]
    if missing:
        raise ValueError(f"{repo_id}: split model {path} lacks parts {missing}")
    return parts


def download_model(
    repo_id: str,
    filename: Optional[str],
    additional_files: Optional[List[str]] = None,
    local_dir: Optional[Union[str, os.PathLike[str]]] = None,
    local_dir_use_symlinks: object = "auto",
    cache_dir: Optional[Union[str, os.PathLike[str]]] = None,
) -> str:
    """Download a GGUF model from the Hugging Face Hub (``Llama.from_pretrained`` uses it).

    Args:
        repo_id: The repository, e.g. ``"org/Model-GGUF"``.
        filename: A file name or glob naming one model file; every part of a split
            model is downloaded.
        additional_files: More file names or globs to download next to it (e.g. a
            multimodal projector).
        local_dir: Download into this directory (keeping the repository's
            sub-folders) instead of the Hub cache.
        local_dir_use_symlinks: Accepted for compatibility and ignored.
        cache_dir: The Hub cache directory to use.

    Returns:
        The local path of the model file (its first part, for a split model).

    Raises:
        ImportError: ``huggingface_hub`` is not installed.
        ValueError: ``filename`` is missing, matches no file or several, or a split
            model lacks parts.
    """
    try:
        import huggingface_hub
    except ImportError as e:
        raise ImportError(
            "Llama.from_pretrained needs huggingface_hub: pip install 'llama-cpp[hub]' (or pip install huggingface-hub)"
        ) from e
    if not filename:
        raise ValueError("from_pretrained needs filename: a file name or glob such as '*Q4_K_M.gguf'")
    # local_dir_use_symlinks is accepted for compatibility; current huggingface_hub decides by itself
    files = list(huggingface_hub.list_repo_files(repo_id))
    model_file = match_file(files, filename, repo_id)
    wanted = _split_parts(model_file, files, repo_id)
    for pattern in additional_files or []:
        extra = match_file(files, pattern, repo_id)
        wanted += [p for p in _split_parts(extra, files, repo_id) if p not in wanted]
    paths = [
        huggingface_hub.hf_hub_download(repo_id, filename=path, local_dir=local_dir, cache_dir=cache_dir)
        for path in wanted
    ]
    return str(paths[0])
