"""The oracle's notion of now, injected so tests and demos can move it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

__all__ = ["Clock", "offset_clock", "utc_now"]

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def offset_clock(offset: timedelta, base: Clock = utc_now) -> Clock:
    """A clock ``offset`` away from ``base`` (a restart with the clock moved back)."""
    if not offset:
        return base

    def _now() -> datetime:
        return base() + offset

    return _now
