"""A fast slice of the tau-bench retail replay: the first tasks reproduce tau-bench's states."""

from __future__ import annotations

from pathlib import Path

from bench.tau_bench_retail import replay_fixture


async def test_the_first_tasks_reproduce(tmp_path: Path) -> None:
    report = await replay_fixture(limit=6, directory=tmp_path)
    assert report.tasks == 6
    assert report.expressible == 6
    assert report.reproduced == 6, report.differing
