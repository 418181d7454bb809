"""The eligibility engine, rule by rule, with every reason reported."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from policy.context import (
    ConsentState,
    ConversationState,
    CustomerContext,
    Purchase,
    SentMessage,
)
from policy.eligibility import Action, ReasonCode, evaluate, holdout_bucket
from policy.guardrails import Guardrails, load_guardrails
from profile_store.models import Channel, ConsentPurpose, ConsentStatus

SMS, WA, TG = Channel.SMS, Channel.WHATSAPP, Channel.TELEGRAM
MKT, TXN = ConsentPurpose.MARKETING, ConsentPurpose.TRANSACTIONAL
# Tuesday 2026-11-17, 15:00 UTC: 10:00 in New York, 16:00 in Berlin, 00:00 in Tokyo.
NOW = datetime(2026, 11, 17, 15, 0, tzinfo=UTC)
RULES = load_guardrails()


def customer(**overrides: object) -> CustomerContext:
    base: dict[str, object] = {
        "customer_id": "cus_a",
        "phone": "+12125550100",
        "timezone": None,
        "reachable": frozenset({SMS, WA, TG}),
        "consents": [
            ConsentState(channel=c, purpose=MKT, status=ConsentStatus.GRANTED)
            for c in (SMS, WA, TG)
        ],
        "conversations": [ConversationState(channel=WA, last_inbound_at=NOW - timedelta(hours=1))],
    }
    return CustomerContext.model_validate({**base, **overrides})


def promo(**overrides: object) -> Action:
    # "post_purchase" has a 10% holdout in the demo rules; a program without one keeps the
    # tests about other rules independent of the customer id's bucket.
    return Action.model_validate({"program": "price_drop", "product_ids": ["coat"], **overrides})


def test_an_ordinary_promotion_is_allowed() -> None:
    verdict = evaluate(customer(), promo(), SMS, NOW, RULES)
    assert verdict.allowed and verdict.reasons == []


def test_consent_marketing_needs_opt_in_transactional_only_no_opt_out() -> None:
    ctx = customer(
        consents=[
            ConsentState(channel=SMS, purpose=MKT, status=ConsentStatus.REVOKED),
            ConsentState(channel=TG, purpose=TXN, status=ConsentStatus.REVOKED),
        ]
    )
    assert evaluate(ctx, promo(), SMS, NOW, RULES).codes == [ReasonCode.CONSENT_REVOKED]
    assert evaluate(ctx, promo(), WA, NOW, RULES).codes == [ReasonCode.CONSENT_MISSING]
    receipt = promo(purpose=TXN, promotion=False)
    assert evaluate(ctx, receipt, SMS, NOW, RULES).allowed
    assert evaluate(ctx, receipt, TG, NOW, RULES).codes == [ReasonCode.CONSENT_REVOKED]


def test_caps_count_sends_across_channels_and_per_channel() -> None:
    sends = [
        SentMessage(channel=WA, purpose=MKT, sent_at=NOW - timedelta(days=6)),
        SentMessage(channel=TG, purpose=MKT, sent_at=NOW - timedelta(days=2)),
        SentMessage(channel=SMS, purpose=MKT, sent_at=NOW - timedelta(hours=3)),
        SentMessage(channel=SMS, purpose=TXN, sent_at=NOW - timedelta(hours=1)),  # not counted
        SentMessage(channel=SMS, purpose=MKT, sent_at=NOW - timedelta(days=8)),  # aged out
    ]
    verdict = evaluate(customer(sends=sends), promo(), SMS, NOW, RULES)
    assert verdict.codes == [ReasonCode.FREQUENCY_CAP, ReasonCode.FREQUENCY_CAP]
    assert (
        "3 marketing message(s) on all channels in the last 7 day(s)" in verdict.reasons[0].detail
    )
    assert "on sms in the last 1 day(s)" in verdict.reasons[1].detail
    # Both lift by themselves: the later of the two is when a send may go.
    assert verdict.retry_at == NOW - timedelta(days=6) + timedelta(days=7)
    # Telegram is only under the all-channel cap.
    assert evaluate(customer(sends=sends), promo(), TG, NOW, RULES).codes == [
        ReasonCode.FREQUENCY_CAP
    ]


@pytest.mark.parametrize(
    ("phone", "zone", "quiet"),
    [
        ("+12125550100", None, False),  # 10:00 in New York (from the area code)
        ("+4915112345678", None, False),  # 16:00 in Berlin (from the country)
        ("+15550100000", "Asia/Tokyo", True),  # stored zone wins: midnight in Tokyo
    ],
)
def test_quiet_hours_use_the_customers_own_clock(phone: str, zone: str | None, quiet: bool) -> None:
    verdict = evaluate(customer(phone=phone, timezone=zone), promo(), SMS, NOW, RULES)
    assert (ReasonCode.QUIET_HOURS in verdict.codes) is quiet
    if quiet:
        assert verdict.retry_at == datetime(2026, 11, 18, 0, 0, tzinfo=UTC)  # 09:00 Tokyo


def test_purchase_suppression_by_product_and_by_category() -> None:
    bought = [
        Purchase(product_id="coat", category="Coats", last_purchased_at=NOW - timedelta(days=5))
    ]
    ctx = customer(purchases=bought)
    assert evaluate(ctx, promo(), SMS, NOW, RULES).codes == [ReasonCode.RECENTLY_PURCHASED]
    other = promo(product_ids=["parka"], categories=["Coats"])
    assert evaluate(ctx, other, SMS, NOW, RULES).allowed
    by_category = RULES.model_copy(
        update={
            "purchase_suppression": RULES.purchase_suppression.model_copy(
                update={"scope": "category"}
            )
        }
    )
    assert evaluate(ctx, other, SMS, NOW, by_category).codes == [ReasonCode.RECENTLY_PURCHASED]
    long_ago = customer(
        purchases=[bought[0].model_copy(update={"last_purchased_at": NOW - timedelta(days=40)})]
    )
    assert evaluate(long_ago, promo(), SMS, NOW, RULES).allowed
    care = promo(promotion=False, purpose=TXN)
    assert evaluate(ctx, care, SMS, NOW, RULES).allowed


def test_whatsapp_window_free_text_inside_template_or_refusal_outside() -> None:
    stale = customer(
        conversations=[ConversationState(channel=WA, last_inbound_at=NOW - timedelta(hours=30))]
    )
    refused = evaluate(stale, promo(), WA, NOW, RULES)
    assert refused.codes == [ReasonCode.WHATSAPP_OUTSIDE_WINDOW]
    rules = Guardrails.model_validate(
        {
            **RULES.model_dump(),
            "programs": {"price_drop": {"whatsapp_template": {"content_sid": "HX" + "0" * 32}}},
        }
    )
    templated = evaluate(stale, promo(), WA, NOW, rules)
    assert templated.allowed and templated.requires_template
    assert templated.codes == [ReasonCode.WHATSAPP_TEMPLATE_REQUIRED]
    assert evaluate(customer(), promo(), WA, NOW, RULES).allowed


def test_holdout_is_stable_and_about_the_configured_share() -> None:
    ids = [f"cus_{n}" for n in range(4000)]
    held = [
        i
        for i in ids
        if evaluate(
            customer(customer_id=i), promo(program="cart_abandoned"), SMS, NOW, RULES
        ).held_out
    ]
    assert 0.08 < len(held) / len(ids) < 0.12  # the demo rules hold out 10%
    assert holdout_bucket("cus_1", "cart_abandoned") == holdout_bucket("cus_1", "cart_abandoned")
    verdict = evaluate(
        customer(customer_id=held[0]), promo(program="cart_abandoned"), SMS, NOW, RULES
    )
    assert not verdict.allowed and verdict.codes == [ReasonCode.HOLDOUT]
    assert verdict.retry_at is None


def test_discounts_ceiling_per_tier_approval_and_full_price_buyers() -> None:
    gold = customer(loyalty_tier="gold")
    assert evaluate(gold, promo(discount_percent=25), SMS, NOW, RULES).codes == [
        ReasonCode.DISCOUNT_ABOVE_CEILING
    ]
    needs_ok = evaluate(gold, promo(discount_percent=18), SMS, NOW, RULES)
    assert needs_ok.allowed and needs_ok.requires_approval
    plain = customer()
    assert evaluate(plain, promo(discount_percent=12), SMS, NOW, RULES).codes == [
        ReasonCode.DISCOUNT_ABOVE_CEILING
    ]
    loyal_full_price = customer(order_count=4, discounted_order_count=0)
    assert evaluate(loyal_full_price, promo(discount_percent=5), SMS, NOW, RULES).codes == [
        ReasonCode.FULL_PRICE_BUYER
    ]
    bargain_hunter = customer(order_count=4, discounted_order_count=3)
    assert evaluate(bargain_hunter, promo(discount_percent=5), SMS, NOW, RULES).allowed


def test_human_owned_conversation_stops_automation_but_not_the_human() -> None:
    ctx = customer(conversations=[ConversationState(channel=TG, owner="human")])
    assert ReasonCode.HUMAN_OWNED in evaluate(ctx, promo(), SMS, NOW, RULES).codes
    assert evaluate(
        ctx, promo(automated=False, promotion=False, purpose=TXN), TG, NOW, RULES
    ).allowed


def test_every_blocking_reason_is_reported_together() -> None:
    ctx = customer(
        consents=[],
        reachable=frozenset({SMS}),
        timezone="Asia/Tokyo",
        purchases=[Purchase(product_id="coat", last_purchased_at=NOW)],
    )
    verdict = evaluate(ctx, promo(discount_percent=50), TG, NOW, RULES)
    assert set(verdict.codes) == {
        ReasonCode.NO_ADDRESS,
        ReasonCode.CONSENT_MISSING,
        ReasonCode.QUIET_HOURS,
        ReasonCode.RECENTLY_PURCHASED,
        ReasonCode.DISCOUNT_ABOVE_CEILING,
    }
    assert verdict.retry_at is None  # consent will not come back by itself


def test_guardrails_file_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read"):
        load_guardrails(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("frequency_caps:\n  - {max_messages: -1, window: P1D}\n")
    with pytest.raises(ValueError, match=r"frequency_caps\.0\.max_messages"):
        load_guardrails(bad)


def test_the_customers_own_quiet_hours_hold_for_every_automated_message() -> None:
    # 10:00 in New York; the shopper told the agent "no messages between 9am and 5pm".
    ctx = customer(own_quiet_hours={"start": "09:00", "end": "17:00"})
    for purpose in (MKT, TXN):
        verdict = evaluate(ctx, promo(purpose=purpose), SMS, NOW, RULES)
        assert verdict.codes == [ReasonCode.QUIET_HOURS]
        assert "customer's own quiet hours 09:00-17:00" in verdict.reasons[0].detail
        assert verdict.retry_at == datetime(2026, 11, 17, 22, 0, tzinfo=UTC)  # 17:00 EST
    # A reply in the conversation the shopper started is not automated: it goes.
    assert evaluate(ctx, promo(automated=False), SMS, NOW, RULES).allowed
