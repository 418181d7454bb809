"""Admin API: the guardrails document and its versions, tokens, the audit log, the settings.

The guardrails are one validated document. Every change (an edit, a tool switch, a restore) is
a new version that applies to the next turn and the next send; an invalid document is refused
with each problem's path, and the running version is untouched.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Query, status
from pydantic import BaseModel, Field

from app.admin_tokens import Principal, Role, TokenView, create_token, list_tokens, revoke_token
from app.audit import AuditView, audit, read_audit
from app.container import Container
from app.deps import ContainerDep, Developer, Marketer
from policy.guardrails import AgentTools, Guardrails
from policy.guardrails_versions import (
    FieldProblem,
    InvalidGuardrails,
    StoredGuardrails,
    VersionInfo,
    as_document,
    list_versions,
    load_version,
    save_version,
    validate_document,
)
from profile_store import clock
from profile_store.database import transaction

router = APIRouter(prefix="/admin/v1", tags=["admin"])
INVALID: dict[int | str, dict[str, Any]] = {
    422: {"description": "Invalid document: each problem with its path; nothing changed"}
}


class GuardrailsOut(BaseModel):
    version: int | None
    source: str | None = None
    created_by: str | None = None
    created_at: datetime | None = None
    document: dict[str, Any]


class InvalidOut(BaseModel):
    detail: str
    errors: list[FieldProblem]


class ToolSwitchIn(BaseModel):
    enabled: bool


class TokenIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    role: Role


class TokenCreated(TokenView):
    token: str = Field(description="Shown once; only its hash is stored")


class ChannelSettingsOut(BaseModel):
    public_url: str
    webhooks: dict[str, str]
    channels_on: list[str]
    channels_off: dict[str, str]
    model: str
    scheduler: str
    database: str


def _out(stored: StoredGuardrails) -> GuardrailsOut:
    return GuardrailsOut(
        version=stored.version,
        source=stored.source,
        created_by=stored.created_by,
        created_at=stored.created_at,
        document=as_document(stored.guardrails),
    )


@router.get("/guardrails", response_model=GuardrailsOut, summary="The live guardrails")
async def guardrails(container: ContainerDep, who: Marketer) -> Any:
    async with container.readers() as session:
        stored = await load_version(session)
    if stored is None:
        return GuardrailsOut(version=None, document=as_document(container.guardrails))
    return _out(stored)


@router.get("/guardrails/schema", summary="The guardrails document's JSON schema")
async def guardrails_schema(who: Marketer) -> dict[str, Any]:
    return Guardrails.model_json_schema()


@router.put(
    "/guardrails",
    response_model=GuardrailsOut,
    summary="Replace the guardrails: a new version, live for the next turn and send",
    responses=INVALID,
)
async def put_guardrails(
    container: ContainerDep,
    who: Marketer,
    document: Annotated[dict[str, Any], Body(description="The whole guardrails document")],
    note: Annotated[str, Query(max_length=500)] = "",
) -> Any:
    try:
        new = validate_document(document)
    except InvalidGuardrails as exc:
        raise _invalid(exc) from None
    return _out(await publish(container, who, new, source="api", note=note))


@router.put(
    "/guardrails/tools/{tool}",
    response_model=GuardrailsOut,
    summary="Switch one of the agent's tools on or off (a new version)",
    responses={404: {"description": "No such tool"}},
)
async def switch_tool(tool: str, body: ToolSwitchIn, container: ContainerDep, who: Marketer) -> Any:
    if tool not in AgentTools.model_fields:
        names = ", ".join(AgentTools.model_fields)
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no tool {tool!r}; tools are {names}")
    new = container.guardrails.with_tools({tool: body.enabled})
    state = "on" if body.enabled else "off"
    return _out(await publish(container, who, new, source="api", note=f"{tool} {state}"))


@router.get(
    "/guardrails/versions", response_model=list[VersionInfo], summary="Versions, newest first"
)
async def versions(container: ContainerDep, who: Marketer) -> Any:
    async with container.readers() as session:
        return await list_versions(session)


@router.get(
    "/guardrails/versions/{version}",
    response_model=GuardrailsOut,
    summary="One version",
    responses={404: {"description": "No such version"}},
)
async def version(version: int, container: ContainerDep, who: Marketer) -> Any:
    async with container.readers() as session:
        stored = await load_version(session, version)
    if stored is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no guardrails version {version}")
    return _out(stored)


@router.post(
    "/guardrails/versions/{version}/restore",
    response_model=GuardrailsOut,
    summary="Bring an old version back (as a new version)",
    responses={404: {"description": "No such version"}},
)
async def restore(version: int, container: ContainerDep, who: Marketer) -> Any:
    return _out(await restore_version(container, who, version))


async def restore_version(container: Container, who: Principal, version: int) -> StoredGuardrails:
    """Publish an old version's document again, as the new live version."""
    async with container.readers() as session:
        stored = await load_version(session, version)
    if stored is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no guardrails version {version}")
    return await publish(
        container, who, stored.guardrails, source=f"restore:{version}", note=f"v{version}"
    )


async def publish(
    container: Container, who: Principal, new: Guardrails, *, source: str, note: str
) -> StoredGuardrails:
    """Save ``new`` as the live version with its audit entry, and use it at once here (other
    processes pick it up within seconds)."""
    now = clock.now()
    async with transaction(container.sessions) as session:
        before = await load_version(session)
        stored = await save_version(
            session, new, source=source, created_by=who.name, note=note, now=now
        )
        await audit(
            session,
            who,
            "guardrails.update",
            f"guardrails:v{stored.version}",
            before=as_document(before.guardrails) if before else None,
            after=as_document(new),
            now=now,
        )
    container.use_guardrails(stored)
    return stored


def _invalid(exc: InvalidGuardrails) -> HTTPException:
    body = InvalidOut(
        detail=f"{len(exc.problems)} problem(s); the running guardrails are unchanged",
        errors=exc.problems,
    )
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, body.model_dump())


@router.get("/audit", response_model=list[AuditView], summary="Admin writes, newest first")
async def audit_log(
    container: ContainerDep,
    who: Marketer,
    action: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> Any:
    async with container.readers() as session:
        return await read_audit(session, action=action, limit=limit)


@router.get("/tokens", response_model=list[TokenView], summary="Admin tokens (developers)")
async def tokens(container: ContainerDep, who: Developer) -> Any:
    async with container.readers() as session:
        return await list_tokens(session)


@router.post(
    "/tokens",
    response_model=TokenCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Create a token (developers); it is shown once",
)
async def new_token(body: TokenIn, container: ContainerDep, who: Developer) -> Any:
    now = clock.now()
    async with transaction(container.sessions) as session:
        view, token = await create_token(session, name=body.name, role=body.role, now=now)
        await audit(
            session,
            who,
            "token.create",
            view.id,
            before=None,
            after=view.model_dump(mode="json"),
            now=now,
        )
    return TokenCreated(**view.model_dump(), token=token)


@router.delete(
    "/tokens/{token_id}",
    response_model=TokenView,
    summary="Revoke a token (developers)",
    responses={404: {"description": "No such token"}},
)
async def delete_token(token_id: str, container: ContainerDep, who: Developer) -> Any:
    now = clock.now()
    async with transaction(container.sessions) as session:
        view = await revoke_token(session, token_id, now)
        if view is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no token {token_id!r}")
        await audit(
            session,
            who,
            "token.revoke",
            token_id,
            before=None,
            after=view.model_dump(mode="json"),
            now=now,
        )
    return view


@router.get(
    "/settings",
    response_model=ChannelSettingsOut,
    summary="Channel and webhook settings, secrets left out (developers)",
)
async def channel_settings(container: ContainerDep, who: Developer) -> Any:
    settings = container.settings
    base = settings.public_url.rstrip("/")
    return ChannelSettingsOut(
        public_url=settings.public_url,
        webhooks={
            "telegram": f"{base}/webhooks/telegram",
            "sms": f"{base}/webhooks/twilio/sms",
            "whatsapp": f"{base}/webhooks/twilio/whatsapp",
            "events": f"{base}/v1/events",
        },
        channels_on=sorted(c.value for c in container.channels.adapters),
        channels_off={c.value: reason for c, reason in container.channels.missing.items()},
        model=settings.openai_model if settings.openai_api_key else "offline planner",
        scheduler=settings.scheduler,
        database="postgresql" if settings.is_postgres else "sqlite",
    )
