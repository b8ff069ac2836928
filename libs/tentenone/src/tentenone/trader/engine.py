"""The trader's side of the DLC protocol: a state machine per contract, saved before it speaks.

Rules (docs/dlc-protocol.md, "The trader's side"; ADR 0111):

- every coordinator message is applied in ``seq`` order; the cursor moves in
  the transaction that stores what the message changed, so a crash before
  it makes the message come again (each handler is idempotent);
- every state is saved in SQLite (``tentenone.store`` state machine, with
  its transition log) before the message that commits to it is sent: the
  message goes into ``trader_outbox`` in the same transaction and is sent,
  and sent again on reconnect or restart, until the gateway took it;
- an offer is checked against the order it fills (``checks``); a mismatch is
  refused with the reason (``reject``), nothing is funded, the coins go back;
- after ``sign_dlc`` the funding transaction is stored, then broadcast; the
  contract is open at the configured depth; at expiry the CET the oracle's
  attestation unlocks is completed and broadcast if nobody has, the refund
  after its locktime; a spend of the funding output by anyone ends the
  contract when it confirms;
- a rollover (renew_*) is checked against the position and signed in the
  same way, with a row for the new contract (``rollover``, ADR 0112);
- after every state change an encrypted backup goes to a local file and the
  gateway (``on_change``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from tentenone.bitcoin.script import multisig_2of2, p2wsh
from tentenone.bitcoin.tx import OutPoint, parse_transaction
from tentenone.crashpoint import crashpoint, points
from tentenone.dlc.messages import AcceptDlc, OfferDlc, SignDlc
from tentenone.dlc.oracle_messages import OracleAnnouncement, OracleAttestation
from tentenone.dlc.protocol.closing import accept_close, check_liquidation, finish_close
from tentenone.dlc.protocol.messages import (
    PROTOCOL_VERSION,
    CloseConfirm,
    CloseOffer,
    CloseReason,
    ProtocolMessage,
    Reject,
    RenewAccept,
    RenewOffer,
    RenewSign,
    message_name,
    parse_protocol_message,
)
from tentenone.dlc.protocol.opening import PartyFunding, accept_offer, complete_funding
from tentenone.dlc.protocol.settlement import complete_cet, refund_transaction
from tentenone.dlc.protocol.signed import SignedContract
from tentenone.dlc.protocol.states import TRADER_FINAL
from tentenone.dlc.protocol.states import TraderState as T
from tentenone.dlc.signing import Signer, to_tx_inputs
from tentenone.dlc.transactions import CET_BASE_WEIGHT, FUND_TX_BASE_WEIGHT, weight_to_fee
from tentenone.dlc.validation import ValidationPolicy, validate_offer
from tentenone.errors import NotFound, TentenoneError, Unavailable
from tentenone.store import Database
from tentenone.store.statemachine import create, transition
from tentenone.trader.checks import (
    Fill,
    check_fill,
    check_locktimes,
    check_offer,
    checked_accept,
    signed_chain,
)
from tentenone.trader.errors import GatewayUnavailable
from tentenone.trader.gateway import GatewayApi
from tentenone.trader.keys import TraderKeys
from tentenone.trader.models import MetaRow, OrderRow, OrderState, OutboxRow, TraderContract
from tentenone.trader.ports import ChainView, FundingWallet
from tentenone.trader.rollover import ROLLING, Rollover

__all__ = ["TRADER_CRASH_POINTS", "EngineSettings", "ProtocolEngine"]

_log = logging.getLogger(__name__)

#: the trader's crash points (declared in ``tentenone.crashpoint``), name -> where
TRADER_CRASH_POINTS = {p.name: p.where for p in points("trader")}

_LIVE = [int(s) for s in T if s not in TRADER_FINAL]
_META_SEQ = "protocol_seq"
_META_KEY = "funding_key_next"
#: a P2WPKH output's share of the funding tx (change) or a CET (payout), in weight
_P2WPKH_OUTPUT_WEIGHT = 36 + 4 * 22


@dataclass(frozen=True)
class EngineSettings:
    chain_hash: bytes
    funding_depth: int = 1
    #: the CETs a contract may have (the coordinator's setting; the curve's rounding depends on it)
    max_cets: int = 2000
    #: the highest trading fee accepted, in basis points of the notional
    max_fee_bps: int = 100
    #: the oracle's key, if pinned (otherwise: whatever the gateway publishes for the expiry)
    oracle_public_key: bytes | None = None
    #: sign the coordinator's liquidation close without asking
    auto_liquidation: bool = True
    #: the highest fee rate (sat/vB) of an offer's transactions the trader pays its share of
    max_fee_rate: int = 250
    #: the latest refund accepted: this many blocks after the expiry (at ``block_interval_s``)
    max_refund_delay_blocks: int = 4032
    block_interval_s: int = 600
    #: ask for a rollover of every open position inside the window before its expiry
    auto_rollover: bool = False
    rollover_window_s: float = 48 * 3600
    #: an automatic rollover that did not happen is asked for again after this long
    rollover_retry_s: float = 1800


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _outpoints(text: str) -> list[OutPoint]:
    out = []
    for item in filter(None, text.split(",")):
        txid, vout = item.split(":")
        out.append(OutPoint.from_hex(txid, int(vout)))
    return out


class ProtocolEngine:
    def __init__(
        self,
        db: Database,
        keys: TraderKeys,
        gateway: GatewayApi,
        wallet: FundingWallet,
        chain: ChainView,
        settings: EngineSettings,
        *,
        announcement: Callable[[str], Awaitable[OracleAnnouncement]],
        on_change: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.db, self.keys, self.gateway = db, keys, gateway
        self.wallet, self.chain, self.settings = wallet, chain, settings
        self.policy = ValidationPolicy(
            chain_hashes=frozenset({settings.chain_hash}), max_fee_rate=settings.max_fee_rate
        )
        self._announcement = announcement
        self._on_change = on_change
        self._lock = asyncio.Lock()
        #: positions whose early close the trader asked for (their close_offer is signed)
        self.closing_wanted: set[str] = set()
        #: set to run a pass now (a protocol update arrived)
        self.wake = asyncio.Event()
        self.rollover = Rollover(self)

    # -- small helpers -------------------------------------------------------------------

    async def meta(self, s: AsyncSession, key: str, default: int = 0) -> int:
        row = await s.get(MetaRow, key)
        return default if row is None else int(row.value)

    async def set_meta(self, s: AsyncSession, key: str, value: int) -> None:
        row = await s.get(MetaRow, key)
        if row is None:
            s.add(MetaRow(key=key, value=str(value)))
        else:
            row.value = str(value)

    async def next_funding_key(self, s: AsyncSession) -> int:
        """The number of a new funding key, counted in ``s`` before anything uses it."""
        number = await self.meta(s, _META_KEY)
        await self.set_meta(s, _META_KEY, number + 1)
        return number

    async def announcement(self, event_id: str) -> OracleAnnouncement:
        """The oracle's announcement of ``event_id`` as the gateway publishes it."""
        return await self._announcement(event_id)

    async def signed(self, row: TraderContract) -> SignedContract:
        """The signed contract of ``row``, rebuilt from its messages (and, for a renewal,
        from those of every contract it renews)."""
        chain = [row]
        async with self.db.transaction() as s:
            while chain[-1].renews is not None:
                parent = await s.get(TraderContract, chain[-1].renews)
                if parent is None:
                    raise NotFound(f"renewed contract {chain[-1].renews} is missing")
                chain.append(parent)
        return await asyncio.to_thread(signed_chain, list(reversed(chain)))

    async def queue(self, s: AsyncSession, row: TraderContract, message: ProtocolMessage) -> None:
        """Store a message for the coordinator in the transaction that commits to it."""
        s.add(
            OutboxRow(
                contract=row.id,
                position_id=row.position_id,
                message_type=message_name(message),
                payload_hex=message.serialize().hex(),
                created_at=_now(),
            )
        )

    async def move(
        self, row: TraderContract, to: T, reason: str, note: str, **fields: object
    ) -> TraderContract:
        """Save ``fields`` and move ``row`` to ``to`` in one transaction."""
        async with self.db.transaction() as s:
            fresh = await s.get(TraderContract, row.id)
            assert fresh is not None
            for name, value in fields.items():
                setattr(fresh, name, value)
            fresh.note = note[:500]
            fresh.updated_at = _now()
            await transition(s, fresh, to, reason[:200])
        await self.changed()
        return fresh

    async def changed(self) -> None:
        if self._on_change is not None:
            try:
                await self._on_change()
            except TentenoneError as exc:
                _log.warning("backup after a change failed: %s", exc.message)

    async def contracts(self, *, live_only: bool = False) -> list[TraderContract]:
        async with self.db.transaction() as s:
            query = select(TraderContract).order_by(col(TraderContract.created_at))
            if live_only:
                query = query.where(col(TraderContract.state).in_(_LIVE))
            return list((await s.exec(query)).all())

    # -- one pass ----------------------------------------------------------------------------

    async def run_once(self) -> None:
        """Send what waits, apply the coordinator's new messages, look at the chain."""
        async with self._lock:
            try:
                await self.flush_outbox()
                await self.pull_messages()
                await self.resume_offers()
                await self.rollover.resume()
                await self.flush_outbox()
                await self.rollover.auto()
            except GatewayUnavailable as exc:
                # The coordinator is away: what the chain alone decides (funding depth, our
                # CET after the attestation, the refund) must not wait for it.
                _log.warning("coordinator unreachable, chain work only: %s", exc.message)
            for row in await self.contracts(live_only=True):
                try:
                    await self.poll_contract(row)
                except TentenoneError as exc:
                    _log.warning("contract %s: %s", row.id, exc.message)

    async def run(self, interval_s: float = 2.0) -> None:
        while True:
            try:
                await self.run_once()
            except TentenoneError as exc:
                _log.warning("trader pass failed: %s", exc.message)
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), interval_s)

    # -- the outbox ---------------------------------------------------------------------------

    async def flush_outbox(self) -> int:
        """Send every message not yet taken, oldest first; the number sent."""
        async with self.db.transaction() as s:
            waiting = (
                await s.exec(
                    select(OutboxRow)
                    .where(col(OutboxRow.delivered_at).is_(None))
                    .order_by(col(OutboxRow.seq))
                )
            ).all()
        sent = 0
        for item in waiting:
            error = ""
            try:
                await self.gateway.submit_message(
                    item.position_id, item.message_type, item.payload_hex
                )
            except GatewayUnavailable as exc:
                async with self.db.transaction() as s:
                    fresh = await s.get(OutboxRow, item.seq)
                    if fresh is not None:
                        fresh.attempts += 1
                        fresh.last_error = exc.message[:500]
                return sent  # the link is down: try again on the next pass, in order
            except TentenoneError as exc:
                # refused for good (the offer was released meanwhile, ...): the coordinator's
                # reject or the chain says what happens next; sending again cannot help
                error = f"{exc.code}: {exc.message}"[:500]
            async with self.db.transaction() as s:
                fresh = await s.get(OutboxRow, item.seq)
                if fresh is not None:
                    fresh.delivered_at = _now()
                    fresh.attempts += 1
                    fresh.last_error = error
            if item.message_type == "accept_dlc":
                crashpoint("dlc.trader.open.after_accept_send")
            elif item.message_type == "renew_accept":
                crashpoint("dlc.trader.rollover.after_accept_send")
            sent += 1
        return sent

    # -- the coordinator's messages --------------------------------------------------------------

    async def pull_messages(self) -> None:
        async with self.db.transaction() as s:
            after = await self.meta(s, _META_SEQ)
        while True:
            found = await self.gateway.protocol_messages(after)
            for item in found.messages:
                message = parse_protocol_message(bytes.fromhex(item.payload_hex))
                await self.apply(item.position_id, message)
                async with self.db.transaction() as s:
                    await self.set_meta(s, _META_SEQ, item.seq)
                after = item.seq
            if not found.messages or after >= found.last_seq:
                return

    async def apply(self, position_id: str, message: ProtocolMessage) -> None:
        """Apply one message of the coordinator (a repeat changes nothing)."""
        async with self.db.transaction() as s:
            rows = (
                await s.exec(
                    select(TraderContract)
                    .where(TraderContract.position_id == position_id)
                    .order_by(col(TraderContract.created_at).desc())
                )
            ).all()
        row = rows[0] if rows else None
        if isinstance(message, OfferDlc):
            if row is None:
                await self.on_offer(position_id, message)
            return
        if row is None:
            _log.warning("%s for unknown position %s", message_name(message), position_id)
            return
        if isinstance(message, SignDlc):
            await self.on_sign(row, message)
        elif isinstance(message, Reject):
            await self.on_reject(row, message)
        elif isinstance(message, CloseOffer):
            await self.on_close_offer(row, message)
        elif isinstance(message, CloseConfirm):
            await self.on_close_confirm(row, message)
        elif isinstance(message, RenewOffer):
            await self.rollover.on_offer(row, message)
        elif isinstance(message, RenewSign):
            await self.rollover.on_sign(row, message)
        else:
            _log.warning("%s is not handled by this version", message_name(message))

    # -- opening ---------------------------------------------------------------------------------

    async def on_offer(self, position_id: str, offer: OfferDlc) -> None:
        view = await self.gateway.position(position_id)
        announcement = offer.contract_info.events[0].oracle_info.announcements[0]
        now = _now()
        row = TraderContract(
            id=position_id,
            state=T.OFFER_RECEIVED,
            position_id=position_id,
            order_id=view.order_id,
            trade_id=view.trade_id,
            market=view.market,
            side=view.side,
            quantity=view.quantity,
            price_cents=int(view.entry_price * 100),
            leverage=view.leverage,
            fee_sat=view.pnl.fees_sat,
            temporary_contract_id=offer.temporary_contract_id.hex(),
            offer_hex=offer.serialize().hex(),
            trader_margin_sat=offer.total_collateral - offer.offer_collateral,
            total_collateral=offer.total_collateral,
            maturity=dt.datetime.fromtimestamp(
                announcement.oracle_event.event_maturity_epoch, dt.UTC
            ),
            refund_locktime=offer.refund_locktime,
            note="offer received: checking it against the order",
            created_at=now,
            updated_at=now,
        )
        async with self.db.transaction() as s:
            await create(s, row, "offer_dlc received", trade_id=view.trade_id)
        crashpoint("dlc.trader.open.after_offer_save")
        await self.changed()
        await self.answer_offer(row)

    async def resume_offers(self) -> None:
        """Offers a crash left unanswered are answered now."""
        for row in await self.contracts(live_only=True):
            if T(row.state) is T.OFFER_RECEIVED:
                await self.answer_offer(row)

    async def _order_of(self, s: AsyncSession, row: TraderContract) -> OrderRow | None:
        # the coordinator names an order "<market>:<order book id>" (ids are per market)
        remote = (row.order_id or "").rsplit(":", 1)[-1]
        return (
            await s.exec(
                select(OrderRow).where(OrderRow.remote_id == remote, OrderRow.market == row.market)
            )
        ).first()

    async def answer_offer(self, row: TraderContract) -> None:
        offer = OfferDlc.parse(bytes.fromhex(row.offer_hex))
        if row.reserved:  # a crash after locking coins: start the answer again
            await self.wallet.release(_outpoints(row.reserved))
        try:
            async with self.db.transaction() as s:
                order = await self._order_of(s, row)
            if order is None:
                raise _refusal(f"no order {row.order_id} of ours in market {row.market}")
            fill = Fill(
                row.market, row.side, row.quantity, row.price_cents, row.leverage, row.fee_sat
            )
            open_quantity = order.quantity - order.filled_quantity
            check_fill(fill, order, open_quantity, self.settings.max_fee_bps)
            published = await self.announcement(row.market)
            await asyncio.to_thread(
                check_offer,
                offer,
                fill,
                published,
                max_cets=self.settings.max_cets,
                oracle_public_key=self.settings.oracle_public_key,
            )
            # Protocol.md's checks (fee rate, locktimes, the coordinator's inputs), before
            # any coin of ours is reserved
            await asyncio.to_thread(validate_offer, offer, self.policy)
            await self.check_locktimes(offer.cet_locktime, offer.refund_locktime, row.maturity)
            await self.check_inputs_unspent(offer)
        except TentenoneError as exc:
            if isinstance(exc, Unavailable):
                raise  # the gateway or the chain is away: answer on a later pass
            await self.refuse(row, offer, exc)
            return
        await self._accept(row, offer)

    async def check_inputs_unspent(self, offer: OfferDlc) -> None:
        """Protocol.md leaves it to each side: a coordinator input spent already can never
        fund, and signing every CET for it would only lock our coins until the timeout."""
        for item in to_tx_inputs(offer.funding_inputs):
            if not await self.chain.is_unspent(item.outpoint, item.script_pubkey):
                raise _refusal(
                    f"the coordinator's funding input {item.outpoint.txid[::-1].hex()}:"
                    f"{item.outpoint.vout} is spent or unknown to the chain"
                )

    async def _accept(self, row: TraderContract, offer: OfferDlc) -> None:
        margin = offer.total_collateral - offer.offer_collateral
        payout, change = await self.wallet.payout_script(), await self.wallet.change_script()
        weight = FUND_TX_BASE_WEIGHT // 2 + _P2WPKH_OUTPUT_WEIGHT + CET_BASE_WEIGHT // 2 + 88
        fees = weight_to_fee(weight, offer.feerate_per_vb)
        coins = await self.wallet.reserve(margin + fees, offer.feerate_per_vb, row.id)
        reserved = ",".join(
            f"{i.outpoint.txid[::-1].hex()}:{i.outpoint.vout}" for i in to_tx_inputs(coins)
        )
        async with self.db.transaction() as s:
            fresh = await s.get(TraderContract, row.id)
            assert fresh is not None
            fresh.reserved = reserved
            number = await self.next_funding_key(s)
        secret = self.keys.funding_secret(number)
        funding = PartyFunding(self.keys.funding_pubkey(number), payout, change, tuple(coins))
        accept, _ = await asyncio.to_thread(accept_offer, offer, self.policy, funding, secret)
        async with self.db.transaction() as s:
            fresh = await s.get(TraderContract, row.id)
            assert fresh is not None
            fresh.accept_hex = accept.serialize().hex()
            fresh.funding_key = number
            fresh.note = "accepted: waiting for the coordinator's sign_dlc"
            fresh.updated_at = _now()
            await transition(s, fresh, T.ACCEPTED, "offer checked, accept_dlc sent")
            await self.queue(s, fresh, accept)
            order = await self._order_of(s, fresh)
            if order is not None:
                await _fill_order(s, order, fresh.quantity, f"filled: position {fresh.id}")
        crashpoint("dlc.trader.open.after_accept_save")
        await self.changed()

    async def refuse(self, row: TraderContract, offer: OfferDlc, exc: TentenoneError) -> None:
        reason = f"offer refused: {exc.message}"
        reject = Reject(PROTOCOL_VERSION, offer.temporary_contract_id, exc.code, exc.message[:300])
        async with self.db.transaction() as s:
            fresh = await s.get(TraderContract, row.id)
            assert fresh is not None
            fresh.note = f"{reason}; the order is released"[:500]
            fresh.reserved = ""
            fresh.updated_at = _now()
            await transition(s, fresh, T.REJECTED, reason[:200], code=exc.code)
            await self.queue(s, fresh, reject)
            order = await self._order_of(s, fresh)
            if order is not None:
                order.note = f"match {fresh.trade_id} refused: {exc.message}"[:500]
                order.updated_at = _now()
        await self.changed()

    async def on_sign(self, row: TraderContract, sign: SignDlc) -> None:
        if T(row.state) is not T.ACCEPTED:
            return  # a repeat: the funding tx is stored already
        assert row.funding_key is not None
        checked = await asyncio.to_thread(checked_accept, row, self.policy)
        try:
            tx, signed = await asyncio.to_thread(
                complete_funding, checked, sign, self.policy, self.wallet.signer()
            )
        except TentenoneError as exc:
            # nothing of ours can fund: our inputs carry no witness yet
            await self.wallet.release(_outpoints(row.reserved))
            note = f"sign_dlc refused: {exc}"
            await self.move(row, T.RELEASED, "sign_dlc refused", note, reserved="")
            return
        crashpoint("dlc.trader.open.after_sign_receive")
        row = await self.move(
            row,
            T.SIGNED,
            "sign_dlc verified",
            "signed: broadcasting the funding transaction",
            sign_hex=sign.serialize().hex(),
            contract_id=signed.contract_id.hex(),
            funding_tx_hex=tx.serialize().hex(),
            funding_txid=tx.txid_hex(),
        )
        crashpoint("dlc.trader.open.after_sign_save")
        await self.broadcast_funding(row)

    async def check_locktimes(self, cet: int, refund: int, maturity: dt.datetime) -> None:
        """An offer's (or a renewal's) locktimes within the trader's bounds (ADR 0115)."""
        check_locktimes(
            cet,
            refund,
            tip=await self.chain.tip_height(),
            maturity=maturity,
            now=_now(),
            block_interval_s=self.settings.block_interval_s,
            max_refund_delay_blocks=self.settings.max_refund_delay_blocks,
        )

    async def broadcast_funding(self, row: TraderContract) -> None:
        if not await self.send_funding(row):
            return
        crashpoint("dlc.trader.open.after_funding_broadcast")
        await self.move(
            row, T.FUNDING, "funding broadcast", f"funding {row.funding_txid}: confirming"
        )

    async def send_funding(self, row: TraderContract) -> bool:
        """Broadcast the funding tx; False when it can never confirm and the contract is
        released (the coordinator double-spent its input after waiting too long for it)."""
        try:
            await self.chain.broadcast(bytes.fromhex(row.funding_tx_hex or ""))
        except TentenoneError:
            conflict = await self._funding_conflict(row)
            if conflict is None:
                raise
            await self.wallet.release(_outpoints(row.reserved))
            note = f"released: the funding transaction can no longer confirm ({conflict})"
            await self.move(row, T.RELEASED, "funding input spent", note, reserved="")
            return False
        return True

    async def _funding_conflict(self, row: TraderContract) -> str | None:
        """A confirmed transaction other than the funding spending one of its inputs."""
        offer, accept = _offer_and_accept(row)
        if not isinstance(offer, OfferDlc) or not isinstance(accept, AcceptDlc):
            return None  # a renewal spends the old funding output: the rollover's to judge
        for item in to_tx_inputs([*offer.funding_inputs, *accept.funding_inputs]):
            spender = await self.chain.spender(item.outpoint, item.script_pubkey)
            if spender is None or spender == row.funding_txid:
                continue
            if (await self.chain.confirmations(spender) or 0) >= 1:
                point = f"{item.outpoint.txid[::-1].hex()}:{item.outpoint.vout}"
                return f"its input {point} is spent by {spender}"
        return None

    async def on_reject(self, row: TraderContract, reject: Reject) -> None:
        if T(row.state) in ROLLING:
            await self.rollover.on_reject(row, reject)
            return
        if T(row.state) not in (T.OFFER_RECEIVED, T.ACCEPTED, T.SIGNED):
            return
        await self.wallet.release(_outpoints(row.reserved))
        note = f"released by the coordinator: {reject.code}: {reject.message}"
        await self.move(row, T.RELEASED, "coordinator released the match", note, reserved="")

    # -- early close and liquidation ----------------------------------------------------------

    async def on_close_offer(self, row: TraderContract, close: CloseOffer) -> None:
        if T(row.state) is T.CLOSE_OFFERED:
            # a newer quote replaces the one we did not sign
            row = await self.move(row, T.OPEN, "a newer close quote", "open")
        if T(row.state) is not T.OPEN:
            return
        liquidation = close.reason == CloseReason.LIQUIDATION
        row = await self.move(
            row,
            T.CLOSE_OFFERED,
            "close offered",
            "liquidation close offered" if liquidation else "close quoted",
            close_offer_hex=close.serialize().hex(),
        )
        if row.position_id in self.closing_wanted or (
            liquidation and self.settings.auto_liquidation
        ):
            await self.sign_close(row)

    async def sign_close(self, row: TraderContract) -> None:
        """Sign the stored close offer: one the trader asked for, or a liquidation the
        contract would pay the same at its price (``check_liquidation``)."""
        close = CloseOffer.parse(bytes.fromhex(row.close_offer_hex or ""))
        asked = row.position_id in self.closing_wanted
        signed = await self.signed(row)
        secret = self.keys.funding_secret(row.funding_key or 0)
        try:
            if close.reason == CloseReason.LIQUIDATION and not asked:
                check_liquidation(signed, close)
            accept = accept_close(signed, close, secret, now=int(_now().timestamp()))
        except TentenoneError as exc:
            await self.move(row, T.OPEN, "close offer refused", f"close refused: {exc.message}")
            return
        async with self.db.transaction() as s:
            fresh = await s.get(TraderContract, row.id)
            assert fresh is not None
            if (
                T(fresh.state) is not T.CLOSE_OFFERED
                or fresh.close_offer_hex != row.close_offer_hex
            ):
                return  # signed meanwhile by another pass, or replaced
            fresh.close_accept_hex = accept.serialize().hex()
            fresh.note = "close signed: waiting for the coordinator's confirmation"
            await transition(s, fresh, T.CLOSE_ACCEPTED, "close_accept sent")
            await self.queue(s, fresh, accept)
        crashpoint("dlc.trader.close.after_accept_save")
        self.closing_wanted.discard(row.position_id)
        await self.changed()

    async def close_quote_lapsed(self, row: TraderContract) -> bool:
        """An unsigned quote past its expiry: the position is open again (the trader may ask
        for a new one); the coordinator does the same on its side."""
        close = CloseOffer.parse(bytes.fromhex(row.close_offer_hex or ""))
        if close.expires_at >= int(_now().timestamp()):
            return False
        await self.move(row, T.OPEN, "close quote expired", "open: the close quote expired")
        return True

    async def on_close_confirm(self, row: TraderContract, confirm: CloseConfirm) -> None:
        if T(row.state) is not T.CLOSE_ACCEPTED or not row.close_offer_hex:
            return
        close = CloseOffer.parse(bytes.fromhex(row.close_offer_hex))
        signed = await self.signed(row)
        secret = self.keys.funding_secret(row.funding_key or 0)
        tx = finish_close(signed, close, confirm, secret)
        crashpoint("dlc.trader.close.after_confirm_receive")
        await self.move(
            row,
            T.CLOSING,
            "close confirmed",
            f"closing by {tx.txid_hex()}",
            spend_tx_hex=tx.serialize().hex(),
            spend_txid=tx.txid_hex(),
        )

    # -- the chain ---------------------------------------------------------------------------------

    async def poll_contract(self, row: TraderContract) -> None:
        state = T(row.state)
        if state is T.SIGNED:
            await self.broadcast_funding(row)
        elif state is T.FUNDING:
            conf = await self.chain.confirmations(row.funding_txid or "")
            if conf is None:
                await self.send_funding(row)
            elif conf >= self.settings.funding_depth:
                await self.move(row, T.OPEN, "funding at depth", "open")
        elif state is T.CLOSE_OFFERED and await self.close_quote_lapsed(row):
            return
        elif state in (T.OPEN, T.CLOSE_OFFERED, T.CLOSE_ACCEPTED):
            await self.poll_open(row)
        elif state in (T.SETTLING, T.CLOSING, T.REFUNDING):
            await self._poll_spend(row)
        elif state in ROLLING or state is T.PENDING_RENEWAL:
            await self.rollover.poll(row)

    def funding_output(self, row: TraderContract) -> tuple[OutPoint, bytes]:
        offer, accept = _offer_and_accept(row)
        script = p2wsh(multisig_2of2(offer.funding_pubkey, accept.funding_pubkey))
        funding = parse_transaction(bytes.fromhex(row.funding_tx_hex or ""))
        vout = next(n for n, o in enumerate(funding.outputs) if o.script_pubkey == script)
        return OutPoint.from_hex(row.funding_txid or "", vout), script

    async def poll_open(self, row: TraderContract) -> None:
        outpoint, script = self.funding_output(row)
        spender = await self.chain.spender(outpoint, script)
        if spender is not None:
            await self.spent(row, spender)
            return
        if _now() >= row.maturity:
            tlv = await self._attestation(row.market)
            if tlv is not None:
                await self.settle(row, OracleAttestation.parse(tlv))
                return
        if await self.chain.tip_height() >= row.refund_locktime:
            tx = refund_transaction(await self.signed(row))
            row = await self.move(
                row,
                T.REFUNDING,
                "refund locktime reached",
                f"refunding by {tx.txid_hex()}",
                spend_tx_hex=tx.serialize().hex(),
                spend_txid=tx.txid_hex(),
            )
            crashpoint("dlc.trader.refund.before_broadcast")
            await self.chain.broadcast(tx.serialize())

    async def _attestation(self, market: str) -> bytes | None:
        """The attestation, or None if not out yet or the gateway is away (the refund check
        that follows must still run)."""
        try:
            return await self.gateway.attestation_tlv(market)
        except GatewayUnavailable as exc:
            _log.warning("no attestation of %s for now: %s", market, exc.message)
            return None

    async def settle(self, row: TraderContract, attestation: OracleAttestation) -> None:
        """Complete the CET the attestation unlocks, save it, broadcast it."""
        signed = await self.signed(row)
        secret = self.keys.funding_secret(row.funding_key or 0)
        tx, _ = complete_cet(signed, Signer.ACCEPTER, secret, [attestation], self.policy.hashing)
        crashpoint("dlc.trader.settle.after_attest")
        row = await self.move(
            row,
            T.SETTLING,
            "attested",
            f"settling by {tx.txid_hex()}",
            spend_tx_hex=tx.serialize().hex(),
            spend_txid=tx.txid_hex(),
        )
        crashpoint("dlc.trader.settle.before_broadcast")
        await self.chain.broadcast(tx.serialize())
        crashpoint("dlc.trader.settle.after_broadcast")

    async def spent(self, row: TraderContract, txid: str) -> None:
        """Someone spent the funding output: follow that transaction to its end."""
        raw = await self.chain.raw_transaction(txid)
        signed = await self.signed(row)
        if txid == signed.txs.refund.txid_hex():
            to = T.REFUNDING
        elif any(txid == cet.txid_hex() for cet in signed.txs.cets):
            to = T.SETTLING
        else:
            to = T.CLOSING
        await self.move(
            row, to, "funding spent", f"spent by {txid}", spend_tx_hex=raw.hex(), spend_txid=txid
        )

    async def _poll_spend(self, row: TraderContract) -> None:
        conf = await self.chain.confirmations(row.spend_txid or "")
        if conf is None:
            outpoint, script = self.funding_output(row)
            other = await self.chain.spender(outpoint, script)
            if other is not None and other != row.spend_txid:
                await self._spent_instead(row, other)
                return
            await self.chain.broadcast(bytes.fromhex(row.spend_tx_hex or ""))
            if T(row.state) is T.SETTLING:  # the CET broadcast again after a restart
                crashpoint("dlc.trader.settle.after_broadcast")
            return
        if conf < 1:
            return
        final = {T.SETTLING: T.SETTLED, T.CLOSING: T.CLOSED, T.REFUNDING: T.REFUNDED}[T(row.state)]
        _, accept = _offer_and_accept(row)
        tx = parse_transaction(bytes.fromhex(row.spend_tx_hex or ""))
        paid = sum(o.value for o in tx.outputs if o.script_pubkey == accept.payout_spk)
        pnl = paid - row.trader_margin_sat
        await self.move(
            row,
            final,
            f"{row.spend_txid} confirmed",
            f"{final.name.lower()} by {row.spend_txid}: {paid} sat paid to us",
            realized_pnl_sat=pnl,
        )

    async def _spent_instead(self, row: TraderContract, txid: str) -> None:
        """Another valid spend won (the coordinator's CET, say): it is the one that counts."""
        raw = await self.chain.raw_transaction(txid)
        async with self.db.transaction() as s:
            fresh = await s.get(TraderContract, row.id)
            assert fresh is not None
            fresh.spend_tx_hex, fresh.spend_txid = raw.hex(), txid
            fresh.note = f"spent by {txid}"


def _offer_and_accept(row: TraderContract) -> tuple[OfferDlc | RenewOffer, AcceptDlc | RenewAccept]:
    """The offer and accept of an opening (offer_dlc, accept_dlc) or a renewal (renew_*)."""
    offer = parse_protocol_message(bytes.fromhex(row.offer_hex))
    accept = parse_protocol_message(bytes.fromhex(row.accept_hex or ""))
    assert isinstance(offer, OfferDlc | RenewOffer)
    assert isinstance(accept, AcceptDlc | RenewAccept)
    return offer, accept


def _refusal(message: str) -> TentenoneError:
    from tentenone.trader.errors import OfferRefused

    return OfferRefused(message)


async def _fill_order(s: AsyncSession, order: OrderRow, quantity: int, note: str) -> None:
    order.filled_quantity = min(order.quantity, order.filled_quantity + quantity)
    order.note = note[:500]
    order.updated_at = _now()
    target = (
        OrderState.FILLED
        if order.filled_quantity >= order.quantity
        else OrderState.PARTIALLY_FILLED
    )
    if OrderState(order.state) is not target and order.state_machine.can(
        OrderState(order.state), target
    ):
        await transition(s, order, target, note[:200])
