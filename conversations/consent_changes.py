"""Consent changes the pipeline makes from what shoppers say (STOP, START) or providers report.

STOP on a channel ends every message there, marketing and transactional (carriers block the
sender entirely), and the bot falls silent on that channel. START lifts the opt-out: the channel
works again, and marketing comes back only if the shopper had granted it before they opted out,
because resuming a conversation is not a new marketing consent. A brand running a keyword opt-in
campaign ("text YES to join") can make opt-in words grant marketing explicitly. Other channels
keep their own consent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from channels.keywords import ComplianceKeyword
from channels.messages import ChannelName
from profile_store.consent import consent_history, record_consent
from profile_store.models import Channel, ConsentPurpose, ConsentStatus
from profile_store.schemas import ConsentView


@dataclass(frozen=True)
class ChannelConsent:
    """Where a shopper stands on one channel, as far as keywords are concerned."""

    opted_out: bool = False  # transactional consent revoked: nothing may be sent here
    marketing: bool = False  # marketing consent granted now
    marketing_before_opt_out: bool = False  # while opted out: what resuming restores


def channel_consent(history: Sequence[ConsentView], channel: ChannelName) -> ChannelConsent:
    """From a consent history in :func:`consent_history` order (oldest first)."""
    rows = [row for row in history if row.channel == channel.value]
    transactional = [row for row in rows if row.purpose == ConsentPurpose.TRANSACTIONAL.value]
    marketing = [row for row in rows if row.purpose == ConsentPurpose.MARKETING.value]
    marketing_now = _granted(marketing)
    if not transactional or transactional[-1].status != ConsentStatus.REVOKED.value:
        return ChannelConsent(marketing=marketing_now, marketing_before_opt_out=marketing_now)
    since = transactional[-1].occurred_at  # the first revocation of the current opt-out
    for row in reversed(transactional):
        if row.status != ConsentStatus.REVOKED.value:
            break
        since = row.occurred_at
    before = [row for row in marketing if row.occurred_at < since]
    return ChannelConsent(
        opted_out=True, marketing=marketing_now, marketing_before_opt_out=_granted(before)
    )


def _granted(rows: Sequence[ConsentView]) -> bool:
    return bool(rows) and rows[-1].status == ConsentStatus.GRANTED.value


async def load_channel_consent(
    session: AsyncSession, customer_id: str, channel: ChannelName
) -> ChannelConsent:
    return channel_consent(await consent_history(session, customer_id), channel)


async def apply_keyword(
    session: AsyncSession,
    customer_id: str,
    channel: ChannelName,
    keyword: ComplianceKeyword,
    state: ChannelConsent,
    *,
    grants_marketing: bool,
    at: datetime,
) -> ChannelConsent:
    """Record what an opt-out or opt-in keyword changes; returns where the shopper stands now
    (a burst may hold several keywords: each one starts from the previous one's result)."""
    source = f"keyword:{channel.value}"
    if keyword is ComplianceKeyword.OPT_OUT:
        await set_channel_consent(
            session, customer_id, channel, ConsentStatus.REVOKED, source=source, at=at
        )
        before = state.marketing_before_opt_out if state.opted_out else state.marketing
        return ChannelConsent(opted_out=True, marketing_before_opt_out=before)
    if keyword is not ComplianceKeyword.OPT_IN:
        return state
    await _record(session, customer_id, channel, ConsentPurpose.TRANSACTIONAL, source, at)
    if grants_marketing:
        await _record(session, customer_id, channel, ConsentPurpose.MARKETING, source, at)
    elif state.opted_out and state.marketing_before_opt_out and not state.marketing:
        restored = f"{source}:restored"
        await _record(session, customer_id, channel, ConsentPurpose.MARKETING, restored, at)
    marketing = state.marketing or grants_marketing or state.marketing_before_opt_out
    return replace(state, opted_out=False, marketing=marketing, marketing_before_opt_out=marketing)


async def _record(
    session: AsyncSession,
    customer_id: str,
    channel: ChannelName,
    purpose: ConsentPurpose,
    source: str,
    at: datetime,
) -> None:
    await record_consent(
        session,
        customer_id,
        channel=Channel(channel.value),
        purpose=purpose,
        status=ConsentStatus.GRANTED,
        source=source,
        occurred_at=at,
    )


async def set_channel_consent(
    session: AsyncSession,
    customer_id: str,
    channel: ChannelName,
    status: ConsentStatus,
    *,
    source: str,
    at: datetime,
) -> None:
    """Both purposes at once: what a provider's unsubscribe (Twilio 21610) or a STOP means."""
    for purpose in (ConsentPurpose.MARKETING, ConsentPurpose.TRANSACTIONAL):
        await record_consent(
            session,
            customer_id,
            channel=Channel(channel.value),
            purpose=purpose,
            status=status,
            source=source,
            occurred_at=at,
        )
