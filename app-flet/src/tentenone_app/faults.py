"""What an error means for the trader: the project's error codes in plain words.

Every failure the app shows comes from a ``TentenoneError`` (the library's,
or a gateway problem+json turned back into one): its code picks the advice,
its message says what exactly was wrong.
"""

from __future__ import annotations

from tentenone.errors import TentenoneError

__all__ = ["describe"]

_ADVICE = {
    "invalid_input": "Check the values and try again.",
    "not_found": "It no longer exists; the list is refreshed.",
    "conflict": "Something changed meanwhile; look again and retry.",
    "invalid_transition": "That step is not possible in this state.",
    "permission_denied": "Not allowed with this key.",
    "unauthorized": "Signing in again may help.",
    "rate_limited": "Too many requests: wait a moment.",
    "unavailable": "The coordinator or the chain cannot be reached: the app retries.",
    "timeout": "No answer in time: the app retries.",
    "protocol_error": "The other side sent something invalid; nothing was signed.",
    "keystore_wrong_passphrase": "Type the passphrase again (it is case-sensitive).",
    "keystore_corrupt": "The key file is damaged: restore from your words.",
    "keystore_exists": "A wallet already exists here: unlock it instead.",
    "keystore_missing": "No wallet yet: create one or restore from words.",
    "backup_corrupt": "That backup cannot be read with these words.",
    "backup_stale": "The backup is older than the coordinator's state: use a newer one.",
    "trader_offer_refused": "The coordinator's offer did not match your order; nothing was signed.",
    "gateway_unavailable": "The coordinator cannot be reached: the app retries.",
    "config_error": "Check the settings.",
}


def describe(exc: BaseException) -> str:
    """One or two sentences for the trader, starting with what was wrong."""
    if isinstance(exc, TentenoneError):
        advice = _ADVICE.get(exc.code) or _family_advice(exc)
        text = f"{exc.message} ({exc.code})"
        return f"{text}. {advice}" if advice else text
    return f"Unexpected error: {type(exc).__name__}: {exc}"


def _family_advice(exc: TentenoneError) -> str:
    for cls in type(exc).__mro__[1:]:
        code = getattr(cls, "code", None)
        if isinstance(code, str) and code in _ADVICE:
            return _ADVICE[code]
    return ""
