"""Admin API tokens: two roles, stored hashed, checked on every admin request.

``marketer`` may change the guardrails, decide approvals, take over conversations and read
reports; ``developer`` may do all that and also manage tokens and see the channel settings. A
token is shown once, when it is created; only its SHA-256 is kept, so a leaked database does
not leak working tokens.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel
from sqlalchemy import select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from profile_store.models import ApiToken, new_id

TOKENS = ApiToken.__table__  # type: ignore[attr-defined]
TOKEN_PREFIX = "cc_"


class Role(StrEnum):
    MARKETER = "marketer"
    DEVELOPER = "developer"


RANK = {Role.MARKETER: 1, Role.DEVELOPER: 2}


class Principal(BaseModel):
    """Who is calling the admin API."""

    token_id: str
    name: str
    role: Role

    def may(self, role: Role) -> bool:
        return RANK[self.role] >= RANK[role]


class TokenView(BaseModel):
    id: str
    name: str
    role: Role
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(
    session: AsyncSession, *, name: str, role: Role, now: datetime
) -> tuple[TokenView, str]:
    """The stored token and the token itself (shown once)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    view = TokenView(
        id=new_id("tok"), name=name, role=role, prefix=token[:10], created_at=now, revoked_at=None
    )
    conn = await session.connection()
    await conn.execute(
        TOKENS.insert().values(
            id=view.id,
            name=name,
            role=role.value,
            token_hash=hash_token(token),
            prefix=view.prefix,
            created_at=now,
        )
    )
    return view, token


async def authenticate(session: AsyncSession, token: str) -> Principal | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    conn = await session.connection()
    row = (
        await conn.execute(
            select(TOKENS.c.id, TOKENS.c.name, TOKENS.c.role).where(
                TOKENS.c.token_hash == hash_token(token), TOKENS.c.revoked_at.is_(None)
            )
        )
    ).first()
    if row is None:
        return None
    return Principal(token_id=row.id, name=row.name, role=Role(row.role))


async def list_tokens(session: AsyncSession) -> list[TokenView]:
    conn = await session.connection()
    rows = await conn.execute(select(TOKENS).order_by(TOKENS.c.created_at))
    return [TokenView.model_validate(row, from_attributes=True) for row in rows]


async def revoke_token(session: AsyncSession, token_id: str, now: datetime) -> TokenView | None:
    conn = await session.connection()
    await conn.execute(
        update(TOKENS)
        .where(TOKENS.c.id == token_id, TOKENS.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    row = (await conn.execute(select(TOKENS).where(TOKENS.c.id == token_id))).first()
    return TokenView.model_validate(row, from_attributes=True) if row else None
