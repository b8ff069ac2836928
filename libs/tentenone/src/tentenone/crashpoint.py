"""Named kill points for crash tests.

``crashpoint("dlc.coordinator.offer.after_save")`` does nothing unless the
environment variable ``TENTENONE_CRASH_AT`` names that point; then the process
sends itself SIGKILL on the spot, as a power cut would. Crash tests start a
real process with the variable set, let it die there, restart it without the
variable and check that the flow completes (or refunds) with no sat lost.

Every point is declared once, in :data:`REGISTRY`, with the flow and step it
belongs to and a sentence saying where it is; calling an undeclared name
raises, so the table the end-to-end tests print (``python -m
tentenone.crashpoint``) is always the whole list. Names are
``dlc.<role>.<flow>.<step>``; the trader side declares its own with
:func:`declare` (role ``trader``) in its own module.

``TENTENONE_CRASH_AT`` may name several points separated by commas, and
``TENTENONE_CRASH_SKIP=N`` lets the first N hits of the point pass (to kill
the second of two similar steps).
"""

from __future__ import annotations

import os
import signal
import sys
from dataclasses import dataclass

from tentenone.errors import InvalidInput

__all__ = [
    "CRASH_AT_ENV",
    "CRASH_SKIP_ENV",
    "REGISTRY",
    "CrashPoint",
    "UnknownCrashPoint",
    "crashpoint",
    "declare",
    "points",
]

CRASH_AT_ENV = "TENTENONE_CRASH_AT"
CRASH_SKIP_ENV = "TENTENONE_CRASH_SKIP"


class UnknownCrashPoint(InvalidInput):
    """A crash point was hit (or declared twice) that the registry does not allow."""

    code = "unknown_crash_point"


@dataclass(frozen=True, slots=True)
class CrashPoint:
    name: str
    role: str
    flow: str
    step: str
    where: str


#: every declared point by name
REGISTRY: dict[str, CrashPoint] = {}
_hits: dict[str, int] = {}


def declare(name: str, where: str) -> CrashPoint:
    """Declare ``name`` (``dlc.<role>.<flow>.<step>``) with a sentence saying where it is."""
    parts = name.split(".")
    if len(parts) != 4 or not all(parts):
        raise UnknownCrashPoint(f"crash point {name!r} is not <area>.<role>.<flow>.<step>")
    known = REGISTRY.get(name)
    if known is not None and known.where != where:
        raise UnknownCrashPoint(f"crash point {name!r} is declared twice")
    point = CrashPoint(name, parts[1], parts[2], parts[3], where)
    REGISTRY[name] = point
    return point


def points(role: str | None = None) -> list[CrashPoint]:
    """The declared points (of ``role``), sorted by name."""
    return sorted(
        (p for p in REGISTRY.values() if role is None or p.role == role), key=lambda p: p.name
    )


def crashpoint(name: str) -> None:
    """SIGKILL this process here if ``TENTENONE_CRASH_AT`` names ``name``."""
    if name not in REGISTRY:
        raise UnknownCrashPoint(f"crash point {name!r} is not declared")
    wanted = os.environ.get(CRASH_AT_ENV)
    if not wanted or name not in wanted.split(","):
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] <= int(os.environ.get(CRASH_SKIP_ENV, "0") or 0):
        return
    # Say where we die on stderr (tests wait for it), then die without cleanup.
    sys.stderr.write(f"crashpoint: killed at {name}\n")
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _declare_coordinator() -> None:
    """The coordinator's points (services/dlc). Kept here so the table is one import."""
    c = "dlc.coordinator"
    steps = {
        # opening
        f"{c}.offer.after_reserve": "coins locked for a new offer, before the offer is stored",
        f"{c}.offer.after_save": "offer stored, before dlc.protocol_message is published",
        f"{c}.accept.after_store": "accept_dlc stored for verification, before the reply",
        f"{c}.accept.after_receive": "accept_dlc verified, before our sign_dlc is stored",
        f"{c}.accept.after_save": "accept stored with our sign_dlc, before sign_dlc is published",
        f"{c}.funding.after_confirm": "funding at depth seen, before the position is opened",
        f"{c}.release.before_invalidate": "timed-out match, before our inputs are double-spent",
        f"{c}.release.after_invalidate": "our inputs double-spent, before the release is stored",
        f"{c}.release.after_save": "match released and stored, before its coins are unlocked",
        # settlement
        f"{c}.settle.after_attest": "attestation received, before the completed CET is stored",
        f"{c}.settle.before_broadcast": "CET stored, before broadcast",
        f"{c}.settle.after_broadcast": "CET broadcast, before the state says so",
        f"{c}.settle.after_confirm": "CET confirmed, before the position is settled",
        # refund
        f"{c}.refund.before_broadcast": "refund tx stored, before broadcast",
        f"{c}.refund.after_broadcast": "refund tx broadcast, before the state says so",
        f"{c}.refund.after_confirm": "refund tx confirmed, before the position is refunded",
        # early close and liquidation
        f"{c}.close.after_save": "close offer stored, before it is published",
        f"{c}.close.after_receive": "close accept received and verified, before it is stored",
        f"{c}.close.before_broadcast": "closing tx stored, before broadcast",
        f"{c}.close.after_broadcast": "closing tx broadcast, before the state says so",
        f"{c}.close.after_confirm": "closing tx confirmed, before the position is closed",
        f"{c}.close.after_expiry": "close quote expired, before the position is open again",
        f"{c}.liquidation.after_cross": "mark price crossed, before the quote is stored",
        f"{c}.liquidation.after_save": "liquidation quote stored, before it is published",
        # rollover
        f"{c}.rollover.after_save": "renew offer stored, before it is published",
        f"{c}.rollover.after_abandon": "abandoned rollover stored, before its fee coin is unlocked",
        f"{c}.rollover.after_receive": "renew accept received and verified, before it is stored",
        f"{c}.rollover.after_sign_save": "renew sign stored, before it is published",
        f"{c}.rollover.after_finalize_receive": "renew finalize verified, before it is stored",
        f"{c}.rollover.before_broadcast": "renewal tx stored, before broadcast",
        f"{c}.rollover.after_broadcast": "renewal tx broadcast, before the state says so",
        f"{c}.rollover.after_confirm": "renewal tx confirmed, before the new position is open",
    }
    for name, where in steps.items():
        declare(name, where)


_declare_coordinator()


def _declare_trader() -> None:
    """The trader's points (``tentenone.trader.engine``), in the same table."""
    t = "dlc.trader"
    steps = {
        f"{t}.open.after_offer_save": "offer_dlc stored, not answered",
        f"{t}.open.after_accept_save": "accept_dlc stored (coins locked), before it is sent",
        f"{t}.open.after_accept_send": "accept_dlc taken by the gateway, sign_dlc not seen",
        f"{t}.open.after_sign_receive": "sign_dlc verified, before the funding tx is saved",
        f"{t}.open.after_sign_save": "funding tx saved, before its broadcast",
        f"{t}.open.after_funding_broadcast": "funding tx broadcast, before FUNDING is saved",
        f"{t}.settle.after_attest": "CET completed from the attestation, before it is saved",
        f"{t}.settle.before_broadcast": "CET saved, before its broadcast",
        f"{t}.settle.after_broadcast": "CET broadcast, before it confirms",
        f"{t}.close.after_accept_save": "close_accept stored, before it is sent",
        f"{t}.close.after_confirm_receive": "close_confirm verified, before it is saved",
        f"{t}.refund.before_broadcast": "refund saved, before its broadcast",
        f"{t}.rollover.after_offer_save": "renew_offer and the new contract stored, unanswered",
        f"{t}.rollover.after_accept_save": "renew_accept stored, before it is sent",
        f"{t}.rollover.after_accept_send": "renew_accept taken by the gateway, renew_sign not seen",
        f"{t}.rollover.after_sign_receive": "renew_sign verified, before the renewal is saved",
        f"{t}.rollover.after_sign_save": "renewal tx and renew_finalize stored, before it is sent",
        f"{t}.rollover.after_confirm": "renewal confirmed, before the old contract is rolled over",
    }
    for name, where in steps.items():
        declare(name, where)


_declare_trader()


def main(argv: list[str] | None = None) -> int:
    """Print the table of declared crash points."""
    del argv
    rows = points()
    width = max((len(p.name) for p in rows), default=4)
    print(f"{'point':<{width}}  where")
    for p in rows:
        print(f"{p.name:<{width}}  {p.where}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
