"""Which identity reaches which channel, and which is preferred: one table, read everywhere."""

from __future__ import annotations

import pytest

from profile_store.addresses import address_identity, preferred_address, reachable_channels
from profile_store.models import Channel, IdentityKind

BSUID = "US.13491208655302741918"


def test_whatsapp_is_reached_by_a_phone_or_a_whatsapp_id() -> None:
    assert reachable_channels(["phone"]) == {Channel.SMS, Channel.WHATSAPP}
    assert reachable_channels(["whatsapp_id"]) == {Channel.WHATSAPP}
    assert reachable_channels(["telegram_id", "external_id"]) == {Channel.TELEGRAM}
    assert reachable_channels(["external_id"]) == frozenset()


def test_a_web_chat_visitor_is_reached_by_their_anonymous_id() -> None:
    assert reachable_channels(["anonymous_id", "email"]) == {Channel.WEBCHAT, Channel.EMAIL}
    held = [("email", "ann@example.com"), ("anonymous_id", "visitor-1"), ("anonymous_id", "v-2")]
    assert preferred_address(Channel.WEBCHAT, held) == "visitor-1"
    anonymous = (IdentityKind.ANONYMOUS_ID, "visitor-1")
    assert address_identity(Channel.WEBCHAT, " visitor-1 ") == anonymous


def test_whatsapp_prefers_the_whatsapp_id_and_the_first_of_a_kind() -> None:
    held = [("phone", "+15551234567"), ("whatsapp_id", BSUID), ("whatsapp_id", "US.99")]
    assert preferred_address(Channel.WHATSAPP, held) == BSUID
    assert preferred_address(Channel.SMS, held) == "+15551234567"
    assert preferred_address(Channel.WHATSAPP, held[:1]) == "+15551234567"
    assert preferred_address(Channel.TELEGRAM, held) is None


@pytest.mark.parametrize(
    ("channel", "address", "expected"),
    [
        (Channel.WHATSAPP, BSUID, (IdentityKind.WHATSAPP_ID, BSUID)),
        (Channel.WHATSAPP, "US.ENT.118157992", (IdentityKind.WHATSAPP_ID, "US.ENT.118157992")),
        (Channel.WHATSAPP, "+15551234567", (IdentityKind.PHONE, "+15551234567")),
        (Channel.SMS, "(555) 123-4567", (IdentityKind.PHONE, "+15551234567")),
        (Channel.TELEGRAM, "777001", (IdentityKind.TELEGRAM_ID, "777001")),
    ],
)
def test_an_address_is_the_identity_it_looks_like(
    channel: Channel, address: str, expected: tuple[IdentityKind, str]
) -> None:
    assert address_identity(channel, address) == expected


def test_an_address_of_no_kind_names_what_it_is_not() -> None:
    with pytest.raises(ValueError, match=r"business-scoped user id.*phone number"):
        address_identity(Channel.WHATSAPP, "hello")
    with pytest.raises(ValueError, match="phone number"):
        address_identity(Channel.SMS, BSUID)  # an id reaches WhatsApp, never SMS
