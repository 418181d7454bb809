"""agent: approvals; details on trigger timers

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 12:01:28.220852
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import profile_store.columns

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")
revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "approvals",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("request_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("conversation_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("customer_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("request", JSON, nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("decided_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column("created_at", profile_store.columns.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", profile_store.columns.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_key"),
    )
    with op.batch_alter_table("approvals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_approvals_conversation_id"), ["conversation_id"], unique=False
        )
        batch_op.create_index("ix_approvals_status_created", ["status", "created_at"], unique=False)

    with op.batch_alter_table("trigger_timers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("details", JSON, nullable=False, server_default="{}"))
    with op.batch_alter_table("trigger_timers", schema=None) as batch_op:
        batch_op.alter_column("details", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("trigger_timers", schema=None) as batch_op:
        batch_op.drop_column("details")

    with op.batch_alter_table("approvals", schema=None) as batch_op:
        batch_op.drop_index("ix_approvals_status_created")
        batch_op.drop_index(batch_op.f("ix_approvals_conversation_id"))

    op.drop_table("approvals")
