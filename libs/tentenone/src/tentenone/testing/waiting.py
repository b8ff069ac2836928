"""Wait for a condition with a deadline, instead of sleeping a guessed time."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, overload

__all__ = ["wait_until", "wait_until_sync"]


@overload
async def wait_until[T](
    predicate: Callable[[], Awaitable[T]],
    timeout: float = ...,  # noqa: ASYNC109 - the deadline is the point
    *,
    interval: float = ...,
    what: str | None = ...,
) -> T: ...
@overload
async def wait_until[T](
    predicate: Callable[[], T],
    timeout: float = ...,  # noqa: ASYNC109
    *,
    interval: float = ...,
    what: str | None = ...,
) -> T: ...
async def wait_until(
    predicate: Callable[[], Any],
    timeout: float = 10.0,  # noqa: ASYNC109
    *,
    interval: float = 0.02,
    what: str | None = None,
) -> Any:
    """Poll ``predicate`` (sync or async) until it returns something truthy; return that.

    Raises ``TimeoutError`` naming ``what`` (or the predicate) after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what or _describe(predicate)} not true after {timeout} s")
        await asyncio.sleep(interval)


def wait_until_sync[T](
    predicate: Callable[[], T],
    timeout: float = 10.0,
    *,
    interval: float = 0.02,
    what: str | None = None,
) -> T:
    """:func:`wait_until` for synchronous code and predicates."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what or _describe(predicate)} not true after {timeout} s")
        time.sleep(interval)


def _describe(predicate: Callable[..., object]) -> str:
    return getattr(predicate, "__qualname__", repr(predicate))
