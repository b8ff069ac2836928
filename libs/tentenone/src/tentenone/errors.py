"""One error hierarchy for the whole project.

Every error has a stable machine-readable ``code`` (used in HTTP problem+json
bodies, RPC error replies and logs) and a message that says what was wrong.
Packages subclass the family that fits and give it its own code.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "ConfigError",
    "ConflictError",
    "InvalidInput",
    "InvalidTransition",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "ProtocolError",
    "RemoteError",
    "TentenoneError",
    "Unavailable",
    "error_class_for_code",
]


class TentenoneError(Exception):
    """Root of every error the project raises on purpose."""

    code: ClassVar[str] = "internal"
    #: HTTP status the gateway maps this family to.
    http_status: ClassVar[int] = 500

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class InvalidInput(TentenoneError):
    """The caller sent something malformed or out of range; nothing was changed."""

    code = "invalid_input"
    http_status = 422


class PayloadTooLarge(InvalidInput):
    """A body, message or payload is larger than the receiver accepts; nothing was stored."""

    code = "payload_too_large"
    http_status = 413


class NotFound(TentenoneError):
    code = "not_found"
    http_status = 404


class ConflictError(TentenoneError):
    """The request is well formed but conflicts with the current state."""

    code = "conflict"
    http_status = 409


class InvalidTransition(ConflictError):
    """A state machine was asked for a transition its table forbids."""

    code = "invalid_transition"


class PermissionDenied(TentenoneError):
    code = "permission_denied"
    http_status = 403


class ProtocolError(TentenoneError):
    """A counterparty's protocol message broke a rule of the spec."""

    code = "protocol_error"
    http_status = 422


class Unavailable(TentenoneError):
    """A dependency (broker, database, chain source, peer) cannot be reached."""

    code = "unavailable"
    http_status = 503


class ConfigError(TentenoneError):
    code = "config_error"


class RemoteError(TentenoneError):
    """An error raised by a remote service and carried back over RPC.

    ``remote_code`` is the code the remote side raised; ``code`` stays stable
    so callers can catch remote failures as one family. ``remote_status`` is
    the HTTP status the remote side's error maps to, when it said (None for
    a peer that is not a tentenone service).
    """

    code = "remote_error"
    http_status = 502

    def __init__(self, message: str, remote_code: str, **details: Any) -> None:
        super().__init__(message, remote_code=remote_code, **details)
        self.remote_code = remote_code

    @property
    def remote_status(self) -> int | None:
        status = self.details.get("remote_status")
        return status if isinstance(status, int) and not isinstance(status, bool) else None


def _all_subclasses(cls: type[TentenoneError]) -> list[type[TentenoneError]]:
    out: list[type[TentenoneError]] = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_all_subclasses(sub))
    return out


def error_class_for_code(code: str) -> type[TentenoneError] | None:
    """The error class registered for ``code`` (the first defined wins)."""
    if code == TentenoneError.code:
        return TentenoneError
    for sub in _all_subclasses(TentenoneError):
        if sub.code == code:
            return sub
    return None
