"""Taking over a conversation, replying as a person through its channel, handing it back."""

from __future__ import annotations

from tests.admin_tokens import admin_headers
from tests.channels.conftest import Shop
from tests.channels.test_inbound_pipeline import tg_text


async def test_take_over_reply_as_a_person_and_release(shop: Shop) -> None:
    admin = await admin_headers(shop.container, name="maria")
    await shop.telegram_update(tg_text(1, "my parcel is damaged"))
    await shop.work()
    (summary,) = (await shop.http.get("/admin/v1/conversations", headers=admin)).json()
    conversation = summary["id"]
    assert summary["owner"] == "bot" and summary["channel"] == "telegram"

    early = await shop.http.post(
        f"/admin/v1/conversations/{conversation}/messages", json={"text": "Hi"}, headers=admin
    )
    assert early.status_code == 409 and "take the conversation over" in early.json()["detail"]

    taken = await shop.http.post(f"/admin/v1/conversations/{conversation}/takeover", headers=admin)
    assert taken.json()["owner"] == "human"
    await shop.telegram_update(tg_text(2, "hello??"))
    await shop.work()
    bot_replies = len(shop.telegram.sent)

    reply = await shop.http.post(
        f"/admin/v1/conversations/{conversation}/messages",
        json={"text": "So sorry! A new one ships today."},
        headers=admin,
    )
    assert reply.status_code == 202
    await shop.work()
    assert len(shop.telegram.sent) == bot_replies + 1
    assert shop.telegram.sent[-1].params["text"] == "So sorry! A new one ships today."

    thread = (await shop.http.get(f"/admin/v1/conversations/{conversation}", headers=admin)).json()
    texts = [(m["direction"], m["text"], m["author"], m["status"]) for m in thread["messages"]]
    assert texts[-2][:2] == ("in", "hello??")
    assert texts[-1] == ("out", "So sorry! A new one ships today.", "maria", "sent")

    await shop.http.post(f"/admin/v1/conversations/{conversation}/release", headers=admin)
    audit = (await shop.http.get("/admin/v1/audit", headers=admin)).json()
    assert [a["action"] for a in reversed(audit)] == [
        "conversation.takeover",
        "conversation.reply",
        "conversation.release",
    ]
    assert audit[-1]["before"] == {"owner": "bot"} and audit[-1]["after"] == {"owner": "human"}
    missing = await shop.http.get("/admin/v1/conversations/cnv_nope", headers=admin)
    assert missing.status_code == 404


class BrokenHandler:
    """A model endpoint that is down: every turn fails."""

    async def handle(self, turn: object) -> list[object]:
        raise ConnectionError("model endpoint unreachable")


async def test_a_conversation_the_bot_could_not_answer_is_flagged_until_a_person_takes_it(
    shop: Shop,
) -> None:
    admin = await admin_headers(shop.container, name="maria")
    worker = shop.container.conversations
    worker.handler = BrokenHandler()  # type: ignore[assignment]
    worker.config = worker.config.model_copy(update={"retry_delays": []})  # one try only
    await shop.telegram_update(tg_text(1, "where is my parcel?"))
    await shop.work()
    flagged = (
        await shop.http.get("/admin/v1/conversations", params={"attention": "true"}, headers=admin)
    ).json()
    (summary,) = flagged
    assert "could not answer" in summary["attention"] and "unreachable" in summary["attention"]
    await shop.http.post(f"/admin/v1/conversations/{summary['id']}/takeover", headers=admin)
    after = (
        await shop.http.get("/admin/v1/conversations", params={"attention": "true"}, headers=admin)
    ).json()
    assert after == []
