"""Next best action: the expected gain of each action over doing nothing, per customer."""

from __future__ import annotations

import random

from policy.action_choice import DISCOUNT, MESSAGE, NOTHING, ProgramEvidence, choose_action
from policy.context import CustomerContext
from policy.decisioning import Decisioning

# A program that works: 12% of messaged customers bought, 5% of held-out ones.
PROVEN = ProgramEvidence(treated=2000, treated_converted=240, held_out=400, held_out_converted=20)
# One that does nothing: the same 5% either way, on enough customers to be sure of it.
USELESS = ProgramEvidence(
    treated=20000, treated_converted=1000, held_out=4000, held_out_converted=200
)
SETTINGS = Decisioning()


def shopper(**scores: float) -> CustomerContext:
    return CustomerContext(
        customer_id="c", order_count=2, lifetime_value={"USD": 160.0}, scores=dict(scores)
    )


def chosen(ctx: CustomerContext, evidence: ProgramEvidence, *, discount: bool = True) -> list[str]:
    rng = random.Random(3)
    return [
        choose_action(ctx, evidence, SETTINGS, rng, discount_allowed=discount).chosen.action
        for _ in range(200)
    ]


def test_a_proven_program_messages_a_customer_with_room_to_gain() -> None:
    picks = chosen(shopper(purchase_propensity_7d=0.05), PROVEN)
    assert picks.count(MESSAGE) > 190


def test_someone_who_will_buy_anyway_is_left_alone() -> None:
    picks = chosen(shopper(purchase_propensity_7d=0.97), PROVEN)
    assert picks.count(NOTHING) > 190


def test_a_program_shown_to_add_nothing_stops_messaging() -> None:
    picks = chosen(shopper(purchase_propensity_7d=0.05), USELESS)
    assert picks.count(NOTHING) > 150


def test_before_any_data_the_program_is_tried_not_silenced() -> None:
    cold = CustomerContext(customer_id="c")  # no scores, no orders, no evidence
    picks = chosen(cold, ProgramEvidence())
    assert picks.count(MESSAGE) > 150


def test_a_discount_goes_only_where_it_changes_the_outcome_and_is_allowed() -> None:
    sensitive = shopper(purchase_propensity_7d=0.05, discount_sensitivity=0.3)
    assert chosen(sensitive, PROVEN).count(DISCOUNT) > 190
    indifferent = shopper(purchase_propensity_7d=0.05, discount_sensitivity=0.01)
    assert chosen(indifferent, PROVEN).count(DISCOUNT) == 0
    # A full-price buyer, or a ceiling of zero: the policy says no, whatever the estimate.
    assert chosen(sensitive, PROVEN, discount=False).count(DISCOUNT) == 0


def test_every_candidate_is_logged_with_its_estimate() -> None:
    choice = choose_action(
        shopper(purchase_propensity_7d=0.05, discount_sensitivity=0.01),
        PROVEN,
        SETTINGS,
        random.Random(1),
        discount_allowed=True,
    )
    assert [c.action for c in choice.candidates] == [NOTHING, MESSAGE, DISCOUNT]
    message = choice.candidates[1]
    assert message.expected_value > 0 and message.chance_of_loss < 0.2
    assert not choice.candidates[2].allowed and "below" in choice.candidates[2].why
    assert choice.order_value == 80.0  # their average order
