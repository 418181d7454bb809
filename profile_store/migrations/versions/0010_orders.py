"""orders: current state, history, action requests to the shop, identity checks

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 22:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import profile_store.columns

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")
STAMP = profile_store.columns.UTCDateTime(timezone=True)
revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _text(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", _text(200), nullable=False),
        sa.Column("customer_id", _text(40), nullable=False),
        sa.Column("status", _text(32), nullable=False),
        sa.Column("total", sa.Float(), nullable=True),
        sa.Column("currency", _text(3), nullable=True),
        sa.Column("items", JSON, nullable=False),
        sa.Column("address", JSON, nullable=True),
        sa.Column("email", _text(320), nullable=True),
        sa.Column("shipments", JSON, nullable=False),
        sa.Column("return_items", JSON, nullable=False),
        sa.Column("exchange_items", JSON, nullable=False),
        sa.Column("placed_at", STAMP, nullable=False),
        sa.Column("delivered_at", STAMP, nullable=True),
        sa.Column("updated_at", STAMP, nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_orders_customer_placed", "orders", ["customer_id", "placed_at"])
    op.create_table(
        "order_history",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("order_id", _text(200), nullable=False),
        sa.Column("event_id", _text(200), nullable=False),
        sa.Column("type", _text(64), nullable=False),
        sa.Column("status", _text(32), nullable=False),
        sa.Column("details", JSON, nullable=False),
        sa.Column("occurred_at", STAMP, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id"),
    )
    op.create_index("ix_order_history_order_occurred", "order_history", ["order_id", "occurred_at"])
    op.create_table(
        "order_requests",
        sa.Column("id", _text(40), nullable=False),
        sa.Column("order_id", _text(200), nullable=False),
        sa.Column("customer_id", _text(40), nullable=False),
        sa.Column("conversation_id", _text(40), nullable=True),
        sa.Column("channel", _text(16), nullable=False),
        sa.Column("action", _text(32), nullable=False),
        sa.Column("details", JSON, nullable=False),
        sa.Column("status", _text(32), nullable=False),
        sa.Column("proposed_in", _text(200), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", STAMP, nullable=True),
        sa.Column("last_error", _text(1000), nullable=True),
        sa.Column("created_at", STAMP, nullable=False),
        sa.Column("updated_at", STAMP, nullable=False),
        sa.Column("completed_at", STAMP, nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_order_requests_status_due", "order_requests", ["status", "next_attempt_at"])
    op.create_index(
        "ix_order_requests_conversation", "order_requests", ["conversation_id", "created_at"]
    )
    op.create_index("ix_order_requests_order", "order_requests", ["order_id", "status"])
    op.create_table(
        "order_verifications",
        sa.Column("conversation_id", _text(40), nullable=False),
        sa.Column("customer_id", _text(40), nullable=False),
        sa.Column("method", _text(16), nullable=False),
        sa.Column("verified_at", STAMP, nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.PrimaryKeyConstraint("conversation_id"),
    )


def downgrade() -> None:
    op.drop_table("order_verifications")
    op.drop_index("ix_order_requests_order", table_name="order_requests")
    op.drop_index("ix_order_requests_conversation", table_name="order_requests")
    op.drop_index("ix_order_requests_status_due", table_name="order_requests")
    op.drop_table("order_requests")
    op.drop_index("ix_order_history_order_occurred", table_name="order_history")
    op.drop_table("order_history")
    op.drop_index("ix_orders_customer_placed", table_name="orders")
    op.drop_table("orders")
