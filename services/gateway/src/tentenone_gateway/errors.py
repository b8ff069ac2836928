"""Errors the gateway itself raises (each a stable ``code``; problem+json on the wire)."""

from __future__ import annotations

from typing import Any

from tentenone.errors import InvalidInput, PayloadTooLarge, TentenoneError, Unavailable

__all__ = [
    "ChallengeInvalid",
    "PayloadTooLarge",
    "RateLimited",
    "SignatureInvalid",
    "TokenInvalid",
    "Unauthenticated",
    "UnsupportedMediaType",
    "UpstreamUnavailable",
]


class Unauthenticated(TentenoneError):
    """No session token, or one that is not (or no longer) valid."""

    code = "unauthenticated"
    http_status = 401


class TokenInvalid(Unauthenticated):
    """A bearer token that is unknown, expired or revoked."""

    code = "token_invalid"


class ChallengeInvalid(Unauthenticated):
    """A challenge that is unknown, used already, expired, or for another key."""

    code = "challenge_invalid"


class SignatureInvalid(Unauthenticated):
    """The challenge signature does not verify under the claimed key."""

    code = "signature_invalid"


class RateLimited(TentenoneError):
    """Too many requests from this address or key; retry after ``retry_after_s``."""

    code = "rate_limited"
    http_status = 429

    def __init__(self, message: str, retry_after_s: int, **details: Any) -> None:
        super().__init__(message, retry_after_s=retry_after_s, **details)
        self.retry_after_s = retry_after_s


class UnsupportedMediaType(InvalidInput):
    code = "unsupported_media_type"
    http_status = 415


class UpstreamUnavailable(Unavailable):
    """The service behind a route is not running (or not serving this call)."""

    code = "upstream_unavailable"
