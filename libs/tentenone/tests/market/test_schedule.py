from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tentenone.errors import InvalidInput
from tentenone.market.schedule import (
    DEFAULT_SPEC,
    DEMO_SPEC,
    ExpirySchedule,
    InvalidEventId,
    InvalidSchedule,
)

FRI = datetime(2025, 11, 28, 8, 0, tzinfo=UTC)  # a Friday
WEEK = timedelta(days=7)


@pytest.fixture
def weekly() -> ExpirySchedule:
    return ExpirySchedule.parse(DEFAULT_SPEC)


def test_default_is_friday_0800_utc(weekly: ExpirySchedule) -> None:
    assert FRI.weekday() == 4
    assert weekly.is_expiry(FRI)
    assert not weekly.is_expiry(FRI + timedelta(hours=1))
    assert not weekly.is_expiry(FRI + timedelta(days=1))
    assert weekly.is_expiry(FRI - 52 * WEEK)


def test_boundaries(weekly: ExpirySchedule) -> None:
    tiny = timedelta(microseconds=1)
    assert weekly.at_or_after(FRI) == FRI
    assert weekly.at_or_after(FRI - tiny) == FRI
    assert weekly.at_or_after(FRI + tiny) == FRI + WEEK
    assert weekly.next_after(FRI) == FRI + WEEK
    assert weekly.next_after(FRI - tiny) == FRI
    assert weekly.last_at_or_before(FRI) == FRI
    assert weekly.last_at_or_before(FRI - tiny) == FRI - WEEK
    thursday = FRI - timedelta(days=1)
    assert weekly.next_after(thursday) == FRI


def test_upcoming_the_next_four(weekly: ExpirySchedule) -> None:
    now = FRI - timedelta(days=2)
    assert weekly.upcoming(now, 4) == [FRI + i * WEEK for i in range(4)]
    # At the expiry itself, that expiry is no longer upcoming.
    assert weekly.upcoming(FRI, 1) == [FRI + WEEK]
    # A minimum lead skips an expiry too close to trade.
    assert weekly.upcoming(FRI - timedelta(hours=1), 1, min_lead=timedelta(days=1)) == [FRI + WEEK]
    assert weekly.upcoming(now, 0) == []


def test_other_time_zones_mean_the_same_instant(weekly: ExpirySchedule) -> None:
    cet = timezone(timedelta(hours=1))
    assert weekly.is_expiry(FRI.astimezone(cet))
    assert weekly.next_after(datetime(2025, 11, 28, 8, 59, tzinfo=cet)) == FRI


def test_naive_datetime_rejected(weekly: ExpirySchedule) -> None:
    with pytest.raises(InvalidSchedule, match="no time zone"):
        weekly.next_after(datetime(2025, 11, 28, 8, 0))
    with pytest.raises(InvalidSchedule, match="expected a datetime"):
        weekly.next_after("2025-11-28")  # type: ignore[arg-type]


def test_demo_mode_every_few_minutes() -> None:
    demo = ExpirySchedule.parse(DEMO_SPEC)
    assert demo.period == timedelta(minutes=5)
    now = datetime(2025, 11, 28, 8, 1, 30, tzinfo=UTC)
    assert demo.upcoming(now, 3) == [
        datetime(2025, 11, 28, 8, 5, tzinfo=UTC),
        datetime(2025, 11, 28, 8, 10, tzinfo=UTC),
        datetime(2025, 11, 28, 8, 15, tzinfo=UTC),
    ]
    assert ExpirySchedule.parse("every:2m") == ExpirySchedule.every(120)


@pytest.mark.parametrize(
    "spec", ["weekly:fri@08:00", "weekly:mon@00:00", "weekly:sun@23:59", "every:1s", "every:300s"]
)
def test_spec_round_trip(spec: str) -> None:
    assert ExpirySchedule.parse(spec).spec == spec


def test_weekly_weekday_lands_on_that_day() -> None:
    for weekday in range(7):
        s = ExpirySchedule.weekly(weekday, 13, 30)
        e = s.next_after(FRI)
        assert (e.weekday(), e.hour, e.minute) == (weekday, 13, 30)


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "weekly",
        "weekly:fri",
        "weekly:fri@24:00",
        "weekly:xyz@08:00",
        "every:0s",
        "every:5h",
        "every:-5s",
        "daily:08:00",
        "every:10000000s",
    ],
)
def test_bad_specs(spec: str) -> None:
    with pytest.raises(InvalidSchedule, match="is not"):
        ExpirySchedule.parse(spec)


def test_bad_constructor_arguments() -> None:
    with pytest.raises(InvalidSchedule, match="period"):
        ExpirySchedule(0, 0)
    with pytest.raises(InvalidSchedule, match="symbol"):
        ExpirySchedule.every(60, symbol="BTC/USD")
    with pytest.raises(InvalidSchedule, match="weekday"):
        ExpirySchedule.weekly(7)
    with pytest.raises(InvalidSchedule, match="count"):
        ExpirySchedule.every(60).upcoming(FRI, -1)
    assert issubclass(InvalidSchedule, InvalidInput)


def test_event_id_round_trip(weekly: ExpirySchedule) -> None:
    eid = weekly.event_id(FRI)
    assert eid == f"btcusd{int(FRI.timestamp())}" == "btcusd1764316800"
    assert weekly.expiry_of(eid) == FRI
    with pytest.raises(InvalidSchedule, match="not an expiry"):
        weekly.event_id(FRI + timedelta(seconds=1))


@pytest.mark.parametrize(
    "eid",
    [
        "",
        "btcusd",
        "btcusd-1764316800",
        "ethusd1764316800",
        "btcusd01764316800",
        "btcusd1764316801",
        "btcusd\uff11\uff17\uff16\uff14\uff13\uff11\uff16\uff18\uff10\uff10",  # full-width digits
        "btcusd99999999999",
        "BTCUSD1764316800",
        "btcusd1764316800 ",
        "btcusd4294967296",
    ],
)
def test_malformed_event_ids(weekly: ExpirySchedule, eid: str) -> None:
    with pytest.raises(InvalidEventId) as info:
        weekly.expiry_of(eid)
    assert info.value.code == "invalid_event_id"


@given(st.text(max_size=40))
def test_arbitrary_text_is_a_typed_error_or_an_expiry(text: str) -> None:
    weekly = ExpirySchedule.parse(DEFAULT_SPEC)
    try:
        expiry = weekly.expiry_of(text)
    except InvalidEventId:
        return
    assert weekly.event_id(expiry) == text


@given(
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1)),
    st.integers(1, 14 * 86400),
)
def test_expiry_properties(naive: datetime, period: int) -> None:
    when = naive.replace(tzinfo=UTC)
    s = ExpirySchedule.every(period)
    nxt = s.next_after(when)
    prev = s.last_at_or_before(when)
    assert s.is_expiry(nxt) and s.is_expiry(prev)
    assert prev <= when < nxt
    assert nxt - prev == s.period
    assert s.at_or_after(when) == (when if s.is_expiry(when) else nxt)
