"""A stand-in for an OpenAI chat model, as its own process, for bench/agent_turns.py (answering
at once) and bench/turn_crash.py (answering slowly, like a CPU model).

Run: `python -m bench._stub_openai PORT [DELAY]`. It answers ``POST /v1/chat/completions``
after DELAY seconds (0 by default), in the real (non-streaming) wire format, so a turn costs
what the app itself spends around the model (plus DELAY per call): the shopper's message gets
one ``search_products`` call with their words, and the tool result gets a short text answer.
Every turn is thus two model calls and one catalog search.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ANSWER = "Here you go."
_ids = itertools.count(1)


def reply_to(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The assistant message: a search for the shopper's words, or text after a tool result."""
    last = messages[-1] if messages else {}
    if last.get("role") != "user":
        return {"role": "assistant", "content": ANSWER, "refusal": None}
    call = {
        "id": f"call_{next(_ids)}",
        "type": "function",
        "function": {
            "name": "search_products",
            "arguments": json.dumps({"text": _text(last.get("content"))}),
        },
    }
    return {"role": "assistant", "content": None, "refusal": None, "tool_calls": [call]}


def _text(content: Any) -> str:
    """A user message's content is a string or a list of typed parts."""
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return str(content or "")


DELAY_SECONDS = 0.0  # set from the command line: a slow model


async def chat_completions(request: Request) -> Response:
    body = await request.json()
    if DELAY_SECONDS:
        await asyncio.sleep(DELAY_SECONDS)
    if body.get("stream"):
        return JSONResponse({"error": {"message": "the stub does not stream"}}, status_code=400)
    message = reply_to(body.get("messages", []))
    return JSONResponse(
        {
            "id": f"chatcmpl-stub{next(_ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "stub"),
            "system_fingerprint": "fp_stub",
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": "tool_calls" if "tool_calls" in message else "stop",
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
    )


async def health(_: Request) -> Response:
    return Response("ok")


app = Starlette(
    routes=[
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/health", health),
    ]
)


def main() -> None:
    global DELAY_SECONDS
    DELAY_SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    uvicorn.run(app, port=int(sys.argv[1]), log_level="warning", access_log=False, lifespan="off")


if __name__ == "__main__":
    main()
