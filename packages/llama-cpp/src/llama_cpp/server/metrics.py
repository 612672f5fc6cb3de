"""Counters for ``GET /metrics`` (Prometheus text format, llama-server's ``llamacpp:*`` names)."""

from __future__ import annotations

import threading
from collections import Counter
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple

if TYPE_CHECKING:  # pragma: no cover
    from .model import ModelManager

__all__ = ["Metrics"]


class Metrics:
    """Totals since start; gauges are read from the model manager when rendered."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.prompt_tokens = 0
        self.prompt_seconds = 0.0
        self.predicted_tokens = 0
        self.predicted_seconds = 0.0
        self.n_tokens_max = 0
        self.timed_prompt_tokens = 0
        self.timed_predicted_tokens = 0
        self.requests: Counter[Tuple[str, int]] = Counter()

    def record_generation(self, prompt_tokens: int, prompt_seconds: Optional[float], predicted_tokens: int,
                          predicted_seconds: float) -> None:
        """One finished generation. Streams are timed in two parts (the prompt ends at the first token);
        other requests (``prompt_seconds=None``) count their tokens but not their time."""
        with self._lock:
            self.prompt_tokens += max(prompt_tokens, 0)
            self.predicted_tokens += max(predicted_tokens, 0)
            self.n_tokens_max = max(self.n_tokens_max, prompt_tokens + predicted_tokens)
            if prompt_seconds is not None:
                self.prompt_seconds += max(prompt_seconds, 0.0)
                self.predicted_seconds += max(predicted_seconds, 0.0)
                self.timed_prompt_tokens += max(prompt_tokens, 0)
                self.timed_predicted_tokens += max(predicted_tokens, 0)

    def record_request(self, route: str, status: int) -> None:
        with self._lock:
            self.requests[(route, status)] += 1

    def render(self, models: ModelManager) -> str:
        with self._lock:
            prompt_rate = self.timed_prompt_tokens / self.prompt_seconds if self.prompt_seconds else 0.0
            predicted_rate = self.timed_predicted_tokens / self.predicted_seconds if self.predicted_seconds else 0.0
            rows: List[Tuple[str, str, str, Dict[str, str], float]] = [
                ("llamacpp:prompt_tokens_total", "counter", "Number of prompt tokens processed.", {},
                 self.prompt_tokens),
                ("llamacpp:prompt_seconds_total", "counter", "Prompt process time.", {}, self.prompt_seconds),
                ("llamacpp:tokens_predicted_total", "counter", "Number of generation tokens processed.", {},
                 self.predicted_tokens),
                ("llamacpp:tokens_predicted_seconds_total", "counter", "Predict process time.", {},
                 self.predicted_seconds),
                ("llamacpp:prompt_tokens_seconds", "gauge", "Average prompt throughput in tokens/s.", {},
                 prompt_rate),
                ("llamacpp:predicted_tokens_seconds", "gauge", "Average generation throughput in tokens/s.", {},
                 predicted_rate),
                ("llamacpp:n_tokens_max", "counter", "Largest observed n_tokens.", {}, self.n_tokens_max),
            ]
            requests = sorted(self.requests.items())
        served = list(models.models.values())
        rows += [
            ("llamacpp:requests_processing", "gauge", "Number of requests processing.", {},
             sum(m.processing for m in served)),
            ("llamacpp:requests_deferred", "gauge", "Number of requests deferred.", {},
             sum(m.deferred for m in served)),
        ]
        for m in served:
            labels = {"model": m.alias}
            rows += [
                ("llama_cpp_server_model_loaded", "gauge", "1 while the model is loaded.", labels,
                 1 if m.llama is not None else 0),
                ("llama_cpp_server_requests_processing", "gauge", "Requests decoding on the model.", labels,
                 m.processing),
                ("llama_cpp_server_requests_deferred", "gauge", "Requests waiting for the model.", labels,
                 m.deferred),
                ("llama_cpp_server_n_parallel", "gauge", "Sequences the model decodes together.", labels,
                 m.n_parallel),
            ]
        for (route, status), count in requests:
            rows.append(("llama_cpp_server_http_requests_total", "counter", "HTTP requests by route and status.",
                         {"route": route, "status": str(status)}, count))
        return _format(rows)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _format(rows: List[Tuple[str, str, str, Dict[str, str], float]]) -> str:
    families: Dict[str, List[Tuple[str, str, str, Dict[str, str], float]]] = {}
    for row in rows:  # a family's samples must be contiguous
        families.setdefault(row[0], []).append(row)
    lines: List[str] = []
    for name, family in families.items():
        lines.append(f"# HELP {name} {family[0][2]}")
        lines.append(f"# TYPE {name} {family[0][1]}")
        for _, _, _, labels, value in family:
            label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
            number = repr(float(value)) if isinstance(value, float) else str(int(value))
            lines.append(f"{name}{{{label_text}}} {number}" if label_text else f"{name} {number}")
    return "\n".join(lines) + "\n"
