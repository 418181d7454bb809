"""discount codes: personal, scoped, expiring, redeemed by the order that carries them

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import profile_store.columns

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")
revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "discount_codes",
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("customer_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("percent", sa.Float(), nullable=False),
        sa.Column("product_ids", JSON, nullable=False),
        sa.Column("minimum_order", sa.Float(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("decision_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("conversation_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("issued_at", profile_store.columns.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", profile_store.columns.UTCDateTime(timezone=True), nullable=False),
        sa.Column("redeemed_at", profile_store.columns.UTCDateTime(timezone=True), nullable=True),
        sa.Column("order_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.PrimaryKeyConstraint("code"),
    )
    with op.batch_alter_table("discount_codes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_discount_codes_customer_status", ["customer_id", "status"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("discount_codes", schema=None) as batch_op:
        batch_op.drop_index("ix_discount_codes_customer_status")
    op.drop_table("discount_codes")
