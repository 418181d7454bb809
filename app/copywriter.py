"""The language model writing automated messages (``copy: generated``), behind the reply guard.

Only when a model is configured (``CHATCOMMERCE_OPENAI_API_KEY``). Each message is one model
call with a short timeout; a slow, failing or refused answer means the template goes out, so a
model outage never delays or loses a send.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from agent.reply_guard import GrantedOffer, GuardInput, guard_reply
from policy.copywriting import CopyRequest
from policy.guardrails import Guardrails

log = structlog.get_logger(__name__)
TIMEOUT_SECONDS = 10.0

INSTRUCTIONS = (
    "You write one short automated message from a shop to one shopper on a messaging app. "
    "Follow the brief and the brand voice. Mention only the products listed, by their names; "
    "prices only as given. Never offer a discount or a code unless the facts give one. The "
    "product links are added after your text: do not write links. Plain text, no markdown, at "
    "most {max_chars} characters. Answer with the message only."
)


def _facts(request: CopyRequest) -> str:
    lines = [f"Program: {request.program}", f"Brief: {request.brief or '(none)'}"]
    if request.first_name:
        lines.append(f"Shopper's first name: {request.first_name}")
    for product in request.products:
        price = f" ({product.price:.2f} {product.currency or ''})".rstrip() if product.price else ""
        lines.append(f"Product: {product.name}{price}")
    if request.discount_code and request.discount_percent:
        lines.append(
            f"Offer: code {request.discount_code} for {request.discount_percent:g}% off (say it)"
        )
    lines.append(f"The template message, for tone and facts: {request.template_text}")
    return "\n".join(lines)


class ModelCopyWriter:
    def __init__(self, model: BaseChatModel, rules: Callable[[], Guardrails]) -> None:
        self._model = model
        self._rules = rules

    async def write(self, request: CopyRequest) -> str | None:
        rules = self._rules()
        system = f"Brand: {request.brand}. Brand voice: {request.voice}\n" + INSTRUCTIONS.format(
            max_chars=request.max_chars
        )
        try:
            async with asyncio.timeout(TIMEOUT_SECONDS):
                answer = await self._model.ainvoke(
                    [SystemMessage(system), HumanMessage(_facts(request))]
                )
        except Exception as exc:
            log.warning("copy.model_failed", program=request.program, error=str(exc)[:200])
            return None
        text = str(answer.content).strip()
        if not text or len(text) > request.max_chars:
            log.info("copy.generated_refused", program=request.program, reason="length")
            return None
        granted = (
            [GrantedOffer(percent=request.discount_percent, code=request.discount_code)]
            if request.discount_code and request.discount_percent
            else []
        )
        guarded = guard_reply(
            GuardInput(
                reply=text,
                shopper_text="",
                system_prompt=system,
                config=rules.agent,
                granted=granted,
            )
        )
        if guarded.violations:
            log.info("copy.generated_refused", program=request.program, reason=guarded.violations)
            return None
        return text
