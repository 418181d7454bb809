"""``POST /v1/events``: the shop's behavioural events, one or a batch, into the profile store."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import JSONResponse

from app.database_busy import DATABASE_BUSY_RESPONSE
from app.deps import ContainerDep, WriteKey
from profile_store.ingest import EventBatchRejectedError, validate_events
from profile_store.schemas import EventError, IngestResult

router = APIRouter(prefix="/v1", tags=["events"])

_BODY_SCHEMA = {
    "oneOf": [
        {"$ref": "#/components/schemas/EventIn"},
        {
            "type": "object",
            "properties": {
                "batch": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/EventIn"},
                    "maxItems": 1000,
                }
            },
            "required": ["batch"],
        },
    ]
}


def _unwrap(payload: Any, limit: int) -> list[Any]:
    if isinstance(payload, dict) and "batch" in payload:
        batch = payload["batch"]
        if not isinstance(batch, list) or not batch:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, "'batch' must be a non-empty list of events"
            )
        if len(batch) > limit:
            raise HTTPException(
                status.HTTP_413_CONTENT_TOO_LARGE,
                f"batch has {len(batch)} events; the limit is {limit}: split it",
            )
        return batch
    if isinstance(payload, dict):
        return [payload]
    raise HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        'body must be one event object or {"batch": [event, ...]}',
    )


@router.post(
    "/events",
    summary="Ingest one event or a batch of up to 1,000",
    response_model=IngestResult,
    dependencies=[WriteKey],
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": _BODY_SCHEMA}}}
    },
    responses={
        422: {"description": "Each bad event by index and field; nothing from the batch stored"},
        401: {"description": "Missing or wrong write key"},
        503: DATABASE_BUSY_RESPONSE,
    },
)
async def post_events(request: Request, container: ContainerDep) -> Any:
    try:
        payload = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "body is not valid JSON") from None
    raw_events = _unwrap(payload, container.settings.max_batch_size)
    try:
        events = validate_events(raw_events, default_region=container.settings.default_phone_region)
        return await container.event_writer.submit(events)
    except EventBatchRejectedError as exc:
        return _rejected(exc.errors)


def _rejected(errors: list[EventError]) -> JSONResponse:
    return JSONResponse(
        {
            "detail": f"{len(errors)} invalid field(s); no event of this request was stored",
            "errors": [e.model_dump() for e in errors],
        },
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
    )
