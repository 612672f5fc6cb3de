"""Request and response bodies of the HTTP API (pydantic models).

The fields and defaults are the OpenAI API's plus ``llama-cpp-python``'s
extras (``top_k``, ``min_p``, ``repeat_penalty``, ``mirostat_*``, ``grammar``,
``min_tokens``, ``logit_bias_type``). Unknown fields are ignored, as OpenAI
clients send fields a local model has no use for (``store``, ``metadata``).
"""

from __future__ import annotations

from typing import Any, Dict, List, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CreateCompletionRequest",
    "CreateChatCompletionRequest",
    "CreateEmbeddingRequest",
    "StreamOptions",
    "TokenizeInputRequest",
    "TokenizeInputResponse",
    "TokenizeInputCountResponse",
    "DetokenizeInputRequest",
    "DetokenizeInputResponse",
    "ModelData",
    "ModelList",
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", protected_namespaces=())


class StreamOptions(_Body):
    include_usage: Optional[bool] = Field(default=False, description="Send a last chunk with the usage.")


class _Sampling(_Body):
    model: Optional[str] = Field(default=None, description="The model alias (default: the first model).")
    temperature: float = Field(default=0.8, ge=0.0, le=10.0)
    top_p: float = Field(default=0.95, ge=0.0, le=1.0)
    min_p: float = Field(default=0.05, ge=0.0, le=1.0)
    top_k: int = Field(default=40, ge=0)
    stop: Optional[Union[str, List[str]]] = Field(default=None)
    stream: bool = Field(default=False)
    stream_options: Optional[StreamOptions] = Field(default=None)
    presence_penalty: Optional[float] = Field(default=0.0, ge=-2.0, le=2.0)
    frequency_penalty: Optional[float] = Field(default=0.0, ge=-2.0, le=2.0)
    repeat_penalty: float = Field(default=1.1, ge=0.0)
    logit_bias: Optional[Dict[str, float]] = Field(default=None)
    logit_bias_type: Optional[Literal["input_ids", "tokens"]] = Field(default=None)
    seed: Optional[int] = Field(default=None)
    n: Optional[int] = Field(default=1, ge=1, le=16)
    user: Optional[str] = Field(default=None)
    min_tokens: int = Field(default=0, ge=0)
    mirostat_mode: int = Field(default=0, ge=0, le=2)
    mirostat_tau: float = Field(default=5.0, ge=0.0, le=10.0)
    mirostat_eta: float = Field(default=0.1, ge=0.001, le=1.0)
    grammar: Optional[str] = Field(default=None, description="A GBNF grammar the output must match.")


class CreateCompletionRequest(_Sampling):
    prompt: Union[str, List[str], List[int]] = Field(default="")
    suffix: Optional[str] = Field(default=None)
    max_tokens: Optional[int] = Field(default=16, ge=0)
    echo: bool = Field(default=False)
    logprobs: Optional[int] = Field(default=None, ge=0, le=20)
    best_of: Optional[int] = Field(default=1, ge=0, le=16)


class CreateChatCompletionRequest(_Sampling):
    messages: List[Dict[str, Any]] = Field(default_factory=list)
    functions: Optional[List[Dict[str, Any]]] = Field(default=None)
    function_call: Optional[Union[str, Dict[str, Any]]] = Field(default=None)
    tools: Optional[List[Dict[str, Any]]] = Field(default=None)
    tool_choice: Optional[Union[str, Dict[str, Any]]] = Field(default=None)
    parallel_tool_calls: Optional[bool] = Field(default=None)
    response_format: Optional[Dict[str, Any]] = Field(default=None)
    max_tokens: Optional[int] = Field(default=None, ge=0)
    max_completion_tokens: Optional[int] = Field(default=None, ge=0)
    temperature: float = Field(default=0.8, ge=0.0, le=10.0)
    logprobs: Optional[bool] = Field(default=False)
    top_logprobs: Optional[int] = Field(default=None, ge=0, le=20)
    chat_template_kwargs: Optional[Dict[str, Any]] = Field(default=None)
    reasoning_effort: Optional[str] = Field(default=None, description="Accepted; passed to the template.")


class CreateEmbeddingRequest(_Body):
    model: Optional[str] = Field(default=None)
    input: Union[str, List[str]] = Field(description="The text(s) to embed.")
    user: Optional[str] = Field(default=None)
    encoding_format: Optional[Literal["float", "base64"]] = Field(default="float")


class TokenizeInputRequest(_Body):
    model: Optional[str] = Field(default=None)
    input: str = Field(description="The text to tokenize.")


class TokenizeInputResponse(BaseModel):
    tokens: List[int]


class TokenizeInputCountResponse(BaseModel):
    count: int


class DetokenizeInputRequest(_Body):
    model: Optional[str] = Field(default=None)
    tokens: List[int] = Field(description="The token ids to turn back into text.")


class DetokenizeInputResponse(BaseModel):
    text: str


class ModelData(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "me"
    permissions: List[str] = Field(default_factory=list)


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: List[ModelData]
