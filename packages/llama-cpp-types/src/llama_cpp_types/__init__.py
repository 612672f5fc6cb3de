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
    """Tokens in the prompt (or the inputs)."""
    total_tokens: int
    """Prompt and generated tokens together."""


class Embedding(TypedDict):
    """One input's embedding: its position in the request and its vector (one vector per token when pooling is off)."""

    index: int
    """The position of the input in the request."""
    object: str
    """Always `"embedding"`."""
    embedding: Union[List[float], List[List[float]]]
    """The vector (a list of vectors, one per token, when pooling is off)."""


class CreateEmbeddingResponse(TypedDict):
    """What `Llama.create_embedding` returns: one `Embedding` per input, in input order."""

    object: Literal["list"]
    """Always `"list"`."""
    model: str
    """The model that answered (its path or alias)."""
    data: List[Embedding]
    """One entry per input, in input order."""
    usage: EmbeddingUsage
    """Token counts."""


# ------------------------------------------------------------ text completion


class CompletionLogprobs(TypedDict):
    """Per-token log probabilities of a completion (`logprobs=N`): the tokens, their log probabilities, the `N` best alternatives at each step, and each token's offset in the text."""

    text_offset: List[int]
    """Where each token starts in the text (in characters)."""
    token_logprobs: List[Optional[float]]
    """The log probability of each token (`None` for the first prompt token with `echo`)."""
    tokens: List[str]
    """The text of each token."""
    top_logprobs: List[Optional[Dict[str, float]]]
    """For each token, the most likely tokens at that step and their log probabilities."""


class CompletionChoice(TypedDict):
    """One completion: its text, its index, its log probabilities when asked for, and why it ended (`"stop"` or `"length"`)."""

    text: str
    """The generated text (with `echo=True`, the prompt before it)."""
    index: int
    """The position of this choice."""
    logprobs: Optional[CompletionLogprobs]
    """Log probabilities, when `logprobs` was given; else `None`."""
    finish_reason: Optional[Literal["stop", "length"]]
    """`"stop"` (end of text, a stop string or a stopping criterion), `"length"` (`max_tokens` or the context), or `None` in streamed chunks before the last."""


class CompletionUsage(TypedDict):
    """Token counts of a request: prompt, completion and their total."""

    prompt_tokens: int
    """Tokens in the prompt (or the inputs)."""
    completion_tokens: int
    """Tokens generated."""
    total_tokens: int
    """Prompt and generated tokens together."""


class CreateCompletionResponse(TypedDict):
    """What `Llama.create_completion` returns; with `stream=True` each chunk has this shape too (without `usage`)."""

    id: str
    """A unique id of the completion; every chunk of a stream has the same one."""
    object: Literal["text_completion"]
    """Always `"text_completion"`."""
    created: int
    """When the response was made, in Unix seconds."""
    model: str
    """The model that answered (its path or alias)."""
    choices: List[CompletionChoice]
    """The completions (one unless `n` asks for more)."""
    usage: NotRequired[CompletionUsage]
    """Token counts (not in streamed chunks)."""


# ----------------------------------------------------------- chat: tool calls


class ChatCompletionMessageToolCallFunction(TypedDict):
    """The function a tool call names, and its arguments as JSON text."""

    name: str
    """The function's name."""
    arguments: str
    """The arguments, as JSON text (in a streamed piece: the next part of that text)."""


class ChatCompletionMessageToolCall(TypedDict):
    """One tool call of an assistant message: its id, type `"function"` and function."""

    id: str
    """The call's id; a tool message answers it with `tool_call_id`."""
    type: Literal["function"]
    """Always `"function"`."""
    function: ChatCompletionMessageToolCallFunction
    """The function called and its arguments."""


ChatCompletionMessageToolCalls = List[ChatCompletionMessageToolCall]
"""The tool calls of an assistant message."""

# ------------------------------------------------------------- chat responses


class ChatCompletionResponseFunctionCall(TypedDict):
    """The legacy single function call of an assistant message (`function_call`)."""

    name: str
    """The function's name."""
    arguments: str
    """The arguments, as JSON text (in a streamed piece: the next part of that text)."""


class ChatCompletionResponseMessage(TypedDict):
    """The assistant message of a chat completion: its content, and tool calls when the model made any."""

    content: Optional[str]
    """The reply's text; `None` (or the text before them) when the reply is tool calls."""
    tool_calls: NotRequired[ChatCompletionMessageToolCalls]
    """The calls the model made, if any."""
    role: Literal["assistant", "function"]
    """Always `"assistant"`."""
    function_call: NotRequired[ChatCompletionResponseFunctionCall]
    """The legacy form of a single tool call."""


class ChatCompletionFunction(TypedDict):
    """A function description (name, description, JSON Schema of the parameters)."""

    name: str
    """The function's name."""
    description: NotRequired[str]
    """What the function does, for the model."""
    parameters: Dict[str, JsonType]
    """A JSON Schema of the function's arguments."""


class ChatCompletionTopLogprobToken(TypedDict):
    """One likely token at a step: its text, log probability and bytes."""

    token: str
    """The token's text."""
    logprob: float
    """The token's log probability."""
    bytes: Optional[List[int]]
    """The token's UTF-8 bytes, or `None`."""


class ChatCompletionLogprobToken(ChatCompletionTopLogprobToken):
    """A generated token with its log probability and the most likely alternatives at that step."""

    token: str
    """The token's text."""
    logprob: float
    """The token's log probability."""
    bytes: Optional[List[int]]
    """The token's UTF-8 bytes, or `None`."""
    top_logprobs: List[ChatCompletionTopLogprobToken]
    """The most likely tokens at that step, best first (`top_logprobs` of them)."""


class ChatCompletionLogprobs(TypedDict):
    """Log probabilities of a chat reply (`logprobs=True`): one entry per generated token."""

    content: Optional[List[ChatCompletionLogprobToken]]
    """One entry per generated token."""
    refusal: Optional[List[ChatCompletionLogprobToken]]
    """Log probabilities of a refusal; always `None` here."""


class ChatCompletionResponseChoice(TypedDict):
    """One chat reply: its index, message, log probabilities and finish reason (`"stop"`, `"length"` or `"tool_calls"`)."""

    index: int
    """The position of this reply."""
    message: ChatCompletionResponseMessage
    """The assistant's message."""
    logprobs: Optional[ChatCompletionLogprobs]
    """Log probabilities, with `logprobs=True`; else `None`."""
    finish_reason: Optional[str]
    """`"stop"`, `"length"` or `"tool_calls"`."""


class CreateChatCompletionResponse(TypedDict):
    """What `Llama.create_chat_completion` returns without `stream=True`."""

    id: str
    """A unique id of the completion."""
    object: Literal["chat.completion"]
    """Always `"chat.completion"`."""
    created: int
    """When the response was made, in Unix seconds."""
    model: str
    """The model that answered (its path or alias)."""
    choices: List[ChatCompletionResponseChoice]
    """The replies (one unless `n` asks for more)."""
    usage: CompletionUsage
    """Token counts."""


# ------------------------------------------------------------ chat streaming


class ChatCompletionMessageToolCallChunkFunction(TypedDict):
    """The piece of a tool call's function in a streamed delta: the name in the first delta, argument text after."""

    name: Optional[str]
    """The function's name, in the call's first piece; `None` after."""
    arguments: str
    """The arguments, as JSON text (in a streamed piece: the next part of that text)."""


class ChatCompletionMessageToolCallChunk(TypedDict):
    """A piece of a tool call in a streamed delta; concatenating the pieces of one `index` rebuilds the call."""

    index: int
    """Which call this piece belongs to."""
    id: NotRequired[str]
    """The call's id, in its first piece."""
    type: Literal["function"]
    """Always `"function"`."""
    function: ChatCompletionMessageToolCallChunkFunction
    """The piece of the function name and arguments."""


class ChatCompletionStreamResponseDeltaEmpty(TypedDict):
    """The empty delta of a stream's last chunk."""

    pass


class ChatCompletionStreamResponseDeltaFunctionCall(TypedDict):
    """A piece of the legacy `function_call` in a streamed delta."""

    name: str
    """The function's name."""
    arguments: str
    """The arguments, as JSON text (in a streamed piece: the next part of that text)."""


class ChatCompletionStreamResponseDelta(TypedDict):
    """What a streamed chunk adds to the reply: the role (first chunk), content text or tool-call pieces."""

    content: NotRequired[Optional[str]]
    """The next piece of the reply's text."""
    function_call: NotRequired[Optional[ChatCompletionStreamResponseDeltaFunctionCall]]
    """A piece of the legacy single function call."""
    tool_calls: NotRequired[Optional[List[ChatCompletionMessageToolCallChunk]]]
    """Pieces of tool calls."""
    role: NotRequired[Optional[Literal["system", "user", "assistant", "tool"]]]
    """`"assistant"`, in the first chunk."""


class ChatCompletionStreamResponseChoice(TypedDict):
    """One choice of a streamed chunk: its delta, and the finish reason in the last chunk."""

    index: int
    """The position of the choice this chunk continues."""
    delta: Union[ChatCompletionStreamResponseDelta, ChatCompletionStreamResponseDeltaEmpty]
    """What this chunk adds to the reply (empty in the last chunk)."""
    finish_reason: Optional[Literal["stop", "length", "tool_calls", "function_call"]]
    """Why the reply ended, in the last chunk; `None` before."""
    logprobs: NotRequired[Optional[ChatCompletionLogprobs]]
    """Log probabilities of this chunk's tokens, with `logprobs=True`."""


class CreateChatCompletionStreamResponse(TypedDict):
    """One chunk of `Llama.create_chat_completion(..., stream=True)`."""

    id: str
    """The completion's id, the same in every chunk."""
    model: str
    """The model that answered (its path or alias)."""
    object: Literal["chat.completion.chunk"]
    """Always `"chat.completion.chunk"`."""
    created: int
    """When the response was made, in Unix seconds."""
    choices: List[ChatCompletionStreamResponseChoice]
    """The choices this chunk continues."""


# ------------------------------------------------------------------ requests


class ChatCompletionFunctions(TypedDict):
    """A legacy `functions=` entry: a function's name, description and parameter schema."""

    name: str
    """The function's name."""
    description: NotRequired[str]
    """What the function does, for the model."""
    parameters: Dict[str, JsonType]
    """A JSON Schema of the function's arguments."""


class ChatCompletionFunctionCallOption(TypedDict):
    """A legacy `function_call=` naming the function to call."""

    name: str
    """The function to call."""


class ChatCompletionRequestResponseFormat(TypedDict):
    """The `response_format` of a chat request: `"text"`, `"json_object"` (optionally with a `schema`) or `"json_schema"`."""

    type: Literal["text", "json_object"]
    """`"text"` (no constraint) or `"json_object"` (`"json_schema"` is accepted too)."""
    schema: NotRequired[JsonType]
    """A JSON Schema the reply must validate against (`"json_object"` only)."""


class ChatCompletionRequestMessageContentPartText(TypedDict):
    """A text part of a message's content."""

    type: Literal["text"]
    """Always `"text"`."""
    text: str
    """The text."""


class ChatCompletionRequestMessageContentPartImageImageUrl(TypedDict):
    """The image of an image part: a URL (`data:`, `file://`, `http(s)://` or a path) and an optional detail level."""

    url: str
    """A `data:`, `file://` or `http(s)://` URL, or a local path."""
    detail: NotRequired[Literal["auto", "low", "high"]]
    """The detail level asked for (`"auto"`, `"low"`, `"high"`)."""


class ChatCompletionRequestMessageContentPartImage(TypedDict):
    """An image part of a user message's content (for vision chat handlers)."""

    type: Literal["image_url"]
    """Always `"image_url"`."""
    image_url: Union[str, ChatCompletionRequestMessageContentPartImageImageUrl]
    """The image: a URL string, or a dict with the URL."""


ChatCompletionRequestMessageContentPart = Union[
    ChatCompletionRequestMessageContentPartText,
    ChatCompletionRequestMessageContentPartImage,
]
"""A part of a message's content: text or image."""


class ChatCompletionRequestSystemMessage(TypedDict):
    """A system message (instructions for the model)."""

    role: Literal["system"]
    """Always `"system"`."""
    content: Optional[str]
    """The instructions."""


class ChatCompletionRequestUserMessage(TypedDict):
    """A user message: text, or a list of text and image parts."""

    role: Literal["user"]
    """Always `"user"`."""
    content: Optional[Union[str, List[ChatCompletionRequestMessageContentPart]]]
    """Text, or a list of text and image parts."""


class ChatCompletionRequestAssistantMessageFunctionCall(TypedDict):
    """The legacy function call of an assistant message in the history."""

    name: str
    """The function's name."""
    arguments: str
    """The arguments, as JSON text (in a streamed piece: the next part of that text)."""


class ChatCompletionRequestAssistantMessage(TypedDict):
    """An assistant message in the history, possibly with the tool calls it made."""

    role: Literal["assistant"]
    """Always `"assistant"`."""
    content: NotRequired[str]
    """What the assistant said."""
    tool_calls: NotRequired[ChatCompletionMessageToolCalls]
    """The calls it made."""
    function_call: NotRequired[ChatCompletionRequestAssistantMessageFunctionCall]
    """A legacy single function call it made."""


class ChatCompletionRequestToolMessage(TypedDict):
    """The result of a tool call, answering the call with `tool_call_id`."""

    role: Literal["tool"]
    """Always `"tool"`."""
    content: Optional[str]
    """The tool's result (often JSON text)."""
    tool_call_id: str
    """The `id` of the tool call this answers."""


class ChatCompletionRequestFunctionMessage(TypedDict):
    """The result of a legacy function call."""

    role: Literal["function"]
    """Always `"function"`."""
    content: Optional[str]
    """The function's result."""
    name: str
    """The function that produced it."""


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
    """The function to call."""


ChatCompletionRequestFunctionCall = Union[Literal["none", "auto"], ChatCompletionRequestFunctionCallOption]
"""A legacy `function_call=`: `"none"`, `"auto"` or a named function."""

ChatCompletionFunctionParameters = Dict[str, JsonType]
"""A JSON Schema of function parameters."""


class ChatCompletionToolFunction(TypedDict):
    """The function of a tool: name, description and JSON Schema of its parameters."""

    name: str
    """The function's name, as the model must write it."""
    description: NotRequired[str]
    """What the function does, for the model."""
    parameters: ChatCompletionFunctionParameters
    """A JSON Schema of the function's arguments."""


class ChatCompletionTool(TypedDict):
    """A tool the model may call (`tools=`): type `"function"` and the function."""

    type: Literal["function"]
    """Always `"function"`."""
    function: ChatCompletionToolFunction
    """The function the model may call."""


class ChatCompletionNamedToolChoiceFunction(TypedDict):
    """The name of the function a named tool choice forces."""

    name: str
    """The function to call."""


class ChatCompletionNamedToolChoice(TypedDict):
    """A `tool_choice` that forces exactly one call of the named function."""

    type: Literal["function"]
    """Always `"function"`."""
    function: ChatCompletionNamedToolChoiceFunction
    """Names the function to call."""


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
