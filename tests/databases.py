"""Test databases: a migrated SQLite file or a fresh database on the real local PostgreSQL.

Each is cloned from a template migrated once per run, so every test starts from an empty,
fully migrated schema in a few milliseconds.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import psycopg

from profile_store.migrate import upgrade

POSTGRES_ADMIN_URL = os.environ.get(
    "CHATCOMMERCE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _pg_url(admin_url: str, database: str) -> str:
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{database}".replace("postgresql://", "postgresql+psycopg://", 1)


class PostgresTemplates:
    """Creates databases from one migrated template; drops them all at the end of the run."""

    def __init__(self, admin_url: str = POSTGRES_ADMIN_URL) -> None:
        self.admin_url = admin_url
        self.template = f"cc_template_{uuid.uuid4().hex[:10]}"
        self.created: list[str] = []
        try:
            self._execute(f'CREATE DATABASE "{self.template}"')
        except psycopg.OperationalError as exc:
            raise RuntimeError(
                f"PostgreSQL is not reachable at {admin_url} ({exc}). Tests run against the real "
                "server: start it (.ci/run does) or set CHATCOMMERCE_TEST_POSTGRES_URL."
            ) from exc
        upgrade(_pg_url(admin_url, self.template))

    def _execute(self, sql: str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql)

    def create(self) -> str:
        name = f"cc_test_{uuid.uuid4().hex[:12]}"
        self._execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        self.created.append(name)
        return _pg_url(self.admin_url, name)

    def drop(self, url: str) -> None:
        name = url.rpartition("/")[2]
        self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        for name in [*self.created, self.template]:
            self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class SqliteTemplate:
    def __init__(self, directory: Path) -> None:
        self.path = directory / "template.db"
        upgrade(f"sqlite+aiosqlite:///{self.path}")

    def create(self, directory: Path) -> str:
        target = directory / "chatcommerce.db"
        shutil.copyfile(self.path, target)
        return f"sqlite+aiosqlite:///{target}"
