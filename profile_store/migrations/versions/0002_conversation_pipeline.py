"""conversation pipeline: due/lease on conversations; delivery state on messages

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 02:11:13.823747
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import profile_store.columns

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("due_at", profile_store.columns.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "lease_until", profile_store.columns.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.create_index("ix_conversations_due", ["due_at"], unique=False)

    # New NOT NULL columns get a value for existing rows first, then lose the server default.
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "kind",
                sqlmodel.sql.sqltypes.AutoString(length=16),
                nullable=False,
                server_default="text",
            )
        )
        batch_op.add_column(
            sa.Column("idempotency_key", sqlmodel.sql.sqltypes.AutoString(length=200))
        )
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=1000)))
        batch_op.add_column(
            sa.Column("updated_at", profile_store.columns.UTCDateTime(timezone=True))
        )
        batch_op.create_index(
            "ix_messages_conversation_status", ["conversation_id", "status"], unique=False
        )
        batch_op.create_unique_constraint("uq_messages_idempotency_key", ["idempotency_key"])
    op.execute("UPDATE messages SET updated_at = created_at")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.alter_column("kind", server_default=None)
        batch_op.alter_column("attempts", server_default=None)
        batch_op.alter_column(
            "updated_at",
            existing_type=profile_store.columns.UTCDateTime(timezone=True),
            nullable=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_constraint("uq_messages_idempotency_key", type_="unique")
        batch_op.drop_index("ix_messages_conversation_status")
        batch_op.drop_column("updated_at")
        batch_op.drop_column("error")
        batch_op.drop_column("attempts")
        batch_op.drop_column("idempotency_key")
        batch_op.drop_column("kind")

    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_conversations_due")
        batch_op.drop_column("lease_until")
        batch_op.drop_column("due_at")
