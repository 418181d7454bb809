"""``chatcommerce catalog import``: a CSV or JSON file into the catalog, with a progress bar."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer
from sqlalchemy import inspect

from app.catalog_setup import open_catalog_store
from app.catalog_watches import wake_watches
from app.settings import Settings
from profile_store.database import create_engine, session_factory
from tools.catalog.importer import read_catalog
from tools.catalog.schema import Product
from tools.catalog.store import UpsertSummary

BATCH = 100


def import_catalog(settings: Settings, path: Path, *, prune: bool) -> int:
    """Returns the exit code: 0 when every row was imported, 1 when some were rejected."""
    parsed = read_catalog(path)
    for rejected in parsed.rejected:
        typer.echo(
            f"row {rejected.row} ({rejected.product_id or 'no id'}): {rejected.reason}", err=True
        )
    store = open_catalog_store(settings)
    summary = UpsertSummary()
    with typer.progressbar(length=len(parsed.products), label="Importing products") as progress:
        for start in range(0, len(parsed.products), BATCH):
            batch: list[Product] = parsed.products[start : start + BATCH]
            done = store.upsert(batch)
            for field in ("added", "updated", "reembedded", "unchanged"):
                setattr(summary, field, getattr(summary, field) + getattr(done, field))
            summary.flagged += done.flagged
            progress.update(len(batch))
    for flag in summary.flagged:
        typer.echo(f"check {flag.product_id}: its text {'; '.join(flag.reasons)}", err=True)
    woken = asyncio.run(_wake(settings, parsed.products))
    pruned: list[str] = []
    if prune:
        keep = {product.id for product in parsed.products}
        # A rejected row still names a product the shop has: never prune it by mistake.
        keep |= {row.product_id for row in parsed.rejected if row.product_id}
        pruned = store.delete(sorted(store.all_ids() - keep))
    typer.echo(
        f"{summary.added} added, {summary.updated} updated ({summary.reembedded} re-embedded), "
        f"{summary.unchanged} unchanged, {len(parsed.rejected)} rejected"
        + (f", {len(pruned)} pruned" if prune else "")
        + f"; {store.count()} products in the catalog."
        + (f" {woken} shopper watch(es) triggered." if woken else "")
    )
    return 1 if parsed.rejected else 0


async def _wake(settings: Settings, products: list[Product]) -> int:
    """Back-in-stock and price watches the imported stock and prices satisfy."""
    engine = create_engine(
        settings.sqlalchemy_url, busy_timeout=settings.sqlite_busy_timeout_seconds
    )
    try:
        async with engine.connect() as conn:
            # A catalog imported before the first `db upgrade` has no watches to wake.
            if not await conn.run_sync(lambda sync: inspect(sync).has_table("trigger_timers")):
                return 0
        return await wake_watches(session_factory(engine), products)
    finally:
        await engine.dispose()
