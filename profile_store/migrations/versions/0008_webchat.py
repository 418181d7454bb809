"""web chat: visitors' mailboxes, sessions (token hashes) and entries

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 06:03:22
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import profile_store.columns

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")
revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webchat_visitors",
        sa.Column("anonymous_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("created_at", profile_store.columns.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("anonymous_id"),
    )
    op.create_table(
        "webchat_entries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("anonymous_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("sender", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("session_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("idempotency_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("text", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("cards", JSON, nullable=False),
        sa.Column("buttons", JSON, nullable=False),
        sa.Column("created_at", profile_store.columns.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["anonymous_id"], ["webchat_visitors.anonymous_id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("anonymous_id", "seq", name="uq_webchat_entries_seq"),
        sa.UniqueConstraint("idempotency_key", name="uq_webchat_entries_idempotency_key"),
    )
    with op.batch_alter_table("webchat_entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_webchat_entries_session_created", ["session_id", "created_at"], unique=False
        )
    op.create_table(
        "webchat_sessions",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("anonymous_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", profile_store.columns.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["anonymous_id"], ["webchat_visitors.anonymous_id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("webchat_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_webchat_sessions_anonymous_id"), ["anonymous_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("webchat_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webchat_sessions_anonymous_id"))
    op.drop_table("webchat_sessions")
    with op.batch_alter_table("webchat_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_webchat_entries_session_created")
    op.drop_table("webchat_entries")
    op.drop_table("webchat_visitors")
