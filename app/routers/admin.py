"""Admin API: approvals the agent paused for, and conversations people take over.

Every write is audited in the same transaction as the change.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field

from app.admin_tokens import Principal
from app.audit import audit
from app.container import Container
from app.deps import ContainerDep, Marketer
from conversations.handler import HumanDecision
from conversations.human_reply import NotTakenOver, queue_human_reply
from conversations.inbox import accept_decision
from conversations.inbox_view import (
    ConversationSummary,
    ConversationThread,
    list_conversations,
    read_conversation,
)
from conversations.ownership import Owner, set_owner
from profile_store import clock
from profile_store.database import transaction
from tools.agent_tools.approvals import (
    ApprovalAlreadyDecided,
    ApprovalNotFound,
    ApprovalView,
    decide_approval,
    get_approval,
    list_approvals,
)

router = APIRouter(prefix="/admin/v1", tags=["admin"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such item"}}


class DecisionIn(BaseModel):
    note: str | None = Field(default=None, max_length=1000)


class OwnerOut(BaseModel):
    conversation_id: str
    owner: Owner


class HumanReplyIn(BaseModel):
    text: str = Field(min_length=1, max_length=4000)


class HumanReplyOut(BaseModel):
    message_id: int
    status: str = "queued"


@router.get("/approvals", response_model=list[ApprovalView], summary="Approvals, oldest first")
async def approvals(
    container: ContainerDep,
    who: Marketer,
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
    responses={**NOT_FOUND, 409: {"description": "Already decided"}},
)
async def approve(
    approval_id: str, container: ContainerDep, who: Marketer, body: DecisionIn | None = None
) -> Any:
    return await decide(container, who, approval_id, body or DecisionIn(), approved=True)


@router.post(
    "/approvals/{approval_id}/reject",
    response_model=ApprovalView,
    summary="Reject: the conversation resumes and the shopper is told",
    responses={**NOT_FOUND, 409: {"description": "Already decided"}},
)
async def reject(
    approval_id: str, container: ContainerDep, who: Marketer, body: DecisionIn | None = None
) -> Any:
    return await decide(container, who, approval_id, body or DecisionIn(), approved=False)


async def decide(
    container: Container, who: Principal, approval_id: str, body: DecisionIn, *, approved: bool
) -> ApprovalView:
    now = clock.now()
    try:
        # The decision, its audit entry and the queued resume commit together: a crash cannot
        # leave an approved discount that the shopper never hears about.
        async with transaction(container.sessions) as session:
            before = await get_approval(session, approval_id)
            approval = await decide_approval(
                session,
                approval_id,
                approved=approved,
                decided_by=who.name,
                note=body.note,
                now=now,
            )
            due_at = await accept_decision(
                session,
                approval.conversation_id,
                HumanDecision(
                    request_id=approval.id,
                    approved=approved,
                    decided_by=who.name,
                    note=body.note,
                ),
                now=now,
            )
            await audit(
                session,
                who,
                "approval.approve" if approved else "approval.reject",
                approval_id,
                before=before.model_dump(mode="json"),
                after=approval.model_dump(mode="json"),
                now=now,
            )
    except ApprovalNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except ApprovalAlreadyDecided as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    container.conversations.notify(due_at)
    return approval


@router.get(
    "/conversations",
    response_model=list[ConversationSummary],
    summary="Conversations, most recently active first",
)
async def conversations(
    container: ContainerDep,
    who: Marketer,
    owner: Annotated[Owner | None, Query(description="only bot- or human-owned ones")] = None,
    attention: Annotated[
        bool | None, Query(description="only the ones flagged for a person (true) or not")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Any:
    async with container.readers() as session:
        return await list_conversations(session, owner=owner, attention=attention, limit=limit)


@router.get(
    "/conversations/{conversation_id}",
    response_model=ConversationThread,
    summary="One conversation with its messages",
    responses=NOT_FOUND,
)
async def conversation(conversation_id: str, container: ContainerDep, who: Marketer) -> Any:
    async with container.readers() as session:
        thread = await read_conversation(session, conversation_id)
    if thread is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no conversation {conversation_id!r}")
    return thread


@router.post(
    "/conversations/{conversation_id}/takeover",
    response_model=OwnerOut,
    summary="A person takes the conversation over; the bot stays silent",
    responses=NOT_FOUND,
)
async def takeover(conversation_id: str, container: ContainerDep, who: Marketer) -> Any:
    return await change_owner(container, who, conversation_id, Owner.HUMAN)


@router.post(
    "/conversations/{conversation_id}/release",
    response_model=OwnerOut,
    summary="Hand the conversation back to the bot",
    responses=NOT_FOUND,
)
async def release(conversation_id: str, container: ContainerDep, who: Marketer) -> Any:
    return await change_owner(container, who, conversation_id, Owner.BOT)


@router.post(
    "/conversations/{conversation_id}/messages",
    response_model=HumanReplyOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Reply as a person, through the conversation's channel",
    responses={**NOT_FOUND, 409: {"description": "Not taken over"}},
)
async def reply(
    conversation_id: str, body: HumanReplyIn, container: ContainerDep, who: Marketer
) -> Any:
    return await reply_as_human(container, who, conversation_id, body.text)


async def reply_as_human(
    container: Container, who: Principal, conversation_id: str, text: str
) -> HumanReplyOut:
    now = clock.now()
    try:
        async with transaction(container.sessions) as session:
            message_id = await queue_human_reply(
                session, conversation_id, text, author=who.name, now=now
            )
            if message_id is None:
                raise HTTPException(
                    status.HTTP_404_NOT_FOUND, f"no conversation {conversation_id!r}"
                )
            await audit(
                session,
                who,
                "conversation.reply",
                conversation_id,
                before=None,
                after={"message_id": message_id, "text": text},
                now=now,
            )
    except NotTakenOver as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    container.conversations.notify(now)
    return HumanReplyOut(message_id=message_id)


async def change_owner(
    container: Container, who: Principal, conversation_id: str, owner: Owner
) -> OwnerOut:
    now = clock.now()
    async with transaction(container.sessions) as session:
        before = await set_owner(session, conversation_id, owner, now=now)
        if before is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no conversation {conversation_id!r}")
        await audit(
            session,
            who,
            "conversation.takeover" if owner is Owner.HUMAN else "conversation.release",
            conversation_id,
            before={"owner": before},
            after={"owner": owner.value},
            now=now,
        )
    if owner is Owner.BOT:
        container.conversations.notify(now)
    return OwnerOut(conversation_id=conversation_id, owner=owner)
