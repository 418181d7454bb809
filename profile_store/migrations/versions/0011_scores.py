"""predictive scores: fitted model parameters and each customer's current scores

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import profile_store.columns

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")
revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "score_models",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("version", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("customers", sa.Integer(), nullable=False),
        sa.Column("params", JSON, nullable=False),
        sa.Column("fitted_at", profile_store.columns.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("version"),
    )
    op.create_table(
        "customer_scores",
        sa.Column("customer_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("purchase_propensity_7d", sa.Float(), nullable=False),
        sa.Column("churn_risk_90d", sa.Float(), nullable=False),
        sa.Column("discount_sensitivity", sa.Float(), nullable=False),
        sa.Column("expected_value_90d", sa.Float(), nullable=False),
        sa.Column("details", JSON, nullable=False),
        sa.Column("scored_at", profile_store.columns.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.PrimaryKeyConstraint("customer_id"),
    )


def downgrade() -> None:
    op.drop_table("customer_scores")
    op.drop_table("score_models")
