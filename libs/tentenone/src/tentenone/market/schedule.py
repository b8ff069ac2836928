"""The expiry schedule: when contracts mature and which oracle event settles each.

Every expiry is ``anchor + k * period`` for an integer ``k``. In production the
period is one week and the anchor a weekday and time in UTC (Friday 08:00 by
default); in demo mode the period is a few minutes, aligned to the Unix epoch,
so a whole position life cycle fits in a short session. The order book, the
DLC service and the oracle build the same schedule from the same setting
(``TENTENONE_EXPIRY_SCHEDULE``), so they agree on expiries and event ids
without asking each other.

Schedule specs (``ExpirySchedule.parse``):

- ``weekly:fri@08:00``: every week on that weekday at that UTC time;
- ``every:300s`` (or ``every:5m``): every N seconds/minutes since the epoch.

Event ids take the shape p2pderivatives' oracle made familiar: the symbol
followed by the expiry in Unix seconds, e.g. ``btcusd1764316800``. The id
alone tells a client the maturity, with no time zone to get wrong.

Public names: ``ExpirySchedule`` (``weekly``, ``every``, ``parse``, ``spec``,
``at_or_after``, ``next_after``, ``last_at_or_before``, ``upcoming``,
``is_expiry``, ``event_id``, ``expiry_of``), ``DEFAULT_SPEC``, ``DEMO_SPEC``,
errors ``InvalidSchedule`` and ``InvalidEventId``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tentenone.errors import InvalidInput

__all__ = [
    "DEFAULT_SPEC",
    "DEFAULT_SYMBOL",
    "DEMO_SPEC",
    "ExpirySchedule",
    "InvalidEventId",
    "InvalidSchedule",
]

DEFAULT_SPEC = "weekly:fri@08:00"
DEMO_SPEC = "every:300s"
DEFAULT_SYMBOL = "btcusd"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_WEEK_S = 7 * 24 * 3600
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SYMBOL_RE = re.compile(r"[a-z]{2,16}")
_WEEKLY_RE = re.compile(r"weekly:(mon|tue|wed|thu|fri|sat|sun)@([01]\d|2[0-3]):([0-5]\d)")
_EVERY_RE = re.compile(r"every:([1-9]\d{0,6})([sm])")
# Ten digits cover every second until the year 2286; a u32 maturity (dlcspecs'
# event_maturity_epoch) ends in 2106 anyway.
_EVENT_ID_MAX_DIGITS = 10
_U32_MAX = 2**32 - 1


class InvalidSchedule(InvalidInput):
    """A schedule spec or parameter that does not describe a schedule."""

    code = "invalid_schedule"


class InvalidEventId(InvalidInput):
    """An event id that is malformed or names no expiry of this schedule."""

    code = "invalid_event_id"


@dataclass(frozen=True, slots=True)
class ExpirySchedule:
    """Expiries at ``anchor_s + k * period_s`` (Unix seconds, any integer k)."""

    period_s: int
    anchor_s: int
    symbol: str = DEFAULT_SYMBOL

    def __post_init__(self) -> None:
        if not isinstance(self.period_s, int) or self.period_s < 1:
            raise InvalidSchedule(
                f"period must be a positive whole number of seconds, got {self.period_s!r}"
            )
        if not isinstance(self.anchor_s, int):
            raise InvalidSchedule(f"anchor must be whole Unix seconds, got {self.anchor_s!r}")
        if not isinstance(self.symbol, str) or not _SYMBOL_RE.fullmatch(self.symbol):
            raise InvalidSchedule(f"symbol must be 2-16 lowercase letters, got {self.symbol!r}")

    # -- construction -------------------------------------------------------

    @classmethod
    def weekly(
        cls, weekday: int = 4, hour: int = 8, minute: int = 0, symbol: str = DEFAULT_SYMBOL
    ) -> ExpirySchedule:
        """Every week on ``weekday`` (0 = Monday) at ``hour:minute`` UTC."""
        if weekday not in range(7) or hour not in range(24) or minute not in range(60):
            raise InvalidSchedule(
                f"weekly schedule needs weekday 0-6, hour 0-23, minute 0-59; "
                f"got {weekday!r}, {hour!r}, {minute!r}"
            )
        # 1970-01-01 was a Thursday (weekday 3).
        days = (weekday - _EPOCH.weekday()) % 7
        return cls(_WEEK_S, days * 86400 + hour * 3600 + minute * 60, symbol)

    @classmethod
    def every(cls, seconds: int, symbol: str = DEFAULT_SYMBOL) -> ExpirySchedule:
        """Every ``seconds``, aligned to the Unix epoch (demo mode)."""
        return cls(seconds, 0, symbol)

    @classmethod
    def parse(cls, spec: str, symbol: str = DEFAULT_SYMBOL) -> ExpirySchedule:
        """A schedule from ``weekly:fri@08:00`` or ``every:300s`` / ``every:5m``."""
        text = spec.strip().lower() if isinstance(spec, str) else ""
        if m := _WEEKLY_RE.fullmatch(text):
            return cls.weekly(_WEEKDAYS.index(m[1]), int(m[2]), int(m[3]), symbol)
        if m := _EVERY_RE.fullmatch(text):
            return cls.every(int(m[1]) * (60 if m[2] == "m" else 1), symbol)
        raise InvalidSchedule(
            f"expiry schedule {spec!r} is not 'weekly:<mon..sun>@HH:MM' or 'every:<N>s|<N>m'"
        )

    @property
    def spec(self) -> str:
        """The spec string ``parse`` turns back into this schedule."""
        if self.period_s == _WEEK_S:
            day, rest = divmod(self.anchor_s % _WEEK_S, 86400)
            weekday = (_EPOCH.weekday() + day) % 7
            if rest % 60 == 0:
                return f"weekly:{_WEEKDAYS[weekday]}@{rest // 3600:02d}:{rest % 3600 // 60:02d}"
        if self.anchor_s % self.period_s == 0:
            return f"every:{self.period_s}s"
        raise InvalidSchedule(
            f"schedule period={self.period_s}s anchor={self.anchor_s} has no spec"
        )

    @property
    def period(self) -> timedelta:
        return timedelta(seconds=self.period_s)

    # -- expiries -----------------------------------------------------------

    def at_or_after(self, when: datetime) -> datetime:
        """The first expiry at or after ``when``."""
        micros = _micros_since_anchor(self, when)
        period_us = self.period_s * 1_000_000
        k = -(-micros // period_us)  # ceiling division
        return self._expiry(k)

    def next_after(self, when: datetime) -> datetime:
        """The first expiry strictly after ``when``."""
        micros = _micros_since_anchor(self, when)
        k = micros // (self.period_s * 1_000_000) + 1
        return self._expiry(k)

    def last_at_or_before(self, when: datetime) -> datetime:
        """The latest expiry at or before ``when``."""
        micros = _micros_since_anchor(self, when)
        k = micros // (self.period_s * 1_000_000)
        return self._expiry(k)

    def upcoming(
        self, now: datetime, count: int, min_lead: timedelta = timedelta(0)
    ) -> list[datetime]:
        """``count`` expiries, the first one strictly after ``now + min_lead``."""
        if not isinstance(count, int) or count < 0:
            raise InvalidSchedule(f"count must be a non-negative integer, got {count!r}")
        if min_lead < timedelta(0):
            raise InvalidSchedule(f"min_lead must not be negative, got {min_lead}")
        first = self.next_after(now + min_lead)
        return [first + i * self.period for i in range(count)]

    def is_expiry(self, when: datetime) -> bool:
        micros = _micros_since_anchor(self, when)
        return micros % (self.period_s * 1_000_000) == 0

    # -- event ids ----------------------------------------------------------

    def event_id(self, expiry: datetime) -> str:
        """The oracle event id of ``expiry``, e.g. ``btcusd1764316800``."""
        if not self.is_expiry(expiry):
            raise InvalidSchedule(f"{expiry.isoformat()} is not an expiry of {self._describe()}")
        epoch = _micros_since_epoch(expiry) // 1_000_000
        if not 0 <= epoch <= _U32_MAX:
            raise InvalidSchedule(f"{expiry.isoformat()} is outside dlcspecs' u32 maturity range")
        return f"{self.symbol}{epoch}"

    def expiry_of(self, event_id: str) -> datetime:
        """The expiry an event id names; ``InvalidEventId`` when it names none."""
        if not isinstance(event_id, str):
            raise InvalidEventId(f"event id must be a string, got {type(event_id).__name__}")
        digits = event_id[len(self.symbol) :]
        if (
            not event_id.startswith(self.symbol)
            or not digits.isascii()
            or not digits.isdigit()
            or len(digits) > _EVENT_ID_MAX_DIGITS
            or (len(digits) > 1 and digits[0] == "0")
        ):
            raise InvalidEventId(
                f"event id {event_id[:80]!r} is not {self.symbol!r} followed by Unix seconds",
                event_id=event_id[:80],
            )
        expiry = _EPOCH + timedelta(seconds=int(digits))
        if int(digits) > _U32_MAX or not self.is_expiry(expiry):
            raise InvalidEventId(
                f"event id {event_id!r} names {expiry.isoformat()}, "
                f"which is not an expiry of {self._describe()}",
                event_id=event_id,
            )
        return expiry

    def _describe(self) -> str:
        try:
            return self.spec
        except InvalidSchedule:
            return repr(self)

    def _expiry(self, k: int) -> datetime:
        return _EPOCH + timedelta(seconds=self.anchor_s + k * self.period_s)


def _micros_since_epoch(when: datetime) -> int:
    if not isinstance(when, datetime):
        raise InvalidSchedule(f"expected a datetime, got {type(when).__name__}")
    if when.tzinfo is None or when.utcoffset() is None:
        raise InvalidSchedule(f"datetime {when.isoformat()} has no time zone; use UTC")
    return (when - _EPOCH) // timedelta(microseconds=1)


def _micros_since_anchor(schedule: ExpirySchedule, when: datetime) -> int:
    return _micros_since_epoch(when) - schedule.anchor_s * 1_000_000
