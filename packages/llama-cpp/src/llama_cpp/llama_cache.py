"""Prompt caches: saved model states looked up by the longest common token prefix.

``Llama.set_cache(cache)`` makes ``create_completion`` restore the state saved
for the cached prompt that shares the longest prefix with a new prompt, so only
the tokens after that prefix are evaluated.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from typing import TYPE_CHECKING, Optional, Sequence, Tuple

from ._utils import common_prefix_length

if TYPE_CHECKING:
    from .llama import LlamaState

__all__ = ["BaseLlamaCache", "LlamaRAMCache", "LlamaCache", "LlamaDiskCache"]


class BaseLlamaCache(ABC):
    """The interface of prompt caches: token sequences mapped to saved states.

    A key is a sequence of token ids; looking one up finds the stored key that
    shares the longest prefix with it. ``Llama.set_cache`` uses a cache to restore
    the closest saved state before evaluating a prompt, and to save the state after
    a completion.

    Args:
        capacity_bytes: How many bytes of states to keep before the oldest are
            evicted (2 GiB by default).
    """

    def __init__(self, capacity_bytes: int = (2 << 30)):
        self.capacity_bytes = capacity_bytes

    @property
    @abstractmethod
    def cache_size(self) -> int:
        """The bytes of saved state held now."""

    def _keys(self) -> Sequence[Tuple[int, ...]]:
        raise NotImplementedError

    def _find_longest_prefix_key(self, key: Tuple[int, ...]) -> Optional[Tuple[int, ...]]:
        best_len, best = 0, None
        for k in self._keys():
            n = common_prefix_length(k, key)
            if n > best_len:
                best_len, best = n, k
        return best

    @abstractmethod
    def __getitem__(self, key: Sequence[int]) -> LlamaState:
        """The state saved for the stored key sharing the longest prefix with ``key``.

        Raises:
            KeyError: No stored key shares a prefix with ``key``.
        """

    @abstractmethod
    def __contains__(self, key: Sequence[int]) -> bool:
        """Whether some stored key shares a prefix with ``key``."""

    @abstractmethod
    def __setitem__(self, key: Sequence[int], value: LlamaState) -> None:
        """Save ``value`` under ``key``, then evict the oldest states beyond the capacity."""


class LlamaRAMCache(BaseLlamaCache):
    """A prompt cache in memory; the least recently used states are evicted first.

    Safe to share between threads and between ``Llama`` instances of the same
    model and context size. ``LlamaCache`` is the same class.

    Args:
        capacity_bytes: How many bytes of states to keep (2 GiB by default).
    """

    def __init__(self, capacity_bytes: int = (2 << 30)):
        super().__init__(capacity_bytes)
        self.cache_state: OrderedDict[Tuple[int, ...], LlamaState] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def cache_size(self) -> int:
        return sum(state.llama_state_size for state in self.cache_state.values())

    def _keys(self) -> Sequence[Tuple[int, ...]]:
        return list(self.cache_state.keys())

    def __getitem__(self, key: Sequence[int]) -> LlamaState:
        with self._lock:
            found = self._find_longest_prefix_key(tuple(key))
            if found is None:
                raise KeyError("Key not found")
            self.cache_state.move_to_end(found)
            return self.cache_state[found]

    def __contains__(self, key: Sequence[int]) -> bool:
        with self._lock:
            return self._find_longest_prefix_key(tuple(key)) is not None

    def __setitem__(self, key: Sequence[int], value: LlamaState) -> None:
        key = tuple(key)
        with self._lock:
            self.cache_state.pop(key, None)
            self.cache_state[key] = value
            while self.cache_state and self.cache_size > self.capacity_bytes:
                self.cache_state.popitem(last=False)


LlamaCache = LlamaRAMCache
"""The in-memory prompt cache, ``LlamaRAMCache``, under its older name."""


class LlamaDiskCache(BaseLlamaCache):
    """A prompt cache in a directory, so saved states survive the process.

    Needs the ``diskcache`` package (``pip install diskcache``). States are pickled;
    when the directory holds more than ``capacity_bytes``, the oldest are evicted.

    Args:
        cache_dir: The directory (created if missing).
        capacity_bytes: How many bytes of states to keep (2 GiB by default).

    Raises:
        ImportError: ``diskcache`` is not installed.
    """

    def __init__(self, cache_dir: str = ".cache/llama_cache", capacity_bytes: int = (2 << 30)):
        super().__init__(capacity_bytes)
        import diskcache

        self.cache = diskcache.Cache(cache_dir)

    @property
    def cache_size(self) -> int:
        return int(self.cache.volume())

    def _keys(self) -> Sequence[Tuple[int, ...]]:
        return list(self.cache.iterkeys())

    def __getitem__(self, key: Sequence[int]) -> LlamaState:
        found = self._find_longest_prefix_key(tuple(key))
        if found is None:
            raise KeyError("Key not found")
        value = self.cache.get(found)
        if value is None:
            raise KeyError("Key not found")
        return value  # the entry stays (the API we replace deleted it on every read)

    def __contains__(self, key: Sequence[int]) -> bool:
        return self._find_longest_prefix_key(tuple(key)) is not None

    def __setitem__(self, key: Sequence[int], value: LlamaState) -> None:
        key = tuple(key)
        self.cache.pop(key, None)
        self.cache[key] = value
        while self.cache_size > self.capacity_bytes and len(self.cache) > 0:
            oldest = next(iter(self.cache.iterkeys()))
            del self.cache[oldest]
