"""JSON logs with a correlation id that follows a request across services.

The id lives in a context variable. The HTTP middleware and the bus set it
from the incoming ``X-Correlation-Id`` header (or AMQP header
``correlation_id``) and copy it onto everything they send, so one trade can be
followed through gateway, order book and DLC service by grepping one id.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

__all__ = [
    "CORRELATION_HEADER",
    "JsonFormatter",
    "bind_correlation_id",
    "configure_logging",
    "get_correlation_id",
    "get_logger",
    "new_correlation_id",
]

CORRELATION_HEADER = "x-correlation-id"

_correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "tentenone_correlation_id", default=None
)
_service: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "tentenone_service", default=None
)

# Attributes every LogRecord has; anything else was passed in ``extra=`` and is logged.
_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def get_correlation_id() -> str | None:
    return _correlation_id.get()


@contextlib.contextmanager
def bind_correlation_id(cid: str | None = None, service: str | None = None) -> Iterator[str]:
    """Set the correlation id (a new one when ``cid`` is None) for the block."""
    value = cid or new_correlation_id()
    token = _correlation_id.set(value)
    stoken = _service.set(service) if service is not None else None
    try:
        yield value
    finally:
        _correlation_id.reset(token)
        if stoken is not None:
            _service.reset(stoken)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, correlation id, extras."""

    def __init__(self, service: str | None = None) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        service = _service.get() or self._service
        if service:
            entry["service"] = service
        cid = _correlation_id.get()
        if cid:
            entry["correlation_id"] = cid
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        cid = _correlation_id.get()
        return f"{base} [cid={cid}]" if cid else base


def configure_logging(
    service: str | None = None, level: str = "INFO", json_logs: bool = True
) -> None:
    """Route the root logger to stderr, as JSON lines or readable text."""
    handler = logging.StreamHandler(sys.stderr)
    if json_logs:
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(_TextFormatter("%(asctime)s %(levelname)-5s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiormq", "aio_pika", "asyncio", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name)
