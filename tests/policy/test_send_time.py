"""Send time: the customer's own engagement hours, shrunk towards the shop's local hours."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, time, timedelta

import pytest

from policy.guardrails import QuietHours
from policy.send_time import MIN_SHOP_EVENTS, HourProfile, choose_send_time, shop_hours

NY = zoneinfo.ZoneInfo("America/New_York")
QUIET = QuietHours()  # 21:00-09:00 local


def test_send_time_prefers_the_customers_hour_within_allowed_hours() -> None:
    hours = [0] * 24
    hours[23] = 40  # 18:00 in New York (UTC-5 in November)
    hours[3] = 100  # 22:00 in New York: quiet, never chosen
    earliest = datetime(2026, 11, 17, 14, 20, tzinfo=UTC)  # 09:20 in New York
    choice = choose_send_time(hours, NY, QUIET, earliest)
    assert choice.send_at == datetime(2026, 11, 17, 23, 0, tzinfo=UTC)
    assert choice.local_hour == 18
    assert "40 of 140" in choice.reason


def test_without_history_the_first_allowed_hour_wins() -> None:
    earliest = datetime(2026, 11, 18, 3, 30, tzinfo=UTC)  # 22:30 in New York: quiet
    choice = choose_send_time([0] * 24, NY, QUIET, earliest)
    assert choice.send_at == datetime(2026, 11, 18, 14, 0, tzinfo=UTC)  # 09:00 New York
    assert choice.reason.startswith("no engagement history")


def test_waiting_is_discounted() -> None:
    hours = [5] * 24
    hours[(14 + 20) % 24] = 8  # a slightly better hour 20 hours later
    earliest = datetime(2026, 11, 17, 14, 0, tzinfo=UTC)
    choice = choose_send_time(hours, NY, QUIET, earliest)
    assert choice.send_at == earliest  # not worth the wait


def test_quiet_hours_covering_the_horizon_is_an_error() -> None:
    only_eight_to_nine = QuietHours(start=time(9, 0), end=time(8, 0))
    earliest = datetime(2026, 11, 17, 14, 30, tzinfo=UTC)  # 09:30 in New York
    with pytest.raises(ValueError, match="no allowed hour"):
        choose_send_time([0] * 24, NY, only_eight_to_nine, earliest, timedelta(hours=22))
    allowed = choose_send_time([0] * 24, NY, only_eight_to_nine, earliest, timedelta(hours=24))
    assert allowed.local_hour == 8


TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")
AT = datetime(2026, 11, 17, 12, 0, tzinfo=UTC)


def _at_local(hour: int, zone: zoneinfo.ZoneInfo, count: int) -> list[int]:
    hours = [0] * 24
    utc_hour = datetime(2026, 11, 17, hour, tzinfo=zone).astimezone(UTC).hour
    hours[utc_hour] = count
    return hours


def test_the_shop_profile_is_in_local_hours_across_zones() -> None:
    profile = shop_hours([(_at_local(12, NY, 88), NY), (_at_local(12, TOKYO, 88), TOKYO)], AT)
    assert profile is not None
    assert profile.events == 176
    # 17:00 and 03:00 UTC are both noon where they were: half of it there, a quarter on either
    # side, and one pseudo-event for every hour.
    assert profile.shares[12] == pytest.approx(89 / 200)
    assert profile.shares[11] == profile.shares[13] == pytest.approx(45 / 200)
    assert profile.shares[17] == profile.shares[3] == pytest.approx(1 / 200)
    assert sum(profile.shares) == pytest.approx(1.0)


def test_a_young_shop_has_no_profile_yet() -> None:
    assert shop_hours([(_at_local(12, NY, MIN_SHOP_EVENTS - 1), NY)], AT) is None
    profile = shop_hours([(_at_local(12, NY, MIN_SHOP_EVENTS), NY)], AT)
    assert profile is not None
    assert profile.shares[12] == pytest.approx((MIN_SHOP_EVENTS / 2 + 1) / (MIN_SHOP_EVENTS + 24))


def _afternoon_shop() -> HourProfile:
    shares = [0.0] * 24
    for hour in range(10, 17):
        shares[hour] = 1 / 7
    return HourProfile(shares=shares, events=10_000)


def test_a_sparse_history_waits_for_the_hours_the_shop_reads() -> None:
    one_view = _at_local(10, NY, 1)
    evening = datetime(2026, 11, 18, 0, 30, tzinfo=UTC)  # 19:30 in New York
    alone = choose_send_time(one_view, NY, QUIET, evening)
    assert alone.send_at == evening  # by itself one view is too little to wait for
    shrunk = choose_send_time(one_view, NY, QUIET, evening, shop=_afternoon_shop())
    assert shrunk.send_at == datetime(2026, 11, 18, 15, 0, tzinfo=UTC)  # 10:00 the next day
    assert "of the shop's engagement" in shrunk.reason


def test_a_long_history_outweighs_the_shop() -> None:
    evenings = _at_local(19, NY, 60)
    afternoon = datetime(2026, 11, 17, 17, 0, tzinfo=UTC)  # 12:00 in New York
    choice = choose_send_time(evenings, NY, QUIET, afternoon, shop=_afternoon_shop())
    assert choice.local_hour == 19


def test_an_event_counts_for_the_neighbouring_hours() -> None:
    hours = _at_local(14, NY, 3)
    at_three = datetime(2026, 11, 17, 20, 0, tzinfo=UTC)  # 15:00 in New York, after the event
    choice = choose_send_time(hours, NY, QUIET, at_three)
    # Counted whole at 14:00 only, tomorrow's 14:00 would be worth the 23-hour wait.
    assert choice.send_at == at_three
    assert choice.score > 1 / (3 + 24)  # more than an hour with nothing near it


def _customers_at(hours: list[list[int]]) -> list[tuple[list[int], zoneinfo.ZoneInfo]]:
    return [(_at_local_many(h), NY) for h in hours]


def _at_local_many(local_hours: list[int]) -> list[int]:
    counts = [0] * 24
    for hour in local_hours:
        counts[datetime(2026, 11, 17, hour, tzinfo=NY).astimezone(UTC).hour] += 1
    return counts


def test_how_much_the_shop_counts_is_fitted_to_how_alike_customers_are() -> None:
    # Everyone reads over lunch, at 12 or 13: the shop's profile tells a lot about anyone.
    alike = shop_hours(_customers_at([[12, 13, 12, 13]] * 40), AT)
    # Each keeps hours of their own: the shop's profile says little about one of them.
    own_hours = shop_hours(_customers_at([[9 + i % 11] * 4 for i in range(40)]), AT)
    assert alike is not None and own_hours is not None
    assert own_hours.strength < 3 < 50 < alike.strength
