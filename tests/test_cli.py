"""The command line: migrations and demo data, run the way `make run` runs them."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from typer.testing import CliRunner

from app.cli import cli
from profile_store.migrate import alembic_config


def test_db_upgrade_then_demo_load_is_repeatable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHATCOMMERCE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CHATCOMMERCE_DATABASE_URL", raising=False)
    runner = CliRunner()

    upgraded = runner.invoke(cli, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert f"Database at revision {head}." in upgraded.output

    first = runner.invoke(cli, ["demo", "load"])
    again = runner.invoke(cli, ["demo", "load"])
    assert first.exit_code == 0, first.output
    assert "0 already there" in first.output
    assert "0 events stored" in again.output

    with sqlite3.connect(tmp_path / "chatcommerce.db") as db:
        (customers,) = db.execute(
            "SELECT count(*) FROM customers WHERE merged_into_id IS NULL"
        ).fetchone()
        timers = dict(db.execute("SELECT kind, count(*) FROM trigger_timers GROUP BY kind"))
    assert customers == 4
    # The demo events arm triggers as API events do: Ann's open cart, the browsers.
    assert timers["cart_abandoned"] == 1
    assert timers["browse_abandoned"] >= 1


def test_unknown_command_names_the_problem() -> None:
    result = CliRunner().invoke(cli, ["frobnicate"])
    assert result.exit_code != 0
    assert "frobnicate" in result.output


def test_worker_runs_until_interrupted(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "CHATCOMMERCE_DATA_DIR": str(tmp_path),
        "CHATCOMMERCE_LOG_LEVEL": "WARNING",
    }
    env.pop("CHATCOMMERCE_DATABASE_URL", None)
    subprocess.run([sys.executable, "-m", "app.cli", "db", "upgrade"], env=env, check=True)
    worker = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "worker"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert worker.stdout is not None
        assert "Worker running" in worker.stdout.readline()
        worker.send_signal(signal.SIGINT)
        output, _ = worker.communicate(timeout=30)
    finally:
        worker.kill()
    assert worker.returncode == 0, output
    assert "Worker stopped." in output
