"""Server-sent events framing for the web chat stream.

Each entry is an event with the entry's number as its id, so a browser's ``EventSource`` sends it
back as ``Last-Event-ID`` when it reconnects and the stream resumes after it. The typing state is
an event without an id, which leaves that resume point alone.
"""

from __future__ import annotations

import orjson

from channels.webchat.wire import ChatEntry

HEARTBEAT = b": keep-alive\n\n"


def retry(milliseconds: int) -> bytes:
    """How long the browser waits before reconnecting a dropped stream."""
    return f"retry: {milliseconds}\n\n".encode()


def entry_event(entry: ChatEntry) -> bytes:
    data = entry.model_dump_json(by_alias=True)
    return f"id: {entry.seq}\nevent: message\ndata: {data}\n\n".encode()


def typing_event(typing: bool) -> bytes:
    return b"event: typing\ndata: " + orjson.dumps({"typing": typing}) + b"\n\n"
