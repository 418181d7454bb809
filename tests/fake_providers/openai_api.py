"""A fake OpenAI API: ``POST /v1/embeddings`` and ``POST /v1/chat/completions``, real wire format.

It exists so the agent can be tested through the real ``openai`` client and
``langchain_openai.ChatOpenAI`` without network access or a real model.

Embedding vectors are hashed bags of words, so texts sharing words are close: enough to test that
the catalog talks to the API correctly, not a language model.

Chat completions are *scripted*: a test queues replies with :meth:`FakeOpenAiApi.script`, each
chat request consumes the next one, and every request body is kept in ``chat_requests``. A reply
is assistant text (a ``str``), one :class:`ToolCall` or a sequence of them, a
:class:`RawToolCall` (arguments sent as given, e.g. broken JSON) or a :class:`Refusal`; a step
may also be a callable that gets the parsed request body and returns the reply, a :class:`Slow`
reply or an :class:`Outage`. Both plain responses and
``stream: true`` (server-sent ``chat.completion.chunk`` events, honouring
``stream_options.include_usage``) are served. An empty script answers 500 "script exhausted",
with ``x-should-retry: false`` so the client fails at once instead of retrying.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import math
import re
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

DIMENSIONS = 64


def bag_of_words(text: str) -> list[float]:
    vector = [0.0] * DIMENSIONS
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        vector[int(hashlib.sha256(word.encode()).hexdigest(), 16) % DIMENSIONS] += 1.0
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


@dataclass(frozen=True)
class ToolCall:
    """A tool call the fake model makes; ``arguments`` goes on the wire as a JSON string."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RawToolCall:
    """A tool call whose ``arguments`` go on the wire exactly as given: what a real model sends
    when it writes broken JSON."""

    name: str
    arguments: str


@dataclass(frozen=True)
class Refusal:
    """The model declines: ``content`` is null and ``refusal`` holds its words."""

    text: str = "I'm sorry, I can't help with that."


Reply: TypeAlias = str | ToolCall | RawToolCall | Refusal | Sequence[ToolCall | RawToolCall]
"""Assistant text, one or more tool calls, or a refusal."""


@dataclass(frozen=True)
class Slow:
    """A reply that takes ``seconds`` to come, like a CPU model or a busy endpoint."""

    seconds: float
    reply: Reply | Callable[[dict[str, Any]], Reply]


@dataclass(frozen=True)
class Outage:
    """An error answer instead of a reply: a 5xx, a 429, an overloaded endpoint. With
    ``retry=False`` the client is told not to retry it (``x-should-retry: false``)."""

    status: int = 503
    message: str = "The server is overloaded, please try again later."
    retry: bool = False


Step: TypeAlias = Reply | Callable[[dict[str, Any]], Reply] | Slow | Outage
"""A reply, a callable that builds one from the parsed chat request body, a slow reply, or an
outage."""


def _error(
    message: str, type_: str, code: str, status_code: int, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "type": type_, "param": None, "code": code}},
        status_code=status_code,
        headers=headers,
    )


def _count_tokens(value: Any) -> int:
    """A rough, deterministic stand-in for token counting: words in every string in ``value``."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, dict):
        return sum(_count_tokens(v) for v in value.values())
    if isinstance(value, list):
        return sum(_count_tokens(v) for v in value)
    return 0


def _pieces(text: str, count: int) -> list[str]:
    """``text`` cut into at most ``count`` non-empty consecutive pieces (one piece if short)."""
    if not text:
        return []
    size = max(1, math.ceil(len(text) / count))
    return [text[i : i + size] for i in range(0, len(text), size)]


@dataclass
class FakeOpenAiApi:
    api_key: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    """Embedding request bodies."""
    chat_requests: list[dict[str, Any]] = field(default_factory=list)
    """Chat completion request bodies, in arrival order (including ones that got an error)."""
    _steps: deque[Step] = field(default_factory=deque)
    _call_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _completion_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.app = Starlette(
            routes=[
                Route("/v1/embeddings", self._embeddings, methods=["POST"]),
                Route("/v1/chat/completions", self._chat_completions, methods=["POST"]),
            ]
        )

    def script(self, *steps: Step) -> None:
        """Queues replies for the next chat completion requests, one step per request."""
        self._steps.extend(steps)

    @property
    def pending_steps(self) -> int:
        """How many scripted steps have not been consumed yet."""
        return len(self._steps)

    def _unauthorized(self, request: Request) -> JSONResponse | None:
        if request.headers.get("authorization") == f"Bearer {self.api_key}":
            return None
        return _error("Incorrect API key provided", "invalid_request_error", "invalid_api_key", 401)

    async def _embeddings(self, request: Request) -> JSONResponse:
        if (refusal := self._unauthorized(request)) is not None:
            return refusal
        body = await request.json()
        self.requests.append(body)
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        return JSONResponse(
            {
                "object": "list",
                "data": [
                    {"object": "embedding", "index": i, "embedding": bag_of_words(text)}
                    for i, text in enumerate(inputs)
                ],
                "model": body["model"],
                "usage": {"prompt_tokens": len(inputs), "total_tokens": len(inputs)},
            }
        )

    async def _chat_completions(self, request: Request) -> Response:
        if (unauthorized := self._unauthorized(request)) is not None:
            return unauthorized
        body = await request.json()
        self.chat_requests.append(body)
        no_retry = {"x-should-retry": "false"}
        if not self._steps:
            return _error(
                f"FakeOpenAiApi: script exhausted; chat request #{len(self.chat_requests)} "
                "has no scripted reply (queue one with FakeOpenAiApi.script)",
                "server_error",
                "script_exhausted",
                500,
                no_retry,
            )
        step = self._steps.popleft()
        if isinstance(step, Outage):
            return _error(
                step.message,
                "server_error",
                "overloaded",
                step.status,
                None if step.retry else no_retry,
            )
        if isinstance(step, Slow):
            await asyncio.sleep(step.seconds)
            step = step.reply
        try:
            text, calls, refusal = self._resolve(step, body)
        except Exception:
            return _error(
                f"FakeOpenAiApi: scripted step failed:\n{traceback.format_exc()}",
                "server_error",
                "script_step_failed",
                500,
                no_retry,
            )
        wire_calls = [
            {
                "id": f"call_{next(self._call_ids)}",
                "type": "function",
                "function": {
                    "name": call.name,
                    "arguments": call.arguments
                    if isinstance(call, RawToolCall)
                    else json.dumps(call.arguments),
                },
            }
            for call in calls
        ]
        meta = {
            "id": f"chatcmpl-fake{next(self._completion_ids)}",
            "created": int(time.time()),
            "model": body.get("model", "gpt-fake"),
            "system_fingerprint": "fp_fake",
        }
        prompt_tokens = _count_tokens(body.get("messages", []))
        completion_tokens = _count_tokens(text or "") + sum(
            _count_tokens(c["function"]) for c in wire_calls
        )
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        finish_reason = "tool_calls" if wire_calls else "stop"
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            events = _chunks(
                meta, text, wire_calls, finish_reason, usage if include_usage else None, refusal
            )
            lines = [f"data: {json.dumps(event)}\n\n" for event in events]
            return StreamingResponse(
                iter([*lines, "data: [DONE]\n\n"]), media_type="text/event-stream"
            )
        message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": refusal}
        if wire_calls:
            message["tool_calls"] = wire_calls
        return JSONResponse(
            {
                **meta,
                "object": "chat.completion",
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "logprobs": None,
                        "finish_reason": finish_reason,
                    }
                ],
                "usage": usage,
            }
        )

    @staticmethod
    def _resolve(
        step: Reply | Callable[[dict[str, Any]], Reply], body: dict[str, Any]
    ) -> tuple[str | None, list[ToolCall | RawToolCall], str | None]:
        reply = step(body) if callable(step) else step
        if isinstance(reply, str):
            return reply, [], None
        if isinstance(reply, Refusal):
            return None, [], reply.text
        if isinstance(reply, ToolCall | RawToolCall):
            return None, [reply], None
        calls = list(reply)
        if not calls or not all(isinstance(call, ToolCall | RawToolCall) for call in calls):
            raise TypeError(f"a scripted reply must be str, ToolCall or ToolCalls, got {reply!r}")
        return None, calls, None


def _chunks(
    meta: dict[str, Any],
    text: str | None,
    calls: list[dict[str, Any]],
    finish_reason: str,
    usage: dict[str, int] | None,
    refusal: str | None = None,
) -> Iterator[dict[str, Any]]:
    """The ``chat.completion.chunk`` events of one streamed reply (without ``[DONE]``)."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        event = {
            **meta,
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if usage is not None:
            event["usage"] = None
        return event

    if calls:
        for index, call in enumerate(calls):
            function = call["function"]
            opening = {
                "index": index,
                "id": call["id"],
                "type": "function",
                "function": {"name": function["name"], "arguments": ""},
            }
            # Like OpenAI, the first delta also carries the role.
            first = {"role": "assistant", "content": None, "refusal": None} if index == 0 else {}
            yield chunk({**first, "tool_calls": [opening]})
            for fragment in _pieces(function["arguments"], 3):
                yield chunk({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]})
    elif refusal is not None:
        yield chunk({"role": "assistant", "content": None, "refusal": ""})
        for piece in _pieces(refusal, 3):
            yield chunk({"refusal": piece})
    else:
        yield chunk({"role": "assistant", "content": "", "refusal": None})
        for piece in _pieces(text or "", 3):
            yield chunk({"content": piece})
    yield chunk({}, finish_reason)
    if usage is not None:
        yield {**meta, "object": "chat.completion.chunk", "choices": [], "usage": usage}
