"""Building blocks shared by the built-in prompt formats.

A format picks the messages whose role it knows, turns each into a
``(prefix, text)`` pair (``text`` is None when the content is not a string)
and lays the pairs out in one of a few styles. Keeping the styles here lets
every format module stay a table of prefixes and separators.
"""

from __future__ import annotations

from typing import Any, List, Mapping, Optional, Sequence, Tuple

__all__ = [
    "Turn",
    "chatml_layout",
    "colon_layout",
    "colon_space_layout",
    "glm_layout",
    "plain_layout",
    "system_text",
    "turns",
]

Turn = Tuple[str, Optional[str]]


def system_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """The content of the first ``system`` message, or ``""``."""
    for message in messages:
        if message.get("role") == "system":
            content = message.get("content")
            return content if isinstance(content, str) else ""
    return ""


def turns(
    messages: Sequence[Mapping[str, Any]],
    prefixes: Mapping[str, str],
    generation_prefix: Optional[str] = None,
) -> List[Turn]:
    """``(prefix, text)`` for each message whose role is a key of ``prefixes``.

    With ``generation_prefix`` an open turn ``(generation_prefix, None)`` is
    appended: the cue for the model to answer.
    """
    out: List[Turn] = []
    for message in messages:
        role = message.get("role")
        if isinstance(role, str) and role in prefixes:
            content = message.get("content")
            out.append((prefixes[role], content if isinstance(content, str) else None))
    if generation_prefix is not None:
        out.append((generation_prefix, None))
    return out


def colon_layout(head: str, pairs: Sequence[Turn], sep: str, alt_sep: Optional[str] = None) -> str:
    """``head sep`` then ``prefix: text`` per turn, a bare ``prefix:`` for empty turns.

    With ``alt_sep`` odd-numbered turns end with it instead of ``sep``.
    """
    parts = [head, sep]
    for index, (prefix, text) in enumerate(pairs):
        if text:
            end = alt_sep if (alt_sep is not None and index % 2 == 1) else sep
            parts.append(f"{prefix}: {text}{end}")
        else:
            parts.append(f"{prefix}:")
    return "".join(parts)


def colon_space_layout(head: str, pairs: Sequence[Turn], sep: str) -> str:
    """As ``colon_layout``, but an empty turn reads ``prefix: `` (with the space)."""
    parts = [head, sep]
    for prefix, text in pairs:
        parts.append(f"{prefix}: {text}{sep}" if text else f"{prefix}: ")
    return "".join(parts)


def plain_layout(head: str, pairs: Sequence[Turn], sep: str) -> str:
    """``head`` then ``prefix text sep`` per turn, with no separator between prefix and text."""
    parts = [head]
    for prefix, text in pairs:
        parts.append(f"{prefix}{text}{sep}" if text else prefix)
    return "".join(parts)


def chatml_layout(head: str, pairs: Sequence[Turn], sep: str) -> str:
    """ChatML-like blocks: ``prefix\\ntext sep\\n``; an empty head is left out entirely."""
    parts = [f"{head}{sep}\n" if head else ""]
    for prefix, text in pairs:
        parts.append(f"{prefix}\n{text}{sep}\n" if text else f"{prefix}\n")
    return "".join(parts)


def glm_layout(head: str, pairs: Sequence[Turn]) -> str:
    """ChatGLM3 style: ``prefix\\n text`` per turn, no separators."""
    parts = [head]
    for prefix, text in pairs:
        parts.append(f"{prefix}\n {text}" if text else prefix)
    return "".join(parts)
