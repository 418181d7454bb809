"""WhatsApp senders known only by WhatsApp's business-scoped user id (BSUID), end to end.

WhatsApp users may hide their phone number behind a username; Twilio then names them by the id
WhatsApp gives them for this business (``From=whatsapp:US.13491208655302741918``). Sources for
the format are in tests/fixtures/SOURCES.md (the constructed ``…_bsuid_constructed.json``).
"""

from __future__ import annotations

from sqlalchemy import select

from conversations.inbox import CONVERSATIONS
from policy.context_loader import load_context
from profile_store import clock
from profile_store.identity import find_customer_id
from profile_store.models import Channel
from profile_store.schemas import CustomerRef
from tests.channels.conftest import WA_FROM, Shop, fixture
from tests.channels.test_inbound_kinds import camel_to_twilio, consents
from tests.channels.test_inbound_pipeline import sms
from tests.conftest import WRITE_KEY
from tests.profile_store.events import event

FIXTURE = "twilio_whatsapp_inbound_text_bsuid_constructed.json"
BSUID = "US.13491208655302741918"
AUTH = {"Authorization": f"Bearer {WRITE_KEY}"}


def bsuid_message() -> dict[str, str]:
    params = camel_to_twilio(fixture("webhooks", "twilio", FIXTURE))
    assert params["From"] == f"whatsapp:{BSUID}"
    return params


async def customer_of(shop: Shop, ref: CustomerRef) -> str | None:
    async with shop.container.sessions() as session:
        return await find_customer_id(session, ref)


async def test_a_bsuid_sender_is_stored_and_answered_at_its_own_address(shop: Shop) -> None:
    response = await shop.twilio_form("whatsapp", bsuid_message())
    assert response.status_code == 200, response.text
    await shop.work()
    [reply] = shop.twilio.sent
    assert reply.get("To") == f"whatsapp:{BSUID}"  # exactly where the message came from
    assert reply.get("From") == f"whatsapp:{WA_FROM}"
    assert reply.get("Body") == "echo: hi"
    async with shop.container.sessions() as session:
        conn = await session.connection()
        conversation = (await conn.execute(select(CONVERSATIONS))).one()
    assert (conversation.channel, conversation.address) == ("whatsapp", BSUID)
    assert conversation.customer_id == await customer_of(shop, CustomerRef(whatsapp_id=BSUID))


async def test_a_bsuid_sender_gets_its_own_customer_reachable_on_whatsapp_only(
    shop: Shop,
) -> None:
    await shop.twilio_form("whatsapp", sms("SM60", "hi", sender="whatsapp:+15551234567"))
    await shop.twilio_form("whatsapp", bsuid_message())
    by_phone = await customer_of(shop, CustomerRef(phone="+15551234567"))
    by_bsuid = await customer_of(shop, CustomerRef(whatsapp_id=BSUID))
    assert by_phone is not None and by_bsuid is not None and by_phone != by_bsuid
    async with shop.container.sessions() as session:
        context = await load_context(session, by_bsuid, at=clock.now())
    assert context.reachable == {Channel.WHATSAPP}  # no phone, so no SMS
    assert context.phone is None


async def test_an_identify_event_merges_a_phone_and_a_bsuid(shop: Shop) -> None:
    await shop.twilio_form("sms", sms("SM61", "hi", sender="+15551234567"))
    await shop.twilio_form("whatsapp", bsuid_message())
    assert await customer_of(shop, CustomerRef(phone="+15551234567")) != await customer_of(
        shop, CustomerRef(whatsapp_id=BSUID)
    )
    identify = event("identify", {"phone": "+15551234567", "whatsapp_id": BSUID})
    response = await shop.http.post("/v1/events", json=identify, headers=AUTH)
    assert response.status_code == 200, response.text

    survivor = await customer_of(shop, CustomerRef(phone="+15551234567"))
    assert survivor is not None
    assert survivor == await customer_of(shop, CustomerRef(whatsapp_id=BSUID))
    async with shop.container.sessions() as session:
        conn = await session.connection()
        owners = {row.customer_id for row in await conn.execute(select(CONVERSATIONS))}
        context = await load_context(session, survivor, at=clock.now())
    assert owners == {survivor}  # both conversations followed the merge
    assert context.reachable == {Channel.SMS, Channel.WHATSAPP}


async def test_the_profile_api_finds_a_customer_by_whatsapp_id(shop: Shop) -> None:
    await shop.twilio_form("whatsapp", bsuid_message())
    response = await shop.http.get(f"/v1/profiles/whatsapp_id:{BSUID}", headers=AUTH)
    assert response.status_code == 200, response.text
    profile = response.json()
    assert profile["customer_id"] == await customer_of(shop, CustomerRef(whatsapp_id=BSUID))
    assert [(i["kind"], i["value"]) for i in profile["identities"]] == [("whatsapp_id", BSUID)]
    not_an_id = await shop.http.get("/v1/profiles/whatsapp_id:13491208655302741918", headers=AUTH)
    assert not_an_id.status_code == 422
    assert "business-scoped user id" in not_an_id.json()["detail"]


async def test_an_unsubscribed_bsuid_recipient_is_opted_out(shop: Shop) -> None:
    await shop.twilio_form("whatsapp", bsuid_message())
    await shop.work()
    callback = {
        "MessageSid": next(iter(shop.twilio.messages)),
        "MessageStatus": "failed",
        "ErrorCode": "21610",
        "ErrorMessage": "Attempt to send to unsubscribed recipient",
        "To": f"whatsapp:{BSUID}",
        "From": f"whatsapp:{WA_FROM}",
        "AccountSid": "AC" + "1" * 32,
    }
    assert (await shop.twilio_form("whatsapp", callback)).status_code == 200
    assert ("whatsapp", "marketing", "revoked") in await consents(
        shop, CustomerRef(whatsapp_id=BSUID)
    )


async def test_a_follow_up_for_a_bsuid_shopper_is_sent_to_the_bsuid(shop: Shop) -> None:
    from datetime import timedelta

    from policy.watches import FollowUpKind
    from tools.agent_tools.follow_ups import FollowUpRequest, schedule_follow_up
    from tools.agent_tools.shopper import Shopper, ToolServices

    await shop.twilio_form("whatsapp", bsuid_message())  # opens the 24-hour window
    await shop.work()
    customer_id = await customer_of(shop, CustomerRef(whatsapp_id=BSUID))
    assert customer_id is not None
    container = shop.container
    services = ToolServices(
        container.readers, None, lambda: container.guardrails, container.sessions
    )
    when = clock.now() + timedelta(minutes=5)
    request = FollowUpRequest(kind=FollowUpKind.REMINDER, when=when, note="the boots")
    await schedule_follow_up(services, Shopper(customer_id, Channel.WHATSAPP), request, clock.now())
    later = when + timedelta(minutes=1)
    while await container.scheduler.run_once(later):
        pass
    reminder = shop.twilio.sent[-1]
    assert reminder.get("To") == f"whatsapp:{BSUID}"
    assert "the boots" in (reminder.get("Body") or "")
