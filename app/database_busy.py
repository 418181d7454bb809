"""A database that stays locked answers 503 with ``Retry-After``, never a 500.

Writers wait for SQLite's lock and then retry their unit of work
(:func:`profile_store.database.run_transaction`); when even that is not enough, the request's
write was rolled back and nothing was acknowledged. Telegram retries an update that was not
answered 2xx, and so should the shop's event sender; Twilio retries as the webhook URL's
connection overrides say (``#rc=…&rp=…``). The retry is deduplicated like any other.
"""

from __future__ import annotations

import math
from typing import Any

import structlog
from fastapi import FastAPI, Request, Response, status
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError

from profile_store.write_lock import is_busy

log = structlog.get_logger(__name__)
DETAIL = (
    "the database is busy: another writer held its lock for longer than this request may "
    "wait, so nothing of this request was saved; send it again after Retry-After seconds"
)
DATABASE_BUSY_RESPONSE: dict[str, Any] = {
    "description": "The database stayed locked (SQLite under load); nothing was saved: retry",
    "headers": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
}


def answer_busy_with_503(app: FastAPI, retry_after_seconds: float) -> None:
    """Map "database is locked", wherever it comes from, to a 503; other database errors stay
    what they are (a 500, logged)."""
    retry_after = str(max(1, math.ceil(retry_after_seconds)))

    async def on_database_error(request: Request, exc: Exception) -> Response:
        if not is_busy(exc):
            raise exc
        log.warning("http.database_busy", method=request.method, path=request.url.path)
        return JSONResponse(
            {"detail": DETAIL},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": retry_after},
        )

    app.add_exception_handler(OperationalError, on_database_error)
