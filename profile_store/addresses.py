"""Which identities reach a shopper on which channel, in order of preference.

The one place this is written down: the policy reads it to know which channels a customer can be
reached on, senders read it to pick the address, and the inbox reads it to tell what kind of
identity an inbound address is.

WhatsApp is reached through WhatsApp's own business-scoped user id first, then a phone number.
The id is what WhatsApp gave us for the account the shopper writes to us from (and the only
address of a shopper who hides their number behind a username); a phone number may come from the
shop and need not be on WhatsApp at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from profile_store.models import Channel, IdentityKind
from profile_store.normalize import normalize_identity

CHANNEL_ADDRESS_KINDS: Mapping[Channel, tuple[IdentityKind, ...]] = MappingProxyType(
    {
        Channel.SMS: (IdentityKind.PHONE,),
        Channel.WHATSAPP: (IdentityKind.WHATSAPP_ID, IdentityKind.PHONE),
        Channel.TELEGRAM: (IdentityKind.TELEGRAM_ID,),
        Channel.EMAIL: (IdentityKind.EMAIL,),
        # A web chat visitor is the anonymous id their page keeps; sends wait in their mailbox.
        Channel.WEBCHAT: (IdentityKind.ANONYMOUS_ID,),
    }
)


def reachable_channels(kinds: Iterable[str]) -> frozenset[Channel]:
    """The channels that identities of these kinds give an address on."""
    held = set(kinds)
    return frozenset(
        channel
        for channel, wanted in CHANNEL_ADDRESS_KINDS.items()
        if any(kind.value in held for kind in wanted)
    )


def preferred_address(channel: Channel, identities: Iterable[tuple[str, str]]) -> str | None:
    """Where to send on ``channel``: an identity of its most preferred kind the customer holds,
    the first of that kind in the order given; None when no identity reaches the channel.

    ``identities`` are ``(kind, value)`` pairs as stored (oldest first keeps the first one)."""
    first: dict[str, str] = {}
    for kind, value in identities:
        first.setdefault(kind, value)
    for kind in CHANNEL_ADDRESS_KINDS[channel]:
        if kind.value in first:
            return first[kind.value]
    return None


def address_identity(
    channel: Channel, address: str, default_region: str = "US"
) -> tuple[IdentityKind, str]:
    """The identity an address on ``channel`` is, normalized: the first of the channel's kinds
    whose form the address has. A WhatsApp sender is a user id or a phone number; the id is
    tried first because a phone parser would read digits into one.

    Raises ValueError naming each kind it is not."""
    problems = []
    for kind in CHANNEL_ADDRESS_KINDS[channel]:
        try:
            return kind, normalize_identity(kind, address, default_region)
        except ValueError as exc:
            problems.append(str(exc))
    raise ValueError("; ".join(problems))
