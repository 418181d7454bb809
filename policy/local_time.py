"""The customer's own timezone: stored on the profile, else inferred from the phone number."""

from __future__ import annotations

import functools
import zoneinfo
from datetime import datetime, time, timedelta

import phonenumbers
from phonenumbers import timezone as phone_timezones

from profile_store import clock


def customer_zone(stored: str | None, phone: str | None, default: str) -> zoneinfo.ZoneInfo:
    # ``or`` on purpose: the phone is parsed only when no valid zone is stored.
    return _valid(stored) or _valid(_zone_of_phone(phone)) or _valid(default) or _zone("UTC")


def _valid(name: str | None) -> zoneinfo.ZoneInfo | None:
    if not name:
        return None
    try:
        return _zone(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


@functools.cache
def _zone(name: str) -> zoneinfo.ZoneInfo:
    """ZoneInfo keeps only a few zones alive; a number spanning many (+1 alone spans dozens)
    would otherwise re-read their files at each look (a few hundred names in all)."""
    return zoneinfo.ZoneInfo(name)


def _zone_of_phone(phone: str | None) -> str | None:
    """The zone of the number's area, when every zone it could be in shows the same time.

    A number's prefix narrows the zone (+1 212 is New York); a bare country code may not (+1
    alone spans many zones), and then we do not guess.
    """
    if not phone:
        return None
    try:
        number = phonenumbers.parse(phone)
    except phonenumbers.NumberParseException:
        return None
    zones = [
        z
        for z in phone_timezones.time_zones_for_geographical_number(number)
        if z != phone_timezones.UNKNOWN_TIMEZONE
    ]
    now = clock.now()
    offsets = set()
    for name in zones:
        try:
            offsets.add(now.astimezone(_zone(name)).utcoffset())
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return None
    return zones[0] if len(offsets) == 1 else None


def in_window(local: time, start: time, end: time) -> bool:
    """Whether ``local`` falls in [start, end), where the window may wrap past midnight."""
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end


def next_local(at: datetime, zone: zoneinfo.ZoneInfo, wanted: time) -> datetime:
    """The first moment at or after ``at`` when the local clock in ``zone`` shows ``wanted``."""
    local = at.astimezone(zone)
    candidate = local.replace(hour=wanted.hour, minute=wanted.minute, second=0, microsecond=0)
    if candidate < local:
        candidate = (local + timedelta(days=1)).replace(
            hour=wanted.hour, minute=wanted.minute, second=0, microsecond=0
        )
    return candidate.astimezone(at.tzinfo)
