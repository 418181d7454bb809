"""Admin tokens for tests, made the way `chatcommerce tokens create` makes them."""

from __future__ import annotations

from app.admin_tokens import Role, create_token
from app.container import Container
from profile_store import clock
from profile_store.database import transaction


async def admin_headers(
    container: Container, role: Role = Role.MARKETER, name: str = "maria@shop.example"
) -> dict[str, str]:
    async with transaction(container.sessions) as session:
        _, token = await create_token(session, name=name, role=role, now=clock.now())
    return {"Authorization": f"Bearer {token}"}
