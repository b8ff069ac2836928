"""The states of one contract on each side, and the moves each side may make.

One row per contract (a rollover makes a new contract that replaces the old
one). A side saves the new state before it sends the message that commits
to it, and never moves back past a point where it gave away a signature:
after ``SIGNED`` (coordinator) / ``ACCEPTED`` (trader) the only ways out are
the chain's (funding confirmed, or our funding input spent elsewhere).

The tables are plain data so that both the coordinator (PostgreSQL) and the
trader (SQLite) wrap them in a :class:`tentenone.store.statemachine.StateMachine`.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum

__all__ = [
    "COORDINATOR_FINAL",
    "COORDINATOR_INITIAL",
    "COORDINATOR_TRANSITIONS",
    "TRADER_FINAL",
    "TRADER_INITIAL",
    "TRADER_TRANSITIONS",
    "CoordinatorState",
    "TraderState",
]


class CoordinatorState(IntEnum):
    """The coordinator's (offerer's) view of one contract."""

    OFFERED = 1  # offer_dlc stored and sent; no signature given yet
    SIGNED = 2  # accept verified; sign_dlc (our CET, refund and funding signatures) stored, sent
    FUNDING = 3  # the funding transaction is in the mempool or below the depth
    OPEN = 4  # funding at the configured depth: the position is open
    CLOSE_OFFERED = 5  # a close quote (early close or liquidation) is out, unsigned by us
    CLOSING = 6  # closing tx fully signed by both; broadcast
    ROLLOVER_OFFERED = 7  # renew_offer out; nothing signed for the new contract by us
    ROLLOVER_SIGNED = 8  # renew_sign out: new CETs/refund and the renewal tx signed by us
    ROLLING_OVER = 9  # renewal tx fully signed and broadcast
    SETTLING = 10  # a CET is broadcast
    REFUNDING = 11  # the refund tx is broadcast
    RELEASING = 12  # timed out after sign_dlc: our funding input is being double-spent
    PENDING_RENEWAL = 13  # a new contract whose funding is a renewal tx not yet seen
    SETTLED = 20
    CLOSED = 21
    REFUNDED = 22
    ROLLED_OVER = 23
    RELEASED = 24


_C = CoordinatorState
#: states where the funding output exists (or may): a spend of it is watched for
_C_FUNDED = {_C.OPEN, _C.CLOSE_OFFERED, _C.CLOSING, _C.ROLLOVER_OFFERED, _C.ROLLOVER_SIGNED}
_C_SPENT = {_C.SETTLING, _C.SETTLED, _C.CLOSING, _C.CLOSED, _C.REFUNDING, _C.REFUNDED}

COORDINATOR_INITIAL = frozenset({_C.OFFERED, _C.PENDING_RENEWAL})
COORDINATOR_FINAL = frozenset({_C.SETTLED, _C.CLOSED, _C.REFUNDED, _C.ROLLED_OVER, _C.RELEASED})
COORDINATOR_TRANSITIONS: Mapping[CoordinatorState, frozenset[CoordinatorState]] = {
    _C.OFFERED: frozenset({_C.SIGNED, _C.RELEASED}),
    # After sign_dlc the trader can broadcast the funding tx: only the chain decides.
    _C.SIGNED: frozenset({_C.FUNDING, _C.OPEN, _C.RELEASING}),
    _C.RELEASING: frozenset({_C.RELEASED, _C.FUNDING, _C.OPEN}),
    _C.PENDING_RENEWAL: frozenset({_C.FUNDING, _C.OPEN, _C.RELEASED}),
    _C.FUNDING: frozenset({_C.OPEN, _C.SIGNED, _C.RELEASING, *_C_SPENT, _C.ROLLED_OVER}),
    # a reorg that drops the funding tx takes an open contract back to SIGNED
    _C.OPEN: frozenset(
        {_C.FUNDING, _C.SIGNED, _C.CLOSE_OFFERED, _C.ROLLOVER_OFFERED, *_C_SPENT, _C.ROLLED_OVER}
    ),
    _C.CLOSE_OFFERED: frozenset({_C.OPEN, _C.FUNDING, _C.SIGNED, *_C_SPENT, _C.ROLLED_OVER}),
    _C.CLOSING: frozenset({_C.CLOSED, _C.SETTLING, _C.SETTLED, _C.REFUNDING, _C.REFUNDED}),
    _C.ROLLOVER_OFFERED: frozenset({_C.OPEN, _C.FUNDING, _C.ROLLOVER_SIGNED, *_C_SPENT}),
    # Our renewal signature is out: back to OPEN only once the renewal is made
    # invalid (our fee input spent elsewhere) or the old contract settles.
    _C.ROLLOVER_SIGNED: frozenset({_C.ROLLING_OVER, _C.ROLLED_OVER, _C.OPEN, *_C_SPENT}),
    _C.ROLLING_OVER: frozenset({_C.ROLLED_OVER, _C.ROLLOVER_SIGNED, *_C_SPENT}),
    _C.SETTLING: frozenset({_C.SETTLED, _C.CLOSED, _C.REFUNDED, _C.ROLLED_OVER}),
    _C.REFUNDING: frozenset({_C.REFUNDED, _C.SETTLED, _C.CLOSED}),
}


class TraderState(IntEnum):
    """The trader's (accepter's) view of one contract."""

    OFFER_RECEIVED = 1  # offer_dlc stored, not answered
    ACCEPTED = 2  # accept_dlc (our CET and refund signatures) stored and sent
    SIGNED = 3  # sign_dlc verified; the funding tx is complete and stored
    FUNDING = 4  # funding tx broadcast, below the depth
    OPEN = 5
    CLOSE_OFFERED = 6  # a close quote received, not signed by us
    CLOSE_ACCEPTED = 7  # our closing signature is out
    CLOSING = 8  # closing tx complete (coordinator's signature received) or seen
    ROLLOVER_OFFERED = 9  # renew_offer received
    ROLLOVER_ACCEPTED = 10  # renew_accept out: our new CET/refund signatures given
    ROLLOVER_SIGNED = 11  # renew_sign verified; renew_finalize (our renewal signature) out
    SETTLING = 12
    REFUNDING = 13
    PENDING_RENEWAL = 14  # a new contract whose funding is a renewal tx not yet seen
    REJECTED = 20  # we refused the offer (reason recorded); nothing was signed
    SETTLED = 21
    CLOSED = 22
    REFUNDED = 23
    ROLLED_OVER = 24
    RELEASED = 25


_T = TraderState
_T_SPENT = {_T.SETTLING, _T.SETTLED, _T.CLOSING, _T.CLOSED, _T.REFUNDING, _T.REFUNDED}

TRADER_INITIAL = frozenset({_T.OFFER_RECEIVED, _T.PENDING_RENEWAL})
TRADER_FINAL = frozenset(
    {_T.REJECTED, _T.SETTLED, _T.CLOSED, _T.REFUNDED, _T.ROLLED_OVER, _T.RELEASED}
)
TRADER_TRANSITIONS: Mapping[TraderState, frozenset[TraderState]] = {
    _T.OFFER_RECEIVED: frozenset({_T.ACCEPTED, _T.REJECTED, _T.RELEASED}),
    # Our adaptor signatures are out, but no funding witness: a release only
    # needs the coordinator's word or our own input spent elsewhere.
    _T.ACCEPTED: frozenset({_T.SIGNED, _T.FUNDING, _T.OPEN, _T.RELEASED}),
    _T.SIGNED: frozenset({_T.FUNDING, _T.OPEN, _T.RELEASED}),
    # a renewal we refused (nothing signed) is REJECTED; one given up or beaten, RELEASED
    _T.PENDING_RENEWAL: frozenset({_T.FUNDING, _T.OPEN, _T.RELEASED, _T.REJECTED}),
    _T.FUNDING: frozenset({_T.OPEN, _T.SIGNED, _T.RELEASED, *_T_SPENT, _T.ROLLED_OVER}),
    _T.OPEN: frozenset(
        {_T.FUNDING, _T.SIGNED, _T.CLOSE_OFFERED, _T.ROLLOVER_OFFERED, *_T_SPENT, _T.ROLLED_OVER}
    ),
    _T.CLOSE_OFFERED: frozenset({_T.OPEN, _T.CLOSE_ACCEPTED, *_T_SPENT, _T.ROLLED_OVER}),
    _T.CLOSE_ACCEPTED: frozenset({_T.OPEN, _T.CLOSING, *_T_SPENT, _T.ROLLED_OVER}),
    _T.CLOSING: frozenset({_T.CLOSED, _T.SETTLING, _T.SETTLED, _T.REFUNDING, _T.REFUNDED}),
    _T.ROLLOVER_OFFERED: frozenset({_T.OPEN, _T.ROLLOVER_ACCEPTED, *_T_SPENT}),
    _T.ROLLOVER_ACCEPTED: frozenset({_T.OPEN, _T.ROLLOVER_SIGNED, _T.ROLLED_OVER, *_T_SPENT}),
    _T.ROLLOVER_SIGNED: frozenset({_T.ROLLED_OVER, _T.OPEN, *_T_SPENT}),
    _T.SETTLING: frozenset({_T.SETTLED, _T.CLOSED, _T.REFUNDED, _T.ROLLED_OVER}),
    _T.REFUNDING: frozenset({_T.REFUNDED, _T.SETTLED, _T.CLOSED}),
}
