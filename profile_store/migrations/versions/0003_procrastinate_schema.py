"""procrastinate's job tables (PostgreSQL only), for the distributed scheduler backend

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 03:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The schema ships inside the pinned procrastinate wheel; it is applied, not copied here.
PROCRASTINATE_TABLES = (
    "procrastinate_events",
    "procrastinate_periodic_defers",
    "procrastinate_workers",
    "procrastinate_jobs",
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return  # SQLite runs the embedded backend only
    from procrastinate.schema import SchemaManager

    bind.exec_driver_sql(SchemaManager.get_schema().replace("%", "%%"))


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for table in PROCRASTINATE_TABLES:
        bind.exec_driver_sql(f"DROP TABLE IF EXISTS {table} CASCADE")
