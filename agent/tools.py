"""The agent's tools as LangChain tools: the plain functions of ``tools.agent_tools``, with
the shopper injected from graph state."""

from __future__ import annotations

from typing import Annotated

from langchain_core.tools import BaseTool, tool
from langgraph.prebuilt import InjectedState

from profile_store.models import Channel
from tools.agent_tools.eligibility import check_eligibility as check
from tools.agent_tools.orders import get_order_status as order_status
from tools.agent_tools.products import search_products as search
from tools.agent_tools.profile import get_profile as profile
from tools.agent_tools.shopper import Shopper, ToolServices
from tools.catalog.search import SearchQuery

CustomerId = Annotated[str, InjectedState("customer_id")]
ChannelName = Annotated[str, InjectedState("channel")]


def build_tools(services: ToolServices) -> list[BaseTool]:
    def shopper(customer_id: str, channel: str) -> Shopper:
        return Shopper(customer_id=customer_id, channel=Channel(channel))

    @tool
    async def search_products(
        customer_id: CustomerId,
        channel: ChannelName,
        text: str,
        min_price: float | None = None,
        max_price: float | None = None,
        category: str | None = None,
        size: str | None = None,
        colour: str | None = None,
        in_stock: bool = False,
    ) -> str:
        """Find products by the shopper's words, with optional exact filters."""
        query = SearchQuery(
            text=text,
            min_price=min_price,
            max_price=max_price,
            category=category,
            size=size,
            colour=colour,
            in_stock=in_stock,
            limit=3,
        )
        found = await search(services, shopper(customer_id, channel), query)
        return found.model_dump_json()

    @tool
    async def get_order_status(
        customer_id: CustomerId, channel: ChannelName, order_id: str | None = None
    ) -> str:
        """The shopper's own orders (or one of them by id) and their status."""
        return (
            await order_status(services, shopper(customer_id, channel), order_id)
        ).model_dump_json()

    @tool
    async def get_profile(customer_id: CustomerId, channel: ChannelName) -> str:
        """The shopper's own profile: name, tier, preferences, open cart, recent purchases."""
        return (await profile(services, shopper(customer_id, channel))).model_dump_json()

    @tool
    async def check_eligibility(
        customer_id: CustomerId,
        channel: ChannelName,
        program: str,
        discount_percent: float | None = None,
    ) -> str:
        """Whether an outreach or offer is allowed for this shopper, with reason codes."""
        answer = await check(
            services, shopper(customer_id, channel), program, discount_percent=discount_percent
        )
        return answer.model_dump_json()

    return [search_products, get_order_status, get_profile, check_eligibility]
