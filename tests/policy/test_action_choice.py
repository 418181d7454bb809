"""Next best action: the expected gain of each action over doing nothing, per customer."""

from __future__ import annotations

import random

from policy.action_choice import (
    DISCOUNT,
    MESSAGE,
    NOTHING,
    HistoryAtDecision,
    ProgramEvidence,
    choose_action,
    pooled,
)
from policy.context import CustomerContext
from policy.decisioning import Decisioning
from profile_store.scoring.discount_logit import LogitParams

# A program that works: 12% of messaged customers bought, 5% of held-out ones.
PROVEN = ProgramEvidence(treated=2000, treated_converted=240, held_out=400, held_out_converted=20)
# One that does nothing: the same 5% either way, on enough customers to be sure of it.
USELESS = ProgramEvidence(
    treated=20000, treated_converted=1000, held_out=4000, held_out_converted=200
)
SETTINGS = Decisioning()


def shopper(*, learned: bool = False, **scores: float) -> CustomerContext:
    return CustomerContext(
        customer_id="c",
        order_count=2,
        lifetime_value={"USD": 160.0},
        scores=dict(scores),
        learned_scores=frozenset({"discount_sensitivity"}) if learned else frozenset(),
    )


def chosen(
    ctx: CustomerContext,
    evidence: ProgramEvidence,
    *,
    discount: bool = True,
    response: float = 1.0,
    shop_wide: ProgramEvidence | None = None,
    model: LogitParams | None = None,
) -> list[str]:
    rng = random.Random(3)
    return [
        choose_action(
            ctx,
            evidence,
            SETTINGS,
            rng,
            discount_allowed=discount,
            response=response,
            shop_wide=shop_wide,
            discount_model=model,
            history=HistoryAtDecision(orders=2, discounted_orders=0, last_order_days=30.0),
        ).chosen.action
        for _ in range(200)
    ]


def test_a_proven_program_messages_a_customer_with_room_to_gain() -> None:
    picks = chosen(shopper(purchase_propensity_7d=0.05), PROVEN, discount=False)
    assert picks.count(MESSAGE) > 190


def test_someone_who_will_buy_anyway_is_left_alone() -> None:
    picks = chosen(shopper(purchase_propensity_7d=0.97), PROVEN)
    assert picks.count(NOTHING) > 190


def test_a_program_shown_to_add_nothing_stops_messaging() -> None:
    customer = shopper(purchase_propensity_7d=0.05)
    assert chosen(customer, USELESS, discount=False).count(NOTHING) > 150
    # Its discount is still worth trying until it too is shown to add nothing.
    assert chosen(customer, USELESS).count(DISCOUNT) > 20
    tried = USELESS.model_copy(update={"discounted": 4000, "discounted_converted": 200})
    assert chosen(customer, tried).count(NOTHING) > 150


def test_before_any_data_the_program_is_tried_not_silenced() -> None:
    cold = CustomerContext(customer_id="c")  # no scores, no orders, no evidence
    picks = chosen(cold, ProgramEvidence())
    assert picks.count(NOTHING) < 50


def test_a_learned_sensitivity_decides_who_may_get_the_discount_that_was_measured_to_work() -> None:
    works = PROVEN.model_copy(update={"discounted": 2000, "discounted_converted": 700})
    sensitive = shopper(purchase_propensity_7d=0.05, discount_sensitivity=0.3, learned=True)
    assert chosen(sensitive, works).count(DISCOUNT) > 190
    indifferent = shopper(purchase_propensity_7d=0.05, discount_sensitivity=0.01, learned=True)
    assert chosen(indifferent, works).count(DISCOUNT) == 0
    # However sensitive the model says someone is, a discount measured to change nothing is
    # not worth its cost.
    pointless = PROVEN.model_copy(update={"discounted": 2000, "discounted_converted": 240})
    assert chosen(sensitive, pointless).count(DISCOUNT) < 10
    # A full-price buyer, or a ceiling of zero: the policy says no, whatever the estimate.
    assert chosen(sensitive, works, discount=False).count(DISCOUNT) == 0


def _model_of_no_effect(variance: float) -> LogitParams:
    """Conversion about 12% with or without a discount, as sure of it as ``variance`` says."""
    weights = [-2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    covariance = [[variance if i == j else 0.0 for j in range(8)] for i in range(8)]
    return LogitParams(weights=weights, examples=500, covariance=covariance)


def test_only_a_model_sure_the_discount_changes_nothing_rules_it_out() -> None:
    works = PROVEN.model_copy(update={"discounted": 2000, "discounted_converted": 700})
    customer = shopper(purchase_propensity_7d=0.05)
    # The point estimate says the discount changes nothing; a model that has seen little
    # cannot be sure of it, so the discount's measured arm decides, and the model gets to see
    # what a discount does for such customers.
    assert chosen(customer, works, model=_model_of_no_effect(0.5)).count(DISCOUNT) > 190
    assert chosen(customer, works, model=_model_of_no_effect(1e-6)).count(DISCOUNT) == 0


def test_who_answers_messages_gains_from_them_who_never_does_is_left_alone() -> None:
    """A program that barely pays on average: worth it for a customer who clicks three times
    as often as most, not for one who answers a quarter as often."""
    marginal = ProgramEvidence(
        treated=20000, treated_converted=1100, held_out=4000, held_out_converted=200
    )
    customer = shopper(purchase_propensity_7d=0.05)
    assert chosen(customer, marginal, discount=False).count(NOTHING) > 190
    assert chosen(customer, marginal, discount=False, response=3.0).count(MESSAGE) > 190
    assert chosen(customer, marginal, discount=False, response=0.25).count(NOTHING) > 190


def test_before_the_model_the_discount_is_tried_then_judged_on_what_it_changed() -> None:
    customer = shopper(purchase_propensity_7d=0.05)
    untried = chosen(customer, PROVEN).count(DISCOUNT)
    assert 10 < untried < 190  # explored, not assumed either way
    works = PROVEN.model_copy(update={"discounted": 2000, "discounted_converted": 700})
    assert chosen(customer, works).count(DISCOUNT) > 190
    # As many buy without it: a discount only gives margin away.
    pointless = PROVEN.model_copy(update={"discounted": 2000, "discounted_converted": 240})
    assert chosen(customer, pointless).count(DISCOUNT) < 10


def test_a_program_borrows_what_the_others_measured_of_the_discount() -> None:
    """Its own few discounted messages were unlucky (1 of 15 bought); across the shop a
    discount lifted conversion from 12% to 35%: the program keeps offering it."""
    unlucky = PROVEN.model_copy(update={"discounted": 15, "discounted_converted": 1})
    customer = shopper(purchase_propensity_7d=0.05)
    assert chosen(customer, unlucky).count(DISCOUNT) < 30  # on its own evidence: given up
    others = ProgramEvidence(
        treated=3000, treated_converted=360, discounted=3000, discounted_converted=1050
    )
    shop = pooled({"cart_abandoned": unlucky, "browse_abandoned": others})
    assert shop.discounted == 3015 and shop.treated == 5000
    assert chosen(customer, unlucky, shop_wide=shop).count(DISCOUNT) > 150
    # And where discounts were measured to change nothing, borrowing does not invent a lift.
    flat = others.model_copy(update={"discounted_converted": 360})
    flat_shop = pooled({"cart_abandoned": unlucky, "browse_abandoned": flat})
    assert chosen(customer, unlucky, shop_wide=flat_shop).count(DISCOUNT) < 30


def test_messages_that_drive_opt_outs_are_not_worth_a_valuable_customer() -> None:
    valuable = shopper(purchase_propensity_7d=0.05, expected_value_90d=900.0)
    assert chosen(valuable, PROVEN, discount=False).count(MESSAGE) > 190
    tiring = PROVEN.model_copy(update={"messages": 2000, "opted_out": 300})
    assert chosen(valuable, tiring, discount=False).count(NOTHING) > 190


def test_every_candidate_is_logged_with_its_estimate() -> None:
    choice = choose_action(
        shopper(purchase_propensity_7d=0.05, discount_sensitivity=0.01, learned=True),
        PROVEN,
        SETTINGS,
        random.Random(1),
        discount_allowed=True,
    )
    assert [c.action for c in choice.candidates] == [NOTHING, MESSAGE, DISCOUNT]
    message = choice.candidates[1]
    assert message.expected_value > 0 and message.chance_of_loss < 0.2
    assert "opt-out risk" in message.why
    assert not choice.candidates[2].allowed and "below" in choice.candidates[2].why
    assert choice.order_value == 80.0  # their average order
