"""The ``chatcommerce`` command line (verbs fixed in DESIGN.md "Contracts")."""

from __future__ import annotations

from pathlib import Path

import typer

from app.logs import configure_logging
from app.settings import Settings
from app.write_key import resolve_write_key
from profile_store import clock

cli = typer.Typer(help="ChatCommerce: conversational commerce bot and customer profile store.")
db_cli = typer.Typer(help="Database schema.")
demo_cli = typer.Typer(help="Demo data for trying the bot out.")
catalog_cli = typer.Typer(help="The product catalog.")
tokens_cli = typer.Typer(help="Admin API and console tokens.")
scores_cli = typer.Typer(help="Predictive scores per customer.")
cli.add_typer(db_cli, name="db")
cli.add_typer(demo_cli, name="demo")
cli.add_typer(catalog_cli, name="catalog")
cli.add_typer(tokens_cli, name="tokens")
cli.add_typer(scores_cli, name="scores")


@cli.callback()
def _root() -> None:
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)


@cli.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="TCP port."),
    workers: int = typer.Option(1, help="Worker processes (all state is in the database)."),
) -> None:
    """Serve the HTTP API (webhooks, events, admin)."""
    import uvicorn

    settings = Settings()
    key, generated = resolve_write_key(settings)
    where = "generated and saved in" if generated else "from"
    source = (
        "CHATCOMMERCE_WRITE_KEY" if settings.write_key else str(settings.data_dir / "write_key")
    )
    typer.echo(f"Write key ({where} {source}): {key}")
    typer.echo(f"API docs: http://{host}:{port}/docs")
    if settings.webchat_enabled:
        typer.echo(f"Web chat: http://{host}:{port}/ (talk to the bot in your browser)")
    uvicorn.run(
        "app.factory:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        # Open web chat streams would otherwise hold a stop up to their full length; the
        # browser reconnects and resumes where it was.
        timeout_graceful_shutdown=5,
    )


@cli.command()
def worker() -> None:
    """Run the trigger, send and conversation workers without serving HTTP.

    Run API processes with CHATCOMMERCE_RUN_WORKERS=false and as many of these as needed:
    timers, sends and conversations are claimed with locks or leases, so workers on
    several machines never take the same item. SIGTERM (what process managers send) or Ctrl+C
    stops it gracefully: nothing new is claimed, and what is in hand is finished first.
    """
    import asyncio
    import signal

    from app.container import Container
    from app.write_key import resolve_write_key

    settings = Settings()

    async def run() -> None:
        container = Container.build(settings, resolve_write_key(settings)[0])
        await container.load_guardrails()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        container.start(background=True)
        typer.echo(f"Worker running ({settings.scheduler} scheduler); Ctrl+C stops it.")
        try:
            await stop.wait()
            typer.echo("Stopping: finishing the work in hand.")
        finally:
            await container.close()

    asyncio.run(run())
    typer.echo("Worker stopped.")


@db_cli.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Apply database migrations up to REVISION (default: the newest)."""
    from profile_store.migrate import current_revision, upgrade

    settings = Settings()
    upgrade(settings.sqlalchemy_url, revision)
    typer.echo(f"Database at revision {current_revision(settings.sqlalchemy_url)}.")


@cli.command("chat")
def chat(
    channel: str = typer.Option(..., "--channel", help="sms, whatsapp or telegram"),
    address: str = typer.Option(
        ..., "--from", help="The shopper: a phone number (sms, whatsapp) or a Telegram chat id"
    ),
) -> None:
    """Chat with the bot in this terminal, through the same pipeline as a webhook."""
    import asyncio

    from app.terminal_chat import chat as run_chat
    from app.terminal_chat import read_line
    from channels.messages import ChannelName

    try:
        name = ChannelName(channel)
    except ValueError:
        typer.echo(f"error: unknown channel {channel!r}; use sms, whatsapp or telegram", err=True)
        raise typer.Exit(2) from None
    if name is ChannelName.TELEGRAM and not address.isdigit():
        typer.echo(f"error: a Telegram shopper is a numeric chat id, not {address!r}", err=True)
        raise typer.Exit(2)
    asyncio.run(run_chat(Settings(), name, address, read_line, typer.echo))


@tokens_cli.command("create")
def tokens_create(
    role: str = typer.Option(..., "--role", help="marketer or developer"),
    name: str = typer.Option("", "--name", help="Whose token this is, for the audit log"),
) -> None:
    """Create an admin token; it is printed once and only its hash is stored."""
    import asyncio

    from sqlalchemy import inspect

    from app.admin_tokens import Role, create_token
    from profile_store.database import create_engine, session_factory, transaction

    try:
        chosen = Role(role)
    except ValueError:
        typer.echo(f"error: unknown role {role!r}; use marketer or developer", err=True)
        raise typer.Exit(2) from None
    settings = Settings()

    async def run() -> str:
        engine = create_engine(
            settings.sqlalchemy_url, busy_timeout=settings.sqlite_busy_timeout_seconds
        )
        try:
            async with engine.connect() as conn:
                if not await conn.run_sync(lambda sync: inspect(sync).has_table("api_tokens")):
                    typer.echo("error: run `chatcommerce db upgrade` first", err=True)
                    raise typer.Exit(2)
            async with transaction(session_factory(engine)) as session:
                view, token = await create_token(
                    session, name=name or chosen.value, role=chosen, now=clock.now()
                )
        finally:
            await engine.dispose()
        typer.echo(f"Created {view.role.value} token {view.id} ({view.name}). Keep it safe:")
        return token

    typer.echo(asyncio.run(run()))


@scores_cli.command("train")
def scores_train() -> None:
    """Refit the scoring models on the shop's history and re-score every customer."""
    import asyncio

    from app.score_refit import ScoresNotReady, refit_scores

    settings = Settings()
    try:
        report = asyncio.run(refit_scores(settings))
    except ScoresNotReady as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    fitted = ", ".join(f"{part} on {n}" for part, n in report.fitted.items()) or "nothing"
    typer.echo(f"Scoring model {report.version}: fitted {fitted}.")
    for why in report.priors:
        typer.echo(f"Prior kept for {why}.")
    typer.echo(f"Re-scored {report.rescored} customers.")


@demo_cli.command("load")
def demo_load() -> None:
    """Load demo shoppers, their events and the demo catalog (safe to run again)."""
    import asyncio

    from app.catalog_import import import_catalog
    from app.demo import load_demo_profiles
    from tools.catalog.demo_catalog import DEMO_CATALOG

    settings = Settings()
    result = asyncio.run(load_demo_profiles(settings))
    typer.echo(
        f"Demo profiles: {result.accepted} events stored, {result.duplicates} already there, "
        f"{len(result.customer_ids)} customers."
    )
    import_catalog(settings, DEMO_CATALOG, prune=False)


@catalog_cli.command("import")
def catalog_import(
    file: Path = typer.Argument(..., help="A .csv or .json catalog (schema in the README)."),
    prune: bool = typer.Option(False, help="Remove products that are not in FILE."),
) -> None:
    """Create or update products from FILE, by id; print a line per rejected row."""
    from app.catalog_import import import_catalog
    from tools.catalog.importer import CatalogFileError

    try:
        code = import_catalog(Settings(), file, prune=prune)
    except CatalogFileError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    raise typer.Exit(code)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
