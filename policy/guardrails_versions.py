"""Guardrails as versioned documents: every change is a new version, the highest one is live.

A marketer's edit through the admin API, a restore of an old version, and a YAML file given at
start-up all write a new version, so the history is complete and any version can come back.
Every process (API, workers) reads the live version from the database, so a change reaches the
next turn and the next send without a restart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import func, insert, select
from sqlmodel.ext.asyncio.session import AsyncSession

from policy.guardrails import Guardrails
from profile_store.models import GuardrailsVersion

VERSIONS = GuardrailsVersion.__table__  # type: ignore[attr-defined]


class FieldProblem(BaseModel):
    path: str
    message: str


class InvalidGuardrails(ValueError):
    """A document that does not validate; ``problems`` names each one by its path."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__("; ".join(f"{p.path}: {p.message}" for p in problems))
        self.problems = problems


class VersionInfo(BaseModel):
    version: int
    source: str
    created_by: str
    note: str
    created_at: datetime


class StoredGuardrails(VersionInfo):
    guardrails: Guardrails


def validate_document(document: Any) -> Guardrails:
    """The document as guardrails, or InvalidGuardrails with every problem and its path."""
    try:
        return Guardrails.model_validate(document)
    except ValidationError as exc:
        raise InvalidGuardrails(
            [
                FieldProblem(
                    path=".".join(str(part) for part in error["loc"]) or "(document)",
                    message=error["msg"],
                )
                for error in exc.errors()
            ]
        ) from None


def as_document(guardrails: Guardrails) -> dict[str, Any]:
    document: dict[str, Any] = guardrails.model_dump(mode="json", by_alias=True)
    return document


async def live_version(session: AsyncSession) -> int | None:
    conn = await session.connection()
    value = await conn.scalar(select(func.max(VERSIONS.c.version)))
    return int(value) if value is not None else None


async def load_version(
    session: AsyncSession, version: int | None = None
) -> StoredGuardrails | None:
    """A version (default: the live one), or None if there is none."""
    conn = await session.connection()
    query = select(VERSIONS)
    if version is None:
        query = query.order_by(VERSIONS.c.version.desc()).limit(1)
    else:
        query = query.where(VERSIONS.c.version == version)
    row = (await conn.execute(query)).first()
    if row is None:
        return None
    return StoredGuardrails(
        version=row.version,
        source=row.source,
        created_by=row.created_by,
        note=row.note,
        created_at=row.created_at,
        guardrails=Guardrails.model_validate(row.document),
    )


async def list_versions(session: AsyncSession, limit: int = 100) -> list[VersionInfo]:
    conn = await session.connection()
    rows = await conn.execute(
        select(
            VERSIONS.c.version,
            VERSIONS.c.source,
            VERSIONS.c.created_by,
            VERSIONS.c.note,
            VERSIONS.c.created_at,
        )
        .order_by(VERSIONS.c.version.desc())
        .limit(limit)
    )
    return [VersionInfo.model_validate(row, from_attributes=True) for row in rows]


async def save_version(
    session: AsyncSession,
    guardrails: Guardrails,
    *,
    source: str,
    created_by: str,
    note: str = "",
    now: datetime,
) -> StoredGuardrails:
    """Write ``guardrails`` as the new live version."""
    conn = await session.connection()
    version = await conn.scalar(
        insert(VERSIONS)
        .values(
            document=as_document(guardrails),
            source=source,
            created_by=created_by,
            note=note[:500],
            created_at=now,
        )
        .returning(VERSIONS.c.version)
    )
    return StoredGuardrails(
        version=int(version),
        source=source,
        created_by=created_by,
        note=note[:500],
        created_at=now,
        guardrails=guardrails,
    )


async def start_up_guardrails(
    session: AsyncSession, file_guardrails: Guardrails, *, from_file: bool, now: datetime
) -> StoredGuardrails:
    """The version to run at start-up.

    With no stored version, the file (or the demo document) becomes version 1. A file given
    explicitly becomes a new version when it differs from the last version loaded from a file,
    so editing the file and restarting applies it, while a restart with the same file does not
    undo the marketers' later changes.
    """
    live = await load_version(session)
    if live is None:
        source = "file" if from_file else "demo"
        return await save_version(
            session, file_guardrails, source=source, created_by="start-up", now=now
        )
    if from_file:
        conn = await session.connection()
        last_file = await conn.scalar(
            select(VERSIONS.c.document)
            .where(VERSIONS.c.source == "file")
            .order_by(VERSIONS.c.version.desc())
            .limit(1)
        )
        if last_file != as_document(file_guardrails):
            return await save_version(
                session, file_guardrails, source="file", created_by="start-up", now=now
            )
    return live
