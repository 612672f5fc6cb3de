"""Request and response shapes of the llama-cpp API as TypedDicts.

Everything here is a plain ``dict`` at run time; the classes exist for type
checkers. The names, keys and optionality follow the OpenAI-style API that
``llama-cpp-python`` exposes, so annotations written against
``llama_cpp.llama_types`` keep working. This module imports nothing but
``typing`` and ``typing_extensions``.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Union

from typing_extensions import Literal, NotRequired, TypedDict

__version__ = "0.4.0"

JsonType = Union[None, int, str, bool, List[Any], Dict[str, Any]]
"""Any JSON value."""

# ----------------------------------------------------------------- embeddings


class EmbeddingUsage(TypedDict):
    """Token counts of an embedding request."""

    prompt_tokens: int
    total_tokens: int


class Embedding(TypedDict):
    """One input's embedding: its position in the request and its vector (one vector per token when pooling is off)."""

    index: int
    object: str
    embedding: Union[List[float], List[List[float]]]


class CreateEmbeddingResponse(TypedDict):
    """What `Llama.create_embedding` returns: one `Embedding` per input, in input order."""

    object: Literal["list"]
    model: str
    data: List[Embedding]
    usage: EmbeddingUsage


# ------------------------------------------------------------ text completion


class CompletionLogprobs(TypedDict):
    """Per-token log probabilities of a completion (`logprobs=N`): the tokens, their log probabilities, the `N` best alternatives at each step, and each token's offset in the text."""

    text_offset: List[int]
    token_logprobs: List[Optional[float]]
    tokens: List[str]
    top_logprobs: List[Optional[Dict[str, float]]]


class CompletionChoice(TypedDict):
    """One completion: its text, its index, its log probabilities when asked for, and why it ended (`"stop"` or `"length"`)."""

    text: str
    index: int
    logprobs: Optional[CompletionLogprobs]
    finish_reason: Optional[Literal["stop", "length"]]


class CompletionUsage(TypedDict):
    """Token counts of a request: prompt, completion and their total."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class CreateCompletionResponse(TypedDict):
    """What `Llama.create_completion` returns; with `stream=True` each chunk has this shape too (without `usage`)."""

    id: str
    object: Literal["text_completion"]
    created: int
    model: str
    choices: List[CompletionChoice]
    usage: NotRequired[CompletionUsage]


# ----------------------------------------------------------- chat: tool calls


class ChatCompletionMessageToolCallFunction(TypedDict):
    """The function a tool call names, and its arguments as JSON text."""

    name: str
    arguments: str


class ChatCompletionMessageToolCall(TypedDict):
    """One tool call of an assistant message: its id, type `"function"` and function."""

    id: str
    type: Literal["function"]
    function: ChatCompletionMessageToolCallFunction


ChatCompletionMessageToolCalls = List[ChatCompletionMessageToolCall]
"""The tool calls of an assistant message."""

# ------------------------------------------------------------- chat responses


class ChatCompletionResponseFunctionCall(TypedDict):
    """The legacy single function call of an assistant message (`function_call`)."""

    name: str
    arguments: str


class ChatCompletionResponseMessage(TypedDict):
    """The assistant message of a chat completion: its content, and tool calls when the model made any."""

    content: Optional[str]
    tool_calls: NotRequired[ChatCompletionMessageToolCalls]
    role: Literal["assistant", "function"]
    function_call: NotRequired[ChatCompletionResponseFunctionCall]


class ChatCompletionFunction(TypedDict):
    """A function description (name, description, JSON Schema of the parameters)."""

    name: str
    description: NotRequired[str]
    parameters: Dict[str, JsonType]


class ChatCompletionTopLogprobToken(TypedDict):
    """One likely token at a step: its text, log probability and bytes."""

    token: str
    logprob: float
    bytes: Optional[List[int]]


class ChatCompletionLogprobToken(ChatCompletionTopLogprobToken):
    """A generated token with its log probability and the most likely alternatives at that step."""

    token: str
    logprob: float
    bytes: Optional[List[int]]
    top_logprobs: List[ChatCompletionTopLogprobToken]


class ChatCompletionLogprobs(TypedDict):
    """Log probabilities of a chat reply (`logprobs=True`): one entry per generated token."""

    content: Optional[List[ChatCompletionLogprobToken]]
    refusal: Optional[List[ChatCompletionLogprobToken]]


class ChatCompletionResponseChoice(TypedDict):
    """One chat reply: its index, message, log probabilities and finish reason (`"stop"`, `"length"` or `"tool_calls"`)."""

    index: int
    message: ChatCompletionResponseMessage
    logprobs: Optional[ChatCompletionLogprobs]
    finish_reason: Optional[str]


class CreateChatCompletionResponse(TypedDict):
    """What `Llama.create_chat_completion` returns without `stream=True`."""

    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: List[ChatCompletionResponseChoice]
    usage: CompletionUsage


# ------------------------------------------------------------ chat streaming


class ChatCompletionMessageToolCallChunkFunction(TypedDict):
    """The piece of a tool call's function in a streamed delta: the name in the first delta, argument text after."""

    name: Optional[str]
    arguments: str


class ChatCompletionMessageToolCallChunk(TypedDict):
    """A piece of a tool call in a streamed delta; concatenating the pieces of one `index` rebuilds the call."""

    index: int
    id: NotRequired[str]
    type: Literal["function"]
    function: ChatCompletionMessageToolCallChunkFunction


class ChatCompletionStreamResponseDeltaEmpty(TypedDict):
    """The empty delta of a stream's last chunk."""

    pass


class ChatCompletionStreamResponseDeltaFunctionCall(TypedDict):
    """A piece of the legacy `function_call` in a streamed delta."""

    name: str
    arguments: str


class ChatCompletionStreamResponseDelta(TypedDict):
    """What a streamed chunk adds to the reply: the role (first chunk), content text or tool-call pieces."""

    content: NotRequired[Optional[str]]
    function_call: NotRequired[Optional[ChatCompletionStreamResponseDeltaFunctionCall]]
    tool_calls: NotRequired[Optional[List[ChatCompletionMessageToolCallChunk]]]
    role: NotRequired[Optional[Literal["system", "user", "assistant", "tool"]]]


class ChatCompletionStreamResponseChoice(TypedDict):
    """One choice of a streamed chunk: its delta, and the finish reason in the last chunk."""

    index: int
    delta: Union[ChatCompletionStreamResponseDelta, ChatCompletionStreamResponseDeltaEmpty]
    finish_reason: Optional[Literal["stop", "length", "tool_calls", "function_call"]]
    logprobs: NotRequired[Optional[ChatCompletionLogprobs]]


class CreateChatCompletionStreamResponse(TypedDict):
    """One chunk of `Llama.create_chat_completion(..., stream=True)`."""

    id: str
    model: str
    object: Literal["chat.completion.chunk"]
    created: int
    choices: List[ChatCompletionStreamResponseChoice]


# ------------------------------------------------------------------ requests


class ChatCompletionFunctions(TypedDict):
    """A legacy `functions=` entry: a function's name, description and parameter schema."""

    name: str
    description: NotRequired[str]
    parameters: Dict[str, JsonType]


class ChatCompletionFunctionCallOption(TypedDict):
    """A legacy `function_call=` naming the function to call."""

    name: str


class ChatCompletionRequestResponseFormat(TypedDict):
    """The `response_format` of a chat request: `"text"`, `"json_object"` (optionally with a `schema`) or `"json_schema"`."""

    type: Literal["text", "json_object"]
    schema: NotRequired[JsonType]


class ChatCompletionRequestMessageContentPartText(TypedDict):
    """A text part of a message's content."""

    type: Literal["text"]
    text: str


class ChatCompletionRequestMessageContentPartImageImageUrl(TypedDict):
    """The image of an image part: a URL (`data:`, `file://`, `http(s)://` or a path) and an optional detail level."""

    url: str
    detail: NotRequired[Literal["auto", "low", "high"]]


class ChatCompletionRequestMessageContentPartImage(TypedDict):
    """An image part of a user message's content (for vision chat handlers)."""

    type: Literal["image_url"]
    image_url: Union[str, ChatCompletionRequestMessageContentPartImageImageUrl]


ChatCompletionRequestMessageContentPart = Union[
    ChatCompletionRequestMessageContentPartText,
    ChatCompletionRequestMessageContentPartImage,
]
"""A part of a message's content: text or image."""


class ChatCompletionRequestSystemMessage(TypedDict):
    """A system message (instructions for the model)."""

    role: Literal["system"]
    content: Optional[str]


class ChatCompletionRequestUserMessage(TypedDict):
    """A user message: text, or a list of text and image parts."""

    role: Literal["user"]
    content: Optional[Union[str, List[ChatCompletionRequestMessageContentPart]]]


class ChatCompletionRequestAssistantMessageFunctionCall(TypedDict):
    """The legacy function call of an assistant message in the history."""

    name: str
    arguments: str


class ChatCompletionRequestAssistantMessage(TypedDict):
    """An assistant message in the history, possibly with the tool calls it made."""

    role: Literal["assistant"]
    content: NotRequired[str]
    tool_calls: NotRequired[ChatCompletionMessageToolCalls]
    function_call: NotRequired[ChatCompletionRequestAssistantMessageFunctionCall]


class ChatCompletionRequestToolMessage(TypedDict):
    """The result of a tool call, answering the call with `tool_call_id`."""

    role: Literal["tool"]
    content: Optional[str]
    tool_call_id: str


class ChatCompletionRequestFunctionMessage(TypedDict):
    """The result of a legacy function call."""

    role: Literal["function"]
    content: Optional[str]
    name: str


ChatCompletionRequestMessage = Union[
    ChatCompletionRequestSystemMessage,
    ChatCompletionRequestUserMessage,
    ChatCompletionRequestAssistantMessage,
    ChatCompletionRequestToolMessage,
    ChatCompletionRequestFunctionMessage,
]
"""Any message of a chat request."""


class ChatCompletionRequestFunctionCallOption(TypedDict):
    """A legacy `function_call=` naming the function to call."""

    name: str


ChatCompletionRequestFunctionCall = Union[Literal["none", "auto"], ChatCompletionRequestFunctionCallOption]
"""A legacy `function_call=`: `"none"`, `"auto"` or a named function."""

ChatCompletionFunctionParameters = Dict[str, JsonType]
"""A JSON Schema of function parameters."""


class ChatCompletionToolFunction(TypedDict):
    """The function of a tool: name, description and JSON Schema of its parameters."""

    name: str
    description: NotRequired[str]
    parameters: ChatCompletionFunctionParameters


class ChatCompletionTool(TypedDict):
    """A tool the model may call (`tools=`): type `"function"` and the function."""

    type: Literal["function"]
    function: ChatCompletionToolFunction


class ChatCompletionNamedToolChoiceFunction(TypedDict):
    """The name of the function a named tool choice forces."""

    name: str


class ChatCompletionNamedToolChoice(TypedDict):
    """A `tool_choice` that forces exactly one call of the named function."""

    type: Literal["function"]
    function: ChatCompletionNamedToolChoiceFunction


ChatCompletionToolChoiceOption = Union[Literal["none", "auto", "required"], ChatCompletionNamedToolChoice]
"""A `tool_choice=`: `"none"`, `"auto"`, `"required"` or a named tool."""

# ------------------------------------------------------------- legacy aliases

EmbeddingData = Embedding
CompletionChunk = CreateCompletionResponse
Completion = CreateCompletionResponse
CreateCompletionStreamResponse = CreateCompletionResponse
ChatCompletionMessage = ChatCompletionResponseMessage
ChatCompletionChoice = ChatCompletionResponseChoice
ChatCompletion = CreateChatCompletionResponse
ChatCompletionChunkDeltaEmpty = ChatCompletionStreamResponseDeltaEmpty
ChatCompletionChunkChoice = ChatCompletionStreamResponseChoice
ChatCompletionChunkDelta = ChatCompletionStreamResponseDelta
ChatCompletionChunk = CreateChatCompletionStreamResponse
ChatCompletionStreamResponse = CreateChatCompletionStreamResponse
ChatCompletionResponseFunction = ChatCompletionFunction
ChatCompletionFunctionCall = ChatCompletionResponseFunctionCall

__all__ = [
    # re-exported typing names, as the reference module offers them
    "Any", "List", "Optional", "Dict", "Union", "TypedDict", "NotRequired", "Literal",
    "JsonType",
    "EmbeddingUsage", "Embedding", "CreateEmbeddingResponse",
    "CompletionLogprobs", "CompletionChoice", "CompletionUsage", "CreateCompletionResponse",
    "ChatCompletionMessageToolCallFunction", "ChatCompletionMessageToolCall", "ChatCompletionMessageToolCalls",
    "ChatCompletionResponseFunctionCall", "ChatCompletionResponseMessage", "ChatCompletionFunction",
    "ChatCompletionTopLogprobToken", "ChatCompletionLogprobToken", "ChatCompletionLogprobs",
    "ChatCompletionResponseChoice", "CreateChatCompletionResponse",
    "ChatCompletionMessageToolCallChunkFunction", "ChatCompletionMessageToolCallChunk",
    "ChatCompletionStreamResponseDeltaEmpty", "ChatCompletionStreamResponseDeltaFunctionCall",
    "ChatCompletionStreamResponseDelta", "ChatCompletionStreamResponseChoice", "CreateChatCompletionStreamResponse",
    "ChatCompletionFunctions", "ChatCompletionFunctionCallOption", "ChatCompletionRequestResponseFormat",
    "ChatCompletionRequestMessageContentPartText", "ChatCompletionRequestMessageContentPartImageImageUrl",
    "ChatCompletionRequestMessageContentPartImage", "ChatCompletionRequestMessageContentPart",
    "ChatCompletionRequestSystemMessage", "ChatCompletionRequestUserMessage",
    "ChatCompletionRequestAssistantMessageFunctionCall", "ChatCompletionRequestAssistantMessage",
    "ChatCompletionRequestToolMessage", "ChatCompletionRequestFunctionMessage", "ChatCompletionRequestMessage",
    "ChatCompletionRequestFunctionCallOption", "ChatCompletionRequestFunctionCall",
    "ChatCompletionFunctionParameters", "ChatCompletionToolFunction", "ChatCompletionTool",
    "ChatCompletionNamedToolChoiceFunction", "ChatCompletionNamedToolChoice", "ChatCompletionToolChoiceOption",
    "EmbeddingData", "CompletionChunk", "Completion", "CreateCompletionStreamResponse",
    "ChatCompletionMessage", "ChatCompletionChoice", "ChatCompletion", "ChatCompletionChunkDeltaEmpty",
    "ChatCompletionChunkChoice", "ChatCompletionChunkDelta", "ChatCompletionChunk", "ChatCompletionStreamResponse",
    "ChatCompletionResponseFunction", "ChatCompletionFunctionCall",
]
