"""The admin API the agent needs: approvals it paused for, and conversations a person took over.

Authenticated with the write key for now; the marketer console's tokens and roles (issue 7)
will sit in front of the same handlers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field

from app.container import Container
from app.deps import ContainerDep, WriteKey
from conversations.handler import HumanDecision
from conversations.inbox import accept_decision
from conversations.ownership import Owner, set_owner
from profile_store.database import transaction
from tools.agent_tools.approvals import (
    ApprovalAlreadyDecided,
    ApprovalNotFound,
    ApprovalView,
    decide_approval,
    list_approvals,
)

router = APIRouter(prefix="/admin/v1", tags=["admin"], dependencies=[WriteKey])


class DecisionIn(BaseModel):
    decided_by: str = Field(min_length=1, max_length=200, description="who decides, for the log")
    note: str | None = Field(default=None, max_length=1000)


class OwnerOut(BaseModel):
    conversation_id: str
    owner: Owner


@router.get("/approvals", response_model=list[ApprovalView], summary="Approvals, oldest first")
async def approvals(
    container: ContainerDep,
    state: Annotated[
        Literal["pending", "approved", "rejected", "all"], Query(alias="status")
    ] = "pending",
) -> Any:
    async with container.readers() as session:
        return await list_approvals(session, None if state == "all" else state)


@router.post(
    "/approvals/{approval_id}/approve",
    response_model=ApprovalView,
    summary="Approve: the conversation resumes and the shopper gets the offer",
    responses={404: {"description": "No such approval"}, 409: {"description": "Decided"}},
)
async def approve(approval_id: str, body: DecisionIn, container: ContainerDep) -> Any:
    return await _decide(container, approval_id, body, approved=True)


@router.post(
    "/approvals/{approval_id}/reject",
    response_model=ApprovalView,
    summary="Reject: the conversation resumes and the shopper is told",
    responses={404: {"description": "No such approval"}, 409: {"description": "Decided"}},
)
async def reject(approval_id: str, body: DecisionIn, container: ContainerDep) -> Any:
    return await _decide(container, approval_id, body, approved=False)


async def _decide(
    container: Container, approval_id: str, body: DecisionIn, *, approved: bool
) -> ApprovalView:
    now = datetime.now(UTC)
    try:
        # The decision and the queued resume commit together: a crash cannot leave an
        # approved discount that the shopper never hears about.
        async with transaction(container.sessions) as session:
            approval = await decide_approval(
                session,
                approval_id,
                approved=approved,
                decided_by=body.decided_by,
                note=body.note,
                now=now,
            )
            due_at = await accept_decision(
                session,
                approval.conversation_id,
                HumanDecision(
                    request_id=approval.id,
                    approved=approved,
                    decided_by=body.decided_by,
                    note=body.note,
                ),
                now=now,
            )
    except ApprovalNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except ApprovalAlreadyDecided as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    container.conversations.notify(due_at)
    return approval


@router.post(
    "/conversations/{conversation_id}/takeover",
    response_model=OwnerOut,
    summary="A person takes the conversation over; the bot stays silent",
    responses={404: {"description": "No such conversation"}},
)
async def takeover(conversation_id: str, container: ContainerDep) -> Any:
    return await _set_owner(container, conversation_id, Owner.HUMAN)


@router.post(
    "/conversations/{conversation_id}/release",
    response_model=OwnerOut,
    summary="Hand the conversation back to the bot",
    responses={404: {"description": "No such conversation"}},
)
async def release(conversation_id: str, container: ContainerDep) -> Any:
    return await _set_owner(container, conversation_id, Owner.BOT)


async def _set_owner(container: Container, conversation_id: str, owner: Owner) -> OwnerOut:
    async with transaction(container.sessions) as session:
        if not await set_owner(session, conversation_id, owner):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no conversation {conversation_id!r}")
    return OwnerOut(conversation_id=conversation_id, owner=owner)
