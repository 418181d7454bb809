"""leases with fencing tokens, the decided action on each send, attention flags, hot indexes

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import profile_store.columns

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")
revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("lease_token", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True)
        )
        batch_op.add_column(
            sa.Column("attention", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "attention_at", profile_store.columns.UTCDateTime(timezone=True), nullable=True
            )
        )
    with op.batch_alter_table("scheduled_sends", schema=None) as batch_op:
        batch_op.add_column(sa.Column("action", JSON, nullable=False, server_default="{}"))
        batch_op.add_column(
            sa.Column("lease_token", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True)
        )
        batch_op.create_index("ix_scheduled_sends_decision", ["decision_id"], unique=False)
    with op.batch_alter_table("scheduled_sends", schema=None) as batch_op:
        batch_op.alter_column("action", server_default=None)
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.create_index("ix_decisions_created", ["created_at"], unique=False)
    with op.batch_alter_table("trigger_timers", schema=None) as batch_op:
        batch_op.create_index("ix_trigger_timers_watch", ["status", "kind", "anchor"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("trigger_timers", schema=None) as batch_op:
        batch_op.drop_index("ix_trigger_timers_watch")
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_index("ix_decisions_created")
    with op.batch_alter_table("scheduled_sends", schema=None) as batch_op:
        batch_op.drop_index("ix_scheduled_sends_decision")
        batch_op.drop_column("lease_token")
        batch_op.drop_column("action")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("attention_at")
        batch_op.drop_column("attention")
        batch_op.drop_column("lease_token")
