"""The agent and its tools limited to an audience: a rule over the shopper's profile, evaluated
at the start of every turn on the same context the decision engine reads."""

from __future__ import annotations

from policy.decisioning import Audience
from policy.guardrails import AgentConfig, AgentTools, Guardrails, ToolSwitch
from tests.agent.test_agent_actions import CONVERSATIONS, DECISIONS, Chat
from tests.channels.conftest import Shop

GOLD = {"gold": Audience(rule="loyalty_tier == 'gold'")}


def limited(rules: Guardrails, agent: AgentConfig) -> Guardrails:
    return Guardrails.model_validate(
        {
            **rules.model_dump(mode="json"),
            "audiences": {n: a.model_dump() for n, a in GOLD.items()},
            "agent": agent.model_dump(mode="json"),
        }
    )


async def test_a_tool_for_an_audience_is_used_only_for_shoppers_in_it(shop: Shop) -> None:
    chat = Chat(shop)
    shop.container.guardrails = limited(
        shop.container.guardrails,
        AgentConfig(tools=AgentTools(offer_discount=ToolSwitch(audience="gold"))),
    )
    refused = await chat.say("can I get 10% off?")
    assert "CC-" not in refused
    assert not await chat.rows(DECISIONS, DECISIONS.c.action == "offer_discount")
    await chat.set_tier("gold")
    assert "CC-" in await chat.say("can I get 10% off?")


async def test_a_shopper_outside_the_agents_audience_gets_a_person(shop: Shop) -> None:
    chat = Chat(shop)
    agent = AgentConfig(audience="gold", outside_audience_reply="A colleague will answer you.")
    shop.container.guardrails = limited(shop.container.guardrails, agent)
    assert await chat.say("do you have trail shoes?") == "A colleague will answer you."
    (row,) = await chat.rows(CONVERSATIONS)
    assert row.owner == "human" and "audience 'gold'" in row.attention
    assert await chat.say("hello?") == ""  # the person answers from here


async def test_a_shopper_in_the_agents_audience_talks_to_the_agent(shop: Shop) -> None:
    chat = Chat(shop)
    await chat.set_tier("gold")
    shop.container.guardrails = limited(shop.container.guardrails, AgentConfig(audience="gold"))
    reply = await chat.say("do you have trail shoes?")
    assert reply and "colleague" not in reply
    (row,) = await chat.rows(CONVERSATIONS)
    assert row.owner == "bot"
