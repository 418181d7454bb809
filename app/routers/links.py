"""``/l/{code}``: the short links in automated messages; a click is recorded, then redirected."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import RedirectResponse
from sqlalchemy import func, update

from app.deps import ContainerDep
from policy.responses import respond
from profile_store import clock
from profile_store.database import transaction
from scheduler.links import LINKS

router = APIRouter(tags=["links"])


@router.get(
    "/l/{code}",
    summary="A tracked product link from an automated message",
    response_class=RedirectResponse,
    status_code=status.HTTP_302_FOUND,
    responses={404: {"description": "No such link"}},
)
async def follow(code: str, container: ContainerDep) -> RedirectResponse:
    now = clock.now()
    async with transaction(container.sessions) as session:
        conn = await session.connection()
        link = (
            await conn.execute(
                update(LINKS)
                .where(LINKS.c.code == code)
                .values(
                    clicks=LINKS.c.clicks + 1,
                    first_clicked_at=func.coalesce(LINKS.c.first_clicked_at, now),
                )
                .returning(LINKS.c.url, LINKS.c.customer_id, LINKS.c.decision_id, LINKS.c.channel)
            )
        ).first()
        if link is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such link")
        await respond(
            session,
            customer_id=link.customer_id,
            decision_id=link.decision_id,
            channel=link.channel,
            response="clicked",
            at=now,
        )
    return RedirectResponse(link.url, status.HTTP_302_FOUND)
