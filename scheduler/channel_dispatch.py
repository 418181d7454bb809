"""Due sends to channel adapters: the scheduler's ``Dispatcher`` once channels are configured."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from channels.adapter import ChannelAdapter
from channels.messages import ChannelName, OutboundMessage, WhatsAppTemplateRef
from channels.retry import RetryPolicy, send_with_retry
from policy.guardrails import Guardrails
from scheduler.dispatch import DispatchResult, OutboundSend

# The scheduler reschedules retryable failures itself; here only short waits are absorbed.
QUICK_RETRY = RetryPolicy(attempts=3, base_delay=0.5, max_delay=5, max_retry_after=10)


class ChannelDispatcher:
    def __init__(
        self,
        adapters: Mapping[ChannelName, ChannelAdapter],
        rules: Callable[[], Guardrails],
        retry: RetryPolicy = QUICK_RETRY,
    ) -> None:
        self.adapters = adapters
        self.rules = rules
        self.retry = retry

    async def dispatch(self, send: OutboundSend) -> DispatchResult:
        adapter = self.adapters.get(ChannelName(send.channel.value)) if self._known(send) else None
        if adapter is None:
            return DispatchResult(ok=False, error=f"channel {send.channel.value} is not configured")
        if not send.address:
            return DispatchResult(ok=False, error=f"no {send.channel.value} address on profile")
        template = None
        if send.use_template:
            configured = self.rules().program(send.program).whatsapp_template
            if configured is None:
                return DispatchResult(
                    ok=False,
                    error=f"whatsapp_outside_window: program {send.program!r} has no approved "
                    "template",
                )
            values = {"text": send.text, "program": send.program, **send.values}
            template = WhatsAppTemplateRef(
                content_sid=configured.content_sid,
                variables={
                    str(i): values.get(name, "") for i, name in enumerate(configured.variables, 1)
                },
            )
        message = OutboundMessage(
            channel=ChannelName(send.channel.value),
            address=send.address,
            idempotency_key=send.idempotency_key,
            text=send.text,
            cards=send.cards,
            footer=send.footer,
            template=template,
        )
        result = await send_with_retry(adapter, message, self.retry)
        return DispatchResult(
            ok=result.ok,
            provider_message_id=result.provider_message_id,
            error=result.error,
            retryable=result.retryable,
        )

    @staticmethod
    def _known(send: OutboundSend) -> bool:
        return send.channel.value in ChannelName.__members__.values()
