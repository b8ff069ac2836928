"""Input checks shared by the store's public functions: each raises a typed error, early."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tentenone.errors import InvalidInput
from tentenone.store.errors import PayloadTooLarge


def session(value: object) -> AsyncSession:
    if not isinstance(value, AsyncSession):
        raise InvalidInput(f"expected an AsyncSession, got {type(value).__name__}")
    return value


def text(name: str, value: object, *, max_len: int, required: bool = True) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string, got {type(value).__name__}")
    if required and not value.strip():
        raise InvalidInput(f"{name} must not be empty")
    if len(value) > max_len:
        raise InvalidInput(f"{name} is {len(value)} characters long; at most {max_len} allowed")
    return value


def optional_text(name: str, value: object, *, max_len: int) -> str | None:
    return None if value is None else text(name, value, max_len=max_len)


def event_id(value: object) -> str:
    """A UUID (object or text, any accepted spelling) in canonical text form."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value))
        except ValueError:
            pass
    raise InvalidInput(f"event id must be a UUID, got {value!r:.80}")


def json_text(name: str, value: object, *, max_bytes: int) -> str:
    """``value`` as compact JSON text; refuses what JSON cannot carry or what is too large."""
    try:
        encoded = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{name} is not JSON-serialisable: {exc}") from None
    size = len(encoded.encode())
    if size > max_bytes:
        raise PayloadTooLarge(
            f"{name} is {size} bytes as JSON; at most {max_bytes} allowed",
            size=size,
            limit=max_bytes,
        )
    return encoded


def mapping(name: str, value: object) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{name} must be a mapping, got {type(value).__name__}")
    for key in value:
        if not isinstance(key, str):
            raise InvalidInput(f"{name} keys must be strings, got {type(key).__name__}")
    return value


def positive_int(name: str, value: object, *, maximum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= maximum:
        raise InvalidInput(f"{name} must be an integer from 1 to {maximum}, got {value!r:.40}")
    return value


def non_negative_number(name: str, value: object) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not value >= 0:
        raise InvalidInput(f"{name} must be a number >= 0, got {value!r:.40}")
    return float(value)
