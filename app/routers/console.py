"""The marketer console at ``/console``: sign in with a token, edit the guardrails and tool
switches, decide approvals, take over conversations, read a customer's decisions and the lift
report. Server-rendered (Jinja2, plain forms), on the same functions as the admin API, so a
change made here is validated, versioned and audited exactly like one made through the API.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from app.admin_tokens import Principal, authenticate
from app.console.lift_chart import lift_chart
from app.console.session import COOKIE, form_checked, signed_in
from app.container import Container
from app.order_requests import (
    OrderRequestConflict,
    OrderRequestMissing,
    change_order_request,
    list_order_requests,
)
from app.routers.admin import DecisionIn, change_owner, decide, reply_as_human
from app.routers.admin_config import publish, restore_version
from app.routers.admin_messages import PreviewRequest, PreviewResponse, render_preview
from channels.messages import ChannelName
from conversations.inbox_view import (
    count_conversations,
    list_conversations,
    read_conversation,
)
from conversations.ownership import Owner
from policy.decision_log import list_decisions
from policy.guardrails import AgentTools
from policy.guardrails_versions import (
    FieldProblem,
    InvalidGuardrails,
    as_document,
    list_versions,
    validate_document,
)
from policy.lift_report import lift_report
from policy.messages import PROGRAMS
from profile_store import clock
from profile_store.identity import find_customer_id
from profile_store.models import Channel
from profile_store.refs import parse_customer_ref
from profile_store.scoring.store import customer_scores
from tools.agent_tools.approvals import list_approvals

TEMPLATES = Jinja2Templates(directory=Path(__file__).parents[1] / "console" / "templates")
router = APIRouter(prefix="/console", include_in_schema=False)
FLASH = {
    "signed-in": "Welcome back.",
    "saved": "Saved: the new version is live for the next turn and the next send.",
    "tools": "Tool switches saved as a new version.",
    "restored": "Restored as a new version.",
    "approve": "Approved: the shopper is getting the code now.",
    "reject": "Rejected: the shopper is being told.",
    "takeover": "You have the conversation; the bot is silent.",
    "release": "Handed back to the bot.",
    "sent": "Sent.",
    "completed": "Marked done: the shopper is getting the confirmation.",
    "retried": "Queued for the shop again.",
}


def _container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


def _page(
    request: Request,
    template: str,
    who: Principal | None,
    csrf: str,
    section: str,
    status_code: int = status.HTTP_200_OK,
    **values: Any,
) -> HTMLResponse:
    done = request.query_params.get("done", "")
    context = {
        "who": who,
        "csrf": csrf,
        "section": section,
        "title": section,
        "flash": FLASH.get(done),
        **values,
    }
    return TEMPLATES.TemplateResponse(request, template, context, status_code=status_code)


def _back(path: str, done: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?done={done}", status.HTTP_303_SEE_OTHER)


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_page(request: Request) -> HTMLResponse:
    return _page(request, "sign_in.html", None, "", "Sign in")


@router.post("/sign-in", response_model=None)
async def sign_in(request: Request) -> Response:
    form = await request.form()
    token = str(form.get("token", "")).strip()
    async with _container(request).readers() as session:
        who = await authenticate(session, token) if token else None
    if who is None:
        return TEMPLATES.TemplateResponse(
            request,
            "sign_in.html",
            {
                "who": None,
                "title": "Sign in",
                "flash": "That token is not valid (or was revoked).",
                "flash_kind": "bad",
            },
            status_code=status.HTTP_401_UNAUTHORIZED,
        )
    response = _back("/console", "signed-in")
    secure = _container(request).settings.public_url.startswith("https://")
    response.set_cookie(
        COOKIE, token, httponly=True, samesite="strict", secure=secure, path="/console"
    )
    return response


@router.post("/sign-out")
async def sign_out(request: Request) -> RedirectResponse:
    _, csrf = await signed_in(request)
    await form_checked(request, csrf)
    response = RedirectResponse("/console/sign-in", status.HTTP_303_SEE_OTHER)
    response.delete_cookie(COOKIE, path="/console")
    return response


@router.get("", response_class=HTMLResponse)
async def home(request: Request) -> HTMLResponse:
    who, csrf = await signed_in(request)
    container = _container(request)
    async with container.readers() as session:
        pending = await list_approvals(session, "pending")
        human_owned = await count_conversations(session, owner="human")
        flagged = await count_conversations(session, attention=True)
    tools = container.guardrails.agent.tools
    return _page(
        request,
        "home.html",
        who,
        csrf,
        "Today",
        pending=len(pending),
        human_owned=human_owned,
        flagged=flagged,
        version=container.guardrails_version,
        tools_on=len(tools.enabled()),
        tools_total=len(AgentTools.model_fields),
    )


# --- guardrails ---------------------------------------------------------------------------


async def _guardrails_page(
    request: Request,
    who: Principal,
    csrf: str,
    *,
    document: str | None = None,
    errors: list[FieldProblem] | None = None,
    preview: PreviewRequest | None = None,
) -> HTMLResponse:
    container = _container(request)
    shown: PreviewResponse | None = None
    preview_error: str | None = None
    if preview is not None:
        try:
            shown = await render_preview(container, preview)
        except HTTPException as exc:
            preview_error = str(exc.detail)
    async with container.readers() as session:
        versions = await list_versions(session, limit=20)
    current = container.guardrails
    text = document or yaml.safe_dump(as_document(current), sort_keys=False, allow_unicode=True)
    tools = [(name, getattr(current.agent.tools, name).enabled) for name in AgentTools.model_fields]
    return _page(
        request,
        "guardrails.html",
        who,
        csrf,
        "Guardrails",
        status.HTTP_422_UNPROCESSABLE_CONTENT if errors else status.HTTP_200_OK,
        document=text,
        errors=errors or [],
        versions=versions,
        version=container.guardrails_version,
        tools=tools,
        programs=sorted(set(current.programs) | set(PROGRAMS)),
        channels=[c.value for c in ChannelName],
        preview=shown,
        preview_asked=preview,
        preview_error=preview_error,
    )


@router.get("/guardrails", response_class=HTMLResponse)
async def guardrails_page(
    request: Request,
    program: Annotated[str | None, Query()] = None,
    customer: Annotated[str | None, Query()] = None,
    channel: Annotated[Channel | None, Query()] = None,
    variant: Annotated[str | None, Query()] = None,
) -> HTMLResponse:
    """With ``program``, ``customer`` and ``channel``: the page shows that message's preview."""
    who, csrf = await signed_in(request)
    asked = None
    if program and customer and channel:
        asked = PreviewRequest(
            program=program, customer=customer, channel=channel, variant=variant or None
        )
    return await _guardrails_page(request, who, csrf, preview=asked)


@router.post("/guardrails", response_model=None)
async def save_guardrails(request: Request) -> Response:
    who, csrf = await signed_in(request)
    form = await form_checked(request, csrf)
    text = form.get("document", "")
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        problem = FieldProblem(path="(document)", message=f"not valid YAML: {exc}")
        return await _guardrails_page(request, who, csrf, document=text, errors=[problem])
    try:
        new = validate_document(parsed if parsed is not None else {})
    except InvalidGuardrails as exc:
        return await _guardrails_page(request, who, csrf, document=text, errors=exc.problems)
    await publish(_container(request), who, new, source="console", note=form.get("note", ""))
    return _back("/console/guardrails", "saved")


@router.post("/guardrails/tools")
async def save_tools(request: Request) -> RedirectResponse:
    who, csrf = await signed_in(request)
    await form_checked(request, csrf)
    on = {str(value) for key, value in (await request.form()).multi_items() if key == "tool"}
    container = _container(request)
    new = container.guardrails.with_tools({name: name in on for name in AgentTools.model_fields})
    off = sorted(set(AgentTools.model_fields) - on)
    note = "tools off: " + ", ".join(off) if off else "all tools on"
    await publish(container, who, new, source="console", note=note)
    return _back("/console/guardrails", "tools")


@router.post("/guardrails/versions/{version}/restore")
async def restore_page(version: int, request: Request) -> RedirectResponse:
    who, csrf = await signed_in(request)
    await form_checked(request, csrf)
    await restore_version(_container(request), who, version)
    return _back("/console/guardrails", "restored")


# --- approvals ----------------------------------------------------------------------------


@router.get("/approvals", response_class=HTMLResponse)
async def approvals_page(request: Request) -> HTMLResponse:
    who, csrf = await signed_in(request)
    async with _container(request).readers() as session:
        pending = await list_approvals(session, "pending")
        decided = [a for a in await list_approvals(session, None) if a.status != "pending"]
    decided.sort(key=lambda a: a.decided_at or a.created_at, reverse=True)
    return _page(
        request, "approvals.html", who, csrf, "Approvals", pending=pending, decided=decided[:20]
    )


@router.post("/approvals/{approval_id}")
async def decide_approval(approval_id: str, request: Request) -> RedirectResponse:
    who, csrf = await signed_in(request)
    form = await form_checked(request, csrf)
    choice = form.get("decision")
    if choice not in ("approve", "reject"):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "decision must be approve or reject")
    note = form.get("note", "").strip() or None
    await decide(
        _container(request), who, approval_id, DecisionIn(note=note), approved=choice == "approve"
    )
    return _back("/console/approvals", choice)


# --- order requests -----------------------------------------------------------------------


@router.get("/order-requests", response_class=HTMLResponse)
async def order_requests_page(request: Request) -> HTMLResponse:
    who, csrf = await signed_in(request)
    container = _container(request)
    waiting = [
        *await list_order_requests(container, "dead", 100),
        *await list_order_requests(container, "with_person", 100),
    ]
    recent = await list_order_requests(container, None, 30)
    return _page(
        request,
        "order_requests.html",
        who,
        csrf,
        "Order requests",
        waiting=waiting,
        recent=recent,
        webhook=container.settings.shop_webhook_url is not None,
    )


@router.post("/order-requests/{request_id}")
async def change_order_request_form(request_id: str, request: Request) -> RedirectResponse:
    who, csrf = await signed_in(request)
    form = await form_checked(request, csrf)
    choice = form.get("action")
    if choice not in ("complete", "retry"):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "action must be complete or retry")
    try:
        await change_order_request(_container(request), who, request_id, done=choice == "complete")
    except OrderRequestMissing as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except OrderRequestConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return _back("/console/order-requests", "completed" if choice == "complete" else "retried")


# --- conversations ------------------------------------------------------------------------


@router.get("/conversations", response_class=HTMLResponse)
async def conversations_page(
    request: Request,
    owner: Annotated[Owner | None, Query()] = None,
    attention: Annotated[bool | None, Query()] = None,
) -> HTMLResponse:
    who, csrf = await signed_in(request)
    async with _container(request).readers() as session:
        found = await list_conversations(session, owner=owner, attention=attention, limit=100)
    return _page(request, "conversations.html", who, csrf, "Conversations", conversations=found)


@router.get("/conversations/{conversation_id}", response_class=HTMLResponse)
async def conversation_page(conversation_id: str, request: Request) -> HTMLResponse:
    who, csrf = await signed_in(request)
    async with _container(request).readers() as session:
        thread = await read_conversation(session, conversation_id)
    if thread is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no conversation {conversation_id!r}")
    return _page(request, "conversation.html", who, csrf, "Conversations", thread=thread)


@router.post("/conversations/{conversation_id}/{action}")
async def conversation_action(
    conversation_id: str, action: str, request: Request
) -> RedirectResponse:
    who, csrf = await signed_in(request)
    form = await form_checked(request, csrf)
    container = _container(request)
    if action == "takeover":
        await change_owner(container, who, conversation_id, Owner.HUMAN)
    elif action == "release":
        await change_owner(container, who, conversation_id, Owner.BOT)
    elif action == "reply":
        text = form.get("text", "").strip()
        if not text:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "the reply is empty")
        await reply_as_human(container, who, conversation_id, text[:4000])
        action = "sent"
    else:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no action {action!r}")
    return _back(f"/console/conversations/{conversation_id}", action)


# --- decisions and lift -------------------------------------------------------------------


@router.get("/customers", response_class=HTMLResponse)
async def customer_page(
    request: Request, ref: Annotated[str | None, Query(max_length=320)] = None
) -> HTMLResponse:
    who, csrf = await signed_in(request)
    container = _container(request)
    decisions = None
    scores = None
    problem = None
    if ref:
        try:
            parsed = parse_customer_ref(
                ref.strip(), default_region=container.settings.default_phone_region
            )
        except ValueError as exc:
            problem = str(exc)
        else:
            async with container.readers() as session:
                customer_id = await find_customer_id(session, parsed)
                if customer_id is None:
                    problem = f"No customer for {ref!r}."
                else:
                    decisions = await list_decisions(session, customer_id, limit=200)
                    scores = await customer_scores(session, customer_id)
    return _page(
        request,
        "customer.html",
        who,
        csrf,
        "Decisions",
        ref=ref,
        decisions=decisions,
        scores=scores,
        problem=problem,
    )


@router.get("/reports", response_class=HTMLResponse)
async def reports_page(
    request: Request, days: Annotated[int, Query(ge=1, le=365)] = 30
) -> HTMLResponse:
    who, csrf = await signed_in(request)
    until = clock.now()
    async with _container(request).readers() as session:
        report = await lift_report(session, since=until - timedelta(days=days), until=until)
    return _page(
        request,
        "reports.html",
        who,
        csrf,
        "Lift report",
        report=report,
        chart=lift_chart(report),
        days=days,
        pct=lambda v: "—" if v is None else f"{v * 100:.1f}%",
        pts=lambda v: f"{v * 100:+.1f} pts",
        money=lambda v: "—" if v is None else f"{v:,.2f}",
    )
