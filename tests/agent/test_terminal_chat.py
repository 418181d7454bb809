"""``chatcommerce chat``: the terminal runs the real pipeline and agent, and remembers."""

from __future__ import annotations

from sqlalchemy import select
from typer.testing import CliRunner

from app.cli import cli
from app.settings import Settings
from app.terminal_chat import chat
from channels.messages import ChannelName
from profile_store.database import create_engine, session_factory
from profile_store.models import Identity, Message

IDENTITIES = Identity.__table__  # type: ignore[attr-defined]
MESSAGES = Message.__table__  # type: ignore[attr-defined]


async def test_a_terminal_conversation_goes_through_the_pipeline(settings: Settings) -> None:
    lines = iter(["hi", "", "can I get 10% off?", "I prefer telegram"])
    said: list[str] = []
    await chat(
        settings, ChannelName.WHATSAPP, "+15551234567", lambda: next(lines, None), said.append
    )
    assert said[0].startswith("bot> Hi! I can help")
    assert "CC-" in said[1] and "10% off" in said[1]
    assert "telegram" in said[2]
    assert len(said) == 3  # the empty line is not a message

    engine = create_engine(settings.sqlalchemy_url)
    try:
        async with session_factory(engine)() as session:
            conn = await session.connection()
            phones = (
                (await conn.execute(select(IDENTITIES.c.value).where(IDENTITIES.c.kind == "phone")))
                .scalars()
                .all()
            )
            outbound = (
                (await conn.execute(select(MESSAGES.c.status).where(MESSAGES.c.direction == "out")))
                .scalars()
                .all()
            )
    finally:
        await engine.dispose()
    assert phones == ["+15551234567"]
    assert outbound == ["sent", "sent", "sent"]


def test_the_cli_names_a_bad_channel_or_address() -> None:
    runner = CliRunner()
    bad_channel = runner.invoke(cli, ["chat", "--channel", "fax", "--from", "+15551234567"])
    assert bad_channel.exit_code == 2 and "unknown channel 'fax'" in bad_channel.output
    bad_chat = runner.invoke(cli, ["chat", "--channel", "telegram", "--from", "ada"])
    assert bad_chat.exit_code == 2 and "numeric chat id" in bad_chat.output
