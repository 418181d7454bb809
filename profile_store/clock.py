"""The one clock production code reads.

Quiet hours, caps, windows, leases and timers all depend on "now", so "now" comes from here and
nowhere else: ``clock.now()``. Production runs on the system clock; tests and the market
simulator install another one with :func:`use_clock`, so the same code runs at any hour of any
day, and a simulated month passes in seconds.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """Stands still until moved: for a test that wants one exact moment, or a simulation that
    steps time forward itself."""

    def __init__(self, at: datetime) -> None:
        self._at = _aware(at)

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        self._at = _aware(at)

    def advance(self, delta: timedelta) -> None:
        self._at += delta


class ShiftedClock:
    """Runs at real speed from a chosen moment: time passes (leases end, polls come round), but
    the hour of day is the one chosen, whatever the wall clock says."""

    def __init__(self, start: datetime) -> None:
        self.set(start)

    def now(self) -> datetime:
        return self._start + timedelta(seconds=time.monotonic() - self._origin)

    def set(self, at: datetime) -> None:
        self._start = _aware(at)
        self._origin = time.monotonic()

    def advance(self, delta: timedelta) -> None:
        self._start += delta


_current: Clock = SystemClock()
C = TypeVar("C", bound=Clock)


def now() -> datetime:
    return _current.now()


def current() -> Clock:
    return _current


def install(clock: Clock) -> Clock:
    """Make ``clock`` the clock; returns the one it replaces."""
    global _current
    previous, _current = _current, clock
    return previous


@contextmanager
def use_clock(clock: C) -> Iterator[C]:
    previous = install(clock)
    try:
        yield clock
    finally:
        install(previous)


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("the clock keeps timezone-aware UTC times")
    return at.astimezone(UTC)
