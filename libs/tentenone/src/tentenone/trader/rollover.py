"""The trader's side of a rollover: renewing an open contract into the next expiry (ADR 0112).

The old contract's row walks ``OPEN -> ROLLOVER_OFFERED -> ROLLOVER_ACCEPTED
-> ROLLOVER_SIGNED -> ROLLED_OVER``; the new contract gets a row of its own
(``<position>~r<n>``, ``renews`` the old one) in ``PENDING_RENEWAL`` until the
renewal transaction confirms, then ``FUNDING``/``OPEN`` like any contract.
The renewal messages go to the coordinator under the old position id; the
new contract takes the coordinator's id for it once ``renew_sign`` shows it.

Each step is saved before the message that commits to it is sent (the
engine's outbox), and every state resumes on the next pass:

- ``renew_offer``: the offer and the new row are stored, then checked against
  the position (``check_renew_offer`` and ``checks.check_renewal``); a
  mismatch is refused with a ``reject`` naming it and the position stays
  open as it was; otherwise ``renew_accept`` (signatures of the new contract
  only) is stored with the new row, then sent;
- ``renew_sign``: the coordinator's new signatures and its renewal signature
  are verified, then the complete renewal transaction and our
  ``renew_finalize`` are stored, then sent; the renewal is broadcast until it
  confirms: the old contract is rolled over, the new one funded;
- a renewal that can no longer confirm (the coordinator spent its fee input
  elsewhere) or an old funding output spent by something else ends the new
  row; the old contract goes on as before.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from typing import TYPE_CHECKING

from sqlmodel import col, select

from tentenone.crashpoint import crashpoint
from tentenone.dlc.messages import OfferDlc
from tentenone.dlc.oracle_messages import OracleAnnouncement
from tentenone.dlc.protocol.messages import (
    PROTOCOL_VERSION,
    Reject,
    RenewAccept,
    RenewOffer,
    RenewSign,
    parse_protocol_message,
)
from tentenone.dlc.protocol.renewal import accept_renewal, check_renew_offer, finalize_renewal
from tentenone.dlc.protocol.states import TraderState as T
from tentenone.dlc.protocol.terms import offer_announcement
from tentenone.dlc.signing import to_tx_inputs
from tentenone.errors import TentenoneError, Unavailable
from tentenone.store.statemachine import create, transition
from tentenone.trader.checks import check_renewal
from tentenone.trader.errors import GatewayUnavailable
from tentenone.trader.models import TraderContract

if TYPE_CHECKING:
    from tentenone.trader.engine import ProtocolEngine

__all__ = ["ROLLING", "Rollover"]

_log = logging.getLogger(__name__)

#: the old contract's states while a rollover is under way
ROLLING = frozenset({T.ROLLOVER_OFFERED, T.ROLLOVER_ACCEPTED, T.ROLLOVER_SIGNED})


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Rollover:
    """The renewal steps of one ``ProtocolEngine`` (its database, keys, outbox, chain)."""

    def __init__(self, engine: ProtocolEngine) -> None:
        self.engine = engine
        #: contract id -> when its automatic rollover was last asked for (monotonic)
        self.requested: dict[str, float] = {}

    # -- asking for it -----------------------------------------------------------------

    def due(self, row: TraderContract, now: dt.datetime | None = None) -> bool:
        """Open and inside the rollover window before its expiry."""
        now = now or _now()
        window = dt.timedelta(seconds=self.engine.settings.rollover_window_s)
        return T(row.state) is T.OPEN and now < row.maturity <= now + window

    async def request(self, row: TraderContract) -> None:
        """Ask the coordinator for a renewal offer (its messages follow on the channel)."""
        if T(row.state) is not T.OPEN:
            raise _conflict(f"position {row.position_id} is {T(row.state).name.lower()}")
        await self.engine.gateway.rollover(row.position_id)
        self.requested[row.id] = time.monotonic()
        self.engine.wake.set()

    async def auto(self) -> None:
        """Ask once for each position inside the window; again only after the retry time."""
        settings = self.engine.settings
        if not settings.auto_rollover:
            return
        for row in await self.engine.contracts(live_only=True):
            last = self.requested.get(row.id)
            # a renewed contract's coordinator id may not be known yet: next pass
            unknown_id = row.renews is not None and row.position_id == row.id
            if not self.due(row) or unknown_id:
                continue
            if last is not None and time.monotonic() - last < settings.rollover_retry_s:
                continue
            try:
                await self.request(row)
            except GatewayUnavailable:
                raise
            except TentenoneError as exc:
                # refused (the next expiry is not listed yet, say): not again before the retry
                self.requested[row.id] = time.monotonic()
                _log.warning("rollover of %s refused: %s", row.position_id, exc.message)

    # -- renew_offer ---------------------------------------------------------------------

    async def on_offer(self, old: TraderContract, offer: RenewOffer) -> None:
        if T(old.state) is not T.OPEN:
            return  # a repeat (answered already) or a position that moved on
        new = await self._new_row(old, offer)
        async with self.engine.db.transaction() as s:
            fresh = await s.get(TraderContract, old.id)
            assert fresh is not None
            fresh.renewed_by = new.id
            fresh.note = f"rollover into {new.market} offered: checking it"
            fresh.updated_at = _now()
            await transition(s, fresh, T.ROLLOVER_OFFERED, "renew_offer received")
            await create(s, new, "renew_offer received", renews=old.id)
        crashpoint("dlc.trader.rollover.after_offer_save")
        await self.engine.changed()
        await self.answer(fresh, new)

    async def _new_row(self, old: TraderContract, offer: RenewOffer) -> TraderContract:
        root = old.id.split("~", 1)[0]
        async with self.engine.db.transaction() as s:
            tried = (
                await s.exec(
                    select(TraderContract.id).where(
                        col(TraderContract.id).startswith(f"{root}~r", autoescape=True)
                    )
                )
            ).all()
        new_id = f"{root}~r{len(tried) + 1}"
        try:
            event = offer_announcement(offer).oracle_event
            market = event.event_id
            maturity = dt.datetime.fromtimestamp(event.event_maturity_epoch, dt.UTC)
        except TentenoneError:
            market, maturity = old.market, old.maturity  # refused by the checks that follow
        now = _now()
        return TraderContract(
            id=new_id,
            state=T.PENDING_RENEWAL,
            position_id=new_id,  # the coordinator's id for it comes with renew_sign
            order_id=old.order_id,
            trade_id=old.trade_id,
            market=market[:64],
            side=old.side,
            quantity=old.quantity,
            price_cents=old.price_cents,
            leverage=old.leverage,
            fee_sat=old.fee_sat,
            renews=old.id,
            temporary_contract_id=offer.temporary_contract_id.hex(),
            offer_hex=offer.serialize().hex(),
            trader_margin_sat=offer.total_collateral - offer.offer_collateral,
            total_collateral=offer.total_collateral,
            maturity=maturity,
            refund_locktime=offer.refund_locktime,
            note=f"renewal of {old.position_id} offered: checking it",
            created_at=now,
            updated_at=now,
        )

    async def resume(self) -> None:
        """Renewal offers a crash left unanswered are answered now."""
        for row in await self.engine.contracts(live_only=True):
            if T(row.state) is T.ROLLOVER_OFFERED:
                new = await self._successor(row)
                if new is not None and T(new.state) is T.PENDING_RENEWAL:
                    await self.answer(row, new)

    async def answer(self, old: TraderContract, new: TraderContract) -> None:
        engine = self.engine
        offer = RenewOffer.parse(bytes.fromhex(new.offer_hex))
        try:
            signed_old = await engine.signed(old)
            now = int(_now().timestamp())
            check_renew_offer(signed_old, offer, engine.policy, now=now)
            published = await engine.announcement(new.market)
            fee = await asyncio.to_thread(
                check_renewal,
                offer,
                old,
                _announcement_of(old),
                published,
                max_cets=engine.settings.max_cets,
                max_fee_bps=engine.settings.max_fee_bps,
                oracle_public_key=engine.settings.oracle_public_key,
            )
            # the new contract's locktimes bounded as an offer's (ADR 0115)
            await engine.check_locktimes(offer.cet_locktime, offer.refund_locktime, new.maturity)
        except Unavailable:
            raise  # the gateway or the chain is away: answer on a later pass
        except TentenoneError as exc:
            await self.refuse(old, new, offer, exc)
            return
        await self._accept(old, new, offer, fee)

    async def _accept(
        self, old: TraderContract, new: TraderContract, offer: RenewOffer, fee: int
    ) -> None:
        engine = self.engine
        number = new.funding_key
        if number is None:  # a new key for the new contract, counted before it is used
            async with engine.db.transaction() as s:
                number = await engine.next_funding_key(s)
                fresh_new = await s.get(TraderContract, new.id)
                assert fresh_new is not None
                fresh_new.funding_key = number
        secret = engine.keys.funding_secret(number)
        payout = await engine.wallet.payout_script()
        signed_old = await engine.signed(old)
        accept, _ = await asyncio.to_thread(
            accept_renewal,
            signed_old,
            offer,
            engine.policy,
            secret,
            payout,
            now=int(_now().timestamp()),
        )
        async with engine.db.transaction() as s:
            fresh_new = await s.get(TraderContract, new.id)
            fresh = await s.get(TraderContract, old.id)
            assert fresh_new is not None and fresh is not None
            fresh_new.accept_hex = accept.serialize().hex()
            fresh_new.fee_sat = fee
            fresh_new.note = "renewal accepted: waiting for the coordinator's renew_sign"
            fresh_new.updated_at = fresh.updated_at = _now()
            fresh.note = f"rolling over into {new.market}: renew_accept sent"
            await transition(s, fresh, T.ROLLOVER_ACCEPTED, "renew_offer checked, accepted")
            await engine.queue(s, fresh, accept)
        crashpoint("dlc.trader.rollover.after_accept_save")
        await engine.changed()

    async def refuse(
        self, old: TraderContract, new: TraderContract, offer: RenewOffer, exc: TentenoneError
    ) -> None:
        """Nothing signed: the offer is refused with its reason, the position stays open."""
        reason = f"rollover refused: {exc.message}"
        reject = Reject(PROTOCOL_VERSION, offer.temporary_contract_id, exc.code, exc.message[:300])
        async with self.engine.db.transaction() as s:
            fresh = await s.get(TraderContract, old.id)
            fresh_new = await s.get(TraderContract, new.id)
            assert fresh is not None and fresh_new is not None
            fresh_new.note = reason[:500]
            fresh_new.updated_at = fresh.updated_at = _now()
            await transition(s, fresh_new, T.REJECTED, reason[:200], code=exc.code)
            fresh.renewed_by = None
            fresh.note = f"{reason}; the position stays open"[:500]
            await transition(s, fresh, T.OPEN, reason[:200], code=exc.code)
            await self.engine.queue(s, fresh, reject)
        await self.engine.changed()

    # -- renew_sign ------------------------------------------------------------------------

    async def on_sign(self, old: TraderContract, sign: RenewSign) -> None:
        if T(old.state) is not T.ROLLOVER_ACCEPTED:
            return  # a repeat: the renewal is stored already
        engine = self.engine
        new = await self._successor(old)
        assert new is not None and new.accept_hex is not None
        offer = RenewOffer.parse(bytes.fromhex(new.offer_hex))
        accept = RenewAccept.parse(bytes.fromhex(new.accept_hex))
        signed_old = await engine.signed(old)
        old_secret = engine.keys.funding_secret(old.funding_key or 0)
        try:
            finalize, _, tx = await asyncio.to_thread(
                finalize_renewal, signed_old, offer, accept, sign, engine.policy, old_secret
            )
        except TentenoneError as exc:
            # without our renewal signature nothing spends the old output: it stays open
            await self.abandon(old, new, f"renew_sign refused: {exc.code}: {exc.message}")
            return
        crashpoint("dlc.trader.rollover.after_sign_receive")
        position_id = await self._coordinator_id(sign.contract_id.hex())
        async with engine.db.transaction() as s:
            fresh_new = await s.get(TraderContract, new.id)
            fresh = await s.get(TraderContract, old.id)
            assert fresh_new is not None and fresh is not None
            fresh_new.sign_hex = sign.serialize().hex()
            fresh_new.contract_id = sign.contract_id.hex()
            fresh_new.funding_tx_hex = tx.serialize().hex()
            fresh_new.funding_txid = tx.txid_hex()
            fresh_new.position_id = position_id or fresh_new.position_id
            fresh_new.note = f"renewal {tx.txid_hex()} signed: confirming"
            fresh_new.updated_at = fresh.updated_at = _now()
            fresh.note = f"rolling over by {tx.txid_hex()}"
            await transition(s, fresh, T.ROLLOVER_SIGNED, "renew_sign verified, finalized")
            await engine.queue(s, fresh, finalize)
        crashpoint("dlc.trader.rollover.after_sign_save")
        await engine.changed()

    async def _coordinator_id(self, contract_id: str) -> str | None:
        """The coordinator's position id of the new contract (made with its renew_sign)."""
        found = await self.engine.gateway.positions("all")
        return next((p.position_id for p in found.positions if p.contract_id == contract_id), None)

    async def on_reject(self, old: TraderContract, reject: Reject) -> None:
        """The coordinator gave the rollover up before signing the renewal."""
        if T(old.state) not in (T.ROLLOVER_OFFERED, T.ROLLOVER_ACCEPTED):
            return
        new = await self._successor(old)
        if new is None or new.temporary_contract_id != reject.contract_id.hex():
            return  # about an earlier attempt
        await self.abandon(old, new, f"rollover given up: {reject.code}: {reject.message}")

    async def abandon(self, old: TraderContract, new: TraderContract, reason: str) -> None:
        """The renewal cannot happen: the new row ends, the old contract is open as before."""
        async with self.engine.db.transaction() as s:
            fresh = await s.get(TraderContract, old.id)
            fresh_new = await s.get(TraderContract, new.id)
            assert fresh is not None and fresh_new is not None
            if T(fresh.state) in ROLLING:
                fresh.renewed_by = None
                fresh.note = f"{reason}; the position stays open"[:500]
                fresh.updated_at = _now()
                await transition(s, fresh, T.OPEN, reason[:200])
            if T(fresh_new.state) is T.PENDING_RENEWAL:
                fresh_new.note = reason[:500]
                fresh_new.updated_at = _now()
                await transition(s, fresh_new, T.RELEASED, reason[:200])
        await self.engine.changed()

    # -- the chain ---------------------------------------------------------------------------

    async def poll(self, row: TraderContract) -> None:
        """One look at a contract in a rollover state (old) or waiting for its renewal (new)."""
        state = T(row.state)
        if state is T.PENDING_RENEWAL:
            await self._poll_pending(row)
        elif state is T.ROLLOVER_SIGNED:
            await self._poll_signed(row)
        else:  # offered or accepted: nothing spends the old output for it yet
            await self.engine.poll_open(row)

    async def _poll_pending(self, new: TraderContract) -> None:
        async with self.engine.db.transaction() as s:
            old = await s.get(TraderContract, new.renews or "")
        if old is None or T(old.state) not in ROLLING | {T.ROLLED_OVER}:
            state = "gone" if old is None else T(old.state).name.lower()
            reason = f"the rollover ended: the renewed contract is {state}"
            if old is None:
                await self.engine.move(new, T.RELEASED, reason, reason)
            else:
                await self.abandon(old, new, reason)
            return
        if new.position_id == new.id and new.contract_id is not None:
            found = await self._coordinator_id(new.contract_id)
            if found is not None:
                async with self.engine.db.transaction() as s:
                    fresh = await s.get(TraderContract, new.id)
                    if fresh is not None:
                        fresh.position_id = found

    async def _poll_signed(self, old: TraderContract) -> None:
        engine = self.engine
        new = await self._successor(old)
        assert new is not None and new.funding_txid is not None
        conf = await engine.chain.confirmations(new.funding_txid)
        if conf is not None and conf >= 1:
            await self._rolled_over(old, new, conf)
            return
        outpoint, script = engine.funding_output(old)
        spender = await engine.chain.spender(outpoint, script)
        if spender is not None and spender != new.funding_txid:
            await engine.spent(old, spender)  # a CET, a close: the old contract ends so
            return
        if conf is None and await self._fee_input_spent(new):
            await self.abandon(old, new, "rollover abandoned: the renewal can no longer confirm")
            return
        if conf is None:
            try:
                await engine.chain.broadcast(bytes.fromhex(new.funding_tx_hex or ""))
            except TentenoneError as exc:
                _log.warning("renewal %s not taken: %s", new.funding_txid, exc.message)

    async def _fee_input_spent(self, new: TraderContract) -> bool:
        """The coordinator's fee input spent, confirmed, by another transaction."""
        offer = RenewOffer.parse(bytes.fromhex(new.offer_hex))
        chain = self.engine.chain
        for item in to_tx_inputs(offer.fee_inputs):
            other = await chain.spender(item.outpoint, item.script_pubkey)
            if other is not None and other != new.funding_txid:
                conf = await chain.confirmations(other)
                if conf is not None and conf >= 1:
                    return True
        return False

    async def _rolled_over(self, old: TraderContract, new: TraderContract, conf: int) -> None:
        crashpoint("dlc.trader.rollover.after_confirm")
        funded = conf >= self.engine.settings.funding_depth
        async with self.engine.db.transaction() as s:
            fresh = await s.get(TraderContract, old.id)
            fresh_new = await s.get(TraderContract, new.id)
            assert fresh is not None and fresh_new is not None
            fresh.spend_txid, fresh.spend_tx_hex = new.funding_txid, new.funding_tx_hex
            fresh.note = f"rolled over into {new.position_id} ({new.market})"
            fresh.updated_at = fresh_new.updated_at = _now()
            await transition(s, fresh, T.ROLLED_OVER, f"renewal {new.funding_txid} confirmed")
            fresh_new.note = "open" if funded else f"renewal {new.funding_txid}: confirming"
            await transition(s, fresh_new, T.OPEN if funded else T.FUNDING, "renewal confirmed")
        await self.engine.changed()

    async def _successor(self, old: TraderContract) -> TraderContract | None:
        async with self.engine.db.transaction() as s:
            return await s.get(TraderContract, old.renewed_by or "")


def _announcement_of(row: TraderContract) -> OracleAnnouncement:
    message = parse_protocol_message(bytes.fromhex(row.offer_hex))
    assert isinstance(message, OfferDlc | RenewOffer)
    return offer_announcement(message)


def _conflict(message: str) -> TentenoneError:
    from tentenone.trader.errors import TraderConflict

    return TraderConflict(message)
