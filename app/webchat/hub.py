"""Waking the open web chat streams of this process when their visitor's mailbox grows.

A write in this process wakes its streams at once (``publish``). A write in another process (an
API process behind the same load balancer, a ``chatcommerce worker``) is found by one query
every ``poll_seconds`` for all the visitors streaming here, whatever their number: the stored
rows are the truth, the in-process wake-up only a shortcut.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Iterator

import structlog
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.webchat.mailbox import last_seqs

log = structlog.get_logger(__name__)
_POLL_CHUNK = 500


class Subscription:
    """One stream's wait for its visitor's next entry; ``position`` is the last it sent."""

    def __init__(self, anonymous_id: str, position: int) -> None:
        self.anonymous_id = anonymous_id
        self.position = position
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def wait(self, seconds: float) -> bool:
        """Until woken or ``seconds`` pass; True if woken. A wake-up that came while the
        stream was reading is not lost: the event stays set until the next wait."""
        try:
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        except TimeoutError:
            return False
        finally:
            self._wake.clear()
        return True


class StreamHub:
    def __init__(self, readers: async_sessionmaker[AsyncSession], poll_seconds: float) -> None:
        self.readers = readers
        self.poll_seconds = poll_seconds
        self._subscribers: defaultdict[str, set[Subscription]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None

    @contextlib.contextmanager
    def subscribe(self, anonymous_id: str, position: int) -> Iterator[Subscription]:
        subscription = Subscription(anonymous_id, position)
        self._subscribers[anonymous_id].add(subscription)
        try:
            yield subscription
        finally:
            waiting = self._subscribers.get(anonymous_id)
            if waiting is not None:
                waiting.discard(subscription)
                if not waiting:
                    del self._subscribers[anonymous_id]

    @property
    def open_streams(self) -> int:
        return sum(len(waiting) for waiting in self._subscribers.values())

    def publish(self, anonymous_id: str) -> None:
        for subscription in self._subscribers.get(anonymous_id, ()):
            subscription.wake()

    async def poll_once(self) -> None:
        """Wake every stream whose visitor has entries it has not sent yet."""
        visitors = list(self._subscribers)
        for start in range(0, len(visitors), _POLL_CHUNK):
            async with self.readers() as session:
                seqs = await last_seqs(
                    await session.connection(), visitors[start : start + _POLL_CHUNK]
                )
            for anonymous_id, last in seqs.items():
                for subscription in self._subscribers.get(anonymous_id, ()):
                    if last > subscription.position:
                        subscription.wake()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="webchat-poll")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for waiting in self._subscribers.values():
            for subscription in waiting:
                subscription.wake()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            if not self._subscribers:
                continue
            try:
                await self.poll_once()
            except Exception:
                log.exception("webchat.poll_failed")
