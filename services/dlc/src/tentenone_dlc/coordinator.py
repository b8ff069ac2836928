"""The coordinator's flows: open, accept → sign, funding, settle, close, refund, release.

Every step saves its new state (and the message it is about to send) in one
transaction before anything leaves the process; transactions are broadcast
from the saved state by :meth:`Coordinator.poll_once`, which also re-sends
what a crash interrupted. A step that gave away a signature is never undone:
after sign_dlc only the chain releases a contract (ADR 0103).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
import re
import secrets
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from multiprocessing import get_context
from typing import Any

from sqlalchemy import func
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from tentenone.bitcoin.script import multisig_2of2, p2wsh
from tentenone.bitcoin.tx import OutPoint, Transaction, parse_transaction
from tentenone.crashpoint import crashpoint
from tentenone.dlc.curve import Side
from tentenone.dlc.messages import AcceptDlc, OfferDlc, SignDlc
from tentenone.dlc.oracle_messages import OracleAttestation
from tentenone.dlc.protocol.closing import build_close_offer, complete_close, offer_payout_at
from tentenone.dlc.protocol.errors import UnexpectedMessage
from tentenone.dlc.protocol.messages import (
    PROTOCOL_VERSION,
    CloseAccept,
    CloseOffer,
    CloseReason,
    ProtocolMessage,
    Reject,
    RenewAccept,
    RenewFinalize,
    RenewOffer,
    RenewSign,
    message_json,
    message_name,
    parse_protocol_message,
)
from tentenone.dlc.protocol.opening import PartyFunding, build_offer, sign_accept
from tentenone.dlc.protocol.renewal import (
    build_renew_offer,
    complete_renewal,
    renewed_contract,
    sign_renewal,
)
from tentenone.dlc.protocol.settlement import complete_cet, refund_transaction
from tentenone.dlc.protocol.signed import SignedContract, renewal_contract
from tentenone.dlc.protocol.states import CoordinatorState as S
from tentenone.dlc.protocol.terms import TradeTerms, build_contract
from tentenone.dlc.signing import Signer, to_tx_inputs
from tentenone.dlc.transactions import FUND_TX_BASE_WEIGHT, weight_to_fee
from tentenone.dlc.validation import ValidationPolicy, validate_offer
from tentenone.errors import InvalidInput, NotFound, ProtocolError, TentenoneError
from tentenone.market.schedule import ExpirySchedule
from tentenone.service.context import ServiceContext
from tentenone.store.errors import ConcurrentModification
from tentenone.store.statemachine import create, transition
from tentenone.wire import dlc as wire
from tentenone.wire import dlc_lifecycle as steps
from tentenone_dlc.keys import FundingKeys
from tentenone_dlc.metrics import SIGNING_SECONDS, SIGNING_WAITING
from tentenone_dlc.models import Contract, OutMessage, TraderRow
from tentenone_dlc.ports import Ports
from tentenone_dlc.settings import DlcSettings
from tentenone_dlc.views import position_view

__all__ = ["Coordinator", "FundingInputSpent", "Leg", "OfferExpired", "parse_matched_trade"]

_log = logging.getLogger(__name__)
_TRADER_KEY = re.compile(r"[0-9a-f]{64}")
#: the largest payload_hex a dlc.protocol_message event carries (the outbox limit is 1 MiB)
_MAX_EVENT_HEX = 768 * 1024
#: list_protocol_messages stops adding messages past this many hex characters
MAX_LIST_HEX = 8 * 1024 * 1024
_ACTIVE_FUNDED = (S.OPEN, S.FUNDING, S.CLOSE_OFFERED, S.ROLLOVER_OFFERED, S.ROLLOVER_SIGNED)


class FundingInputSpent(ProtocolError):
    """A funding input of the trader's accept is already spent (or unknown)."""

    code = "dlc_funding_input_spent"


class OfferExpired(ProtocolError):
    """accept_dlc after the offer's deadline: the match is released, not signed."""

    code = "dlc_offer_expired"


@dataclass(frozen=True, slots=True)
class Leg:
    """One trader's side of a fill: the DLC the coordinator makes with that trader."""

    trade_id: str
    market: str
    trader_pubkey: str
    order_id: str
    side: Side
    quantity: int
    price_cents: int
    leverage: int
    fee_sat: int


def parse_matched_trade(payload: dict[str, Any], house: Sequence[str]) -> list[Leg]:
    """The legs of a ``trade.matched`` body that are traders (not the house's accounts).

    Shape (ADR 0104): ``trade_id, market, price`` (USD cents), ``quantity``,
    ``taker_side`` (``long``/``buy`` or ``short``/``sell``), and per role
    (``taker_``/``maker_``): ``trader_id`` (the x-only key), ``order_id``,
    ``fee_sat``, ``leverage`` (or ``margin_sat``, from which it is derived).
    The maker's side is the other one.
    """
    try:
        taker_side = _SIDES[str(payload["taker_side"]).lower()]
        price_cents = int(payload["price"])
        quantity = int(payload["quantity"])
        legs = []
        for role in ("taker", "maker"):
            legs.append(
                Leg(
                    trade_id=str(payload["trade_id"]),
                    market=str(payload["market"]),
                    trader_pubkey=str(payload[f"{role}_trader_id"]),
                    order_id=str(payload[f"{role}_order_id"]),
                    side=taker_side if role == "taker" else _other(taker_side),
                    quantity=quantity,
                    price_cents=price_cents,
                    leverage=_leverage(payload, role, quantity, price_cents),
                    fee_sat=int(payload.get(f"{role}_fee_sat", 0)),
                )
            )
    except (KeyError, ValueError, TypeError, ZeroDivisionError) as exc:
        raise InvalidInput(f"trade.matched body is not a fill: {exc!r}") from None
    traders = [leg for leg in legs if leg.trader_pubkey not in house]
    for leg in traders:
        if not _TRADER_KEY.fullmatch(leg.trader_pubkey):
            raise InvalidInput(
                f"trade {leg.trade_id}: {leg.trader_pubkey[:64]!r} is neither a trader's "
                "x-only key nor one of the house's accounts (DLC house_traders)"
            )
    return traders


_SIDES = {"long": Side.LONG, "buy": Side.LONG, "short": Side.SHORT, "sell": Side.SHORT}


def _leverage(payload: dict[str, Any], role: str, quantity: int, price_cents: int) -> int:
    if f"{role}_leverage" in payload:
        return int(payload[f"{role}_leverage"])
    if f"{role}_margin_sat" not in payload:
        return 1
    notional = quantity * 100_000_000 * 100 / price_cents
    return max(1, min(10, round(notional / int(payload[f"{role}_margin_sat"]))))


def _other(side: Side) -> Side:
    return Side.SHORT if side is Side.LONG else Side.LONG


#: a trader's request that races the poll loop on one row is read again this many times
_CONFLICT_RETRIES = 3


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _outpoints(text: str) -> list[OutPoint]:
    out = []
    for item in filter(None, text.split(",")):
        txid, vout = item.split(":")
        out.append(OutPoint.from_hex(txid, int(vout)))
    return out


class Coordinator:
    def __init__(
        self, ctx: ServiceContext, settings: DlcSettings, ports: Ports, keys: FundingKeys
    ) -> None:
        self.ctx, self.settings, self.ports, self.keys = ctx, settings, ports, keys
        self.chain_hash = bytes.fromhex(settings.chain_hash)
        self.policy = ValidationPolicy(chain_hashes=frozenset({self.chain_hash}))
        #: set to run a poll now (after an attestation or a close)
        self.wake = asyncio.Event()
        #: spreads adaptor signing and verification over processes (setting signing_workers)
        self.executor: Executor | None = (
            # spawned, not forked: this process has threads (a fork could copy a held lock)
            ProcessPoolExecutor(settings.signing_workers, mp_context=get_context("spawn"))
            if settings.signing_workers > 1
            else None
        )
        #: admits the verification and signing of one contract at a time (signing_slots)
        self._signing = asyncio.Semaphore(settings.signing_slots)
        #: accepts being verified, by (position, payload hash)
        self._inflight: dict[tuple[str, str], asyncio.Task[Contract]] = {}
        #: the tip at which each open contract's funding output was last seen unspent
        self._spend_checked: dict[str, int] = {}

    @contextlib.asynccontextmanager
    async def _signing_slot(self) -> AsyncIterator[None]:
        """One of ``signing_slots``: waiting for it and the work in it are measured."""
        with SIGNING_WAITING.track_inprogress():
            await self._signing.acquire()
        try:
            with SIGNING_SECONDS.time():
                yield
        finally:
            self._signing.release()

    # -- bookkeeping shared by every step ------------------------------------------

    async def _trader(self, s: AsyncSession, trader: str) -> TraderRow:
        row = await s.get(TraderRow, trader, with_for_update=True)
        if row is None:
            row = TraderRow(trader_pubkey=trader)
            s.add(row)
            await s.flush()
        return row

    async def _changed(
        self, s: AsyncSession, row: Contract, kind: type[wire.PositionChanged]
    ) -> None:
        """One position.* event per change, with the trader's next state number."""
        row.updated_at = _now()
        trader = await self._trader(s, row.trader_pubkey)
        trader.state_number += 1
        await s.flush()
        event = kind(state_number=trader.state_number, position=position_view(row))
        await self.ctx.publish(s, event)  # type: ignore[arg-type]

    async def _step(
        self, s: AsyncSession, row: Contract, kind: type[steps.ContractStep], **kw: Any
    ) -> None:
        event = kind(
            position_id=row.id,
            trader_pubkey=row.trader_pubkey,
            trade_id=row.trade_id,
            state=S(row.state).name,
            contract_id=row.contract_id,
            **kw,
        )
        await self.ctx.publish(s, event)  # type: ignore[arg-type]

    async def _send(self, s: AsyncSession, row: Contract, message: ProtocolMessage) -> None:
        """Store ``message`` for the trader with its next seq; the event goes out after commit."""
        trader = await self._trader(s, row.trader_pubkey)
        trader.last_seq += 1
        stored = OutMessage(
            trader_pubkey=row.trader_pubkey,
            seq=trader.last_seq,
            position_id=row.id,
            message_type=message_name(message),
            payload_hex=message.serialize().hex(),
            created_at=_now(),
        )
        s.add(stored)
        await s.flush()
        # The outbox takes bodies up to 1 MiB: a bigger message (a sign_dlc with
        # thousands of adaptor signatures) is announced without its bytes; the app
        # reads it with list_protocol_messages (its seq says which).
        small = len(stored.payload_hex) <= _MAX_EVENT_HEX
        view = _summary(message) if small else {"type": stored.message_type, "omitted": True}
        await self.ctx.publish(
            s,
            wire.ProtocolMessageSent(
                seq=stored.seq,
                position_id=row.id,
                message_type=stored.message_type,
                payload_hex=stored.payload_hex if small else "",
                view=view,
                created_at=stored.created_at,
                trader_pubkey=row.trader_pubkey,
            ),
        )

    async def get(self, s: AsyncSession, trader: str, position_id: str) -> Contract:
        row = await s.get(Contract, position_id)
        if row is None or row.trader_pubkey != trader:
            raise NotFound(f"no position {position_id}")
        return row

    # -- opening --------------------------------------------------------------------

    def terms(self, leg: Leg) -> TradeTerms:
        return TradeTerms(
            trader_side=leg.side,
            quantity=leg.quantity,
            price=Decimal(leg.price_cents) / 100,
            trader_leverage=Decimal(leg.leverage),
            coordinator_leverage=Decimal(self.settings.coordinator_leverage),
            fee=leg.fee_sat,
            oracle_public_key=b"",
            event_id=leg.market,
            nb_digits=self.settings.nb_digits,
            max_cets=self.settings.max_cets,
        )

    async def open_from_fill(self, leg: Leg, held: list[OutPoint] | None = None) -> str:
        """Build, fund, store and send the offer of one leg; the position id.

        The coins it reserves are added to ``held``: when the caller's
        transaction rolls back, it gives them back (``release_held``).
        """
        async with self.ctx.transaction() as s:
            found = (
                await s.exec(
                    select(Contract).where(
                        Contract.trade_id == leg.trade_id,
                        Contract.trader_pubkey == leg.trader_pubkey,
                    )
                )
            ).first()
            if found is not None:
                return found.id
        position_id = secrets.token_hex(12)
        announcement = await self.ports.oracle.announcement(leg.market)
        terms = self.terms(leg)
        terms = TradeTerms(
            **{**_fields(terms), "oracle_public_key": announcement.oracle_public_key}
        )
        # CPU work off the event loop: RPCs and consumers go on meanwhile
        info, curve = await asyncio.to_thread(build_contract, terms, announcement)
        wallet = self.ports.wallet
        rate = self.settings.fee_rate
        fees = weight_to_fee(FUND_TX_BASE_WEIGHT // 2 + 36 + 4 * 34 + 249 + 4 * 34, rate)
        coins = await wallet.reserve(curve.offer_collateral + fees, rate, position_id)
        if held is not None:
            held.extend(i.outpoint for i in to_tx_inputs(coins))
        crashpoint("dlc.coordinator.offer.after_reserve")  # locks.sweep_locks frees them
        try:
            offer = await self._offer(position_id, info, curve.offer_collateral, coins, terms)
        except BaseException:
            await wallet.release([i.outpoint for i in to_tx_inputs(coins)])
            raise
        reserved = ",".join(
            f"{i.outpoint.txid[::-1].hex()}:{i.outpoint.vout}" for i in to_tx_inputs(coins)
        )
        maturity = dt.datetime.fromtimestamp(announcement.oracle_event.event_maturity_epoch, dt.UTC)
        now = _now()
        row = Contract(
            id=position_id,
            state=S.OFFERED,
            trader_pubkey=leg.trader_pubkey,
            trade_id=leg.trade_id,
            order_id=leg.order_id,
            market=leg.market,
            expiry=maturity,
            side=leg.side.value,
            quantity=leg.quantity,
            price_cents=leg.price_cents,
            leverage=leg.leverage,
            coordinator_leverage=self.settings.coordinator_leverage,
            fee_sat=leg.fee_sat,
            trader_margin_sat=curve.accept_collateral,
            coordinator_margin_sat=curve.offer_collateral,
            liquidation_low=curve.low_flat_end,
            liquidation_high=curve.high_flat_start,
            temporary_contract_id=offer.temporary_contract_id.hex(),
            offer_hex=offer.serialize().hex(),
            reserved=reserved,
            refund_locktime=offer.refund_locktime,
            deadline=now + dt.timedelta(seconds=self.settings.offer_timeout_s),
            note="waiting for accept_dlc",
            created_at=now,
            updated_at=now,
        )
        async with self.ctx.transaction() as s:
            await create(s, row, "trade matched", trade_id=leg.trade_id)
            await self._changed(s, row, wire.PositionCreated)
            await self._step(s, row, steps.DlcOffered)
            await self._send(s, row, offer)
        crashpoint("dlc.coordinator.offer.after_save")
        return position_id

    async def _offer(
        self, position_id: str, info: Any, collateral: int, coins: list[Any], terms: TradeTerms
    ) -> OfferDlc:
        del terms
        tip = await self.ports.chain.tip_height()
        event = info.events[0].oracle_info.announcements[0].oracle_event
        blocks = (
            max(0, int(event.event_maturity_epoch - _now().timestamp()))
            // self.settings.block_interval_s
        )
        funding = PartyFunding(
            self.keys.pubkey(position_id),
            await self.ports.wallet.payout_script(),
            await self.ports.wallet.change_script(),
            tuple(coins),
        )

        def build() -> OfferDlc:
            offer = build_offer(
                info,
                collateral,
                funding,
                chain_hash=self.chain_hash,
                fee_rate=self.settings.fee_rate,
                cet_locktime=tip,
                refund_locktime=tip + blocks + self.settings.refund_delay_blocks,
            )
            validate_offer(offer, self.policy)  # what the trader will check: never a bad one
            return offer

        return await asyncio.to_thread(build)

    # -- messages from the trader -----------------------------------------------------

    async def submit(self, trader: str, position_id: str, kind: str, payload_hex: str) -> Contract:
        message = parse_protocol_message(bytes.fromhex(payload_hex))
        if message_name(message) != kind:
            raise InvalidInput(f"message_type {kind!r} but the payload is {message_name(message)}")
        async with self.ctx.transaction() as s:
            row = await self.get(s, trader, position_id)
        if isinstance(message, AcceptDlc):
            return await self._submit_accept(row, payload_hex)
        if isinstance(message, CloseAccept):
            return await self._on_close_accept(row, message)
        if isinstance(message, RenewAccept):
            return await self._on_renew_accept(row, message, payload_hex)
        if isinstance(message, RenewFinalize):
            return await self._on_renew_finalize(row, message)
        if isinstance(message, Reject):
            reason = f"trader refused: {message.code}: {message.message}"
            if S(row.state) is S.OFFERED:
                await self.release(row.id, reason, tell=False)
            elif S(row.state) is S.ROLLOVER_OFFERED:
                # nothing signed for the new contract yet: the position stays as it was
                await self._abandon_rollover(row.id, f"rollover {reason}")
            else:
                return row
            async with self.ctx.transaction() as s:
                return await self.get(s, trader, position_id)
        raise UnexpectedMessage(f"{kind} is not a message the coordinator accepts from a trader")

    async def _submit_accept(self, row: Contract, payload_hex: str) -> Contract:
        """Store the accept, then verify and sign it in a task (ADR 0108).

        Verifying thousands of adaptor signatures can outlast the RPC: the reply
        waits for the task at most ``accept_reply_s``, then says what is true:
        the accept is stored (state offered, note "verifying"), and sign_dlc or a
        reject follows on the protocol channel. A repeat joins the same task; a
        stored accept whose task died with the process is resumed by the poll.
        """
        row = await self._store_accept(row, payload_hex)
        if row.accept_hex is not None:
            return row  # a replay of the accept we signed: nothing changes
        task = self._verify_task(row.id, payload_hex)
        try:
            return await asyncio.wait_for(asyncio.shield(task), self.settings.accept_reply_s)
        except TimeoutError:
            async with self.ctx.transaction() as s:
                return await self.get(s, row.trader_pubkey, row.id)

    async def _store_accept(self, row: Contract, payload_hex: str) -> Contract:
        if row.accept_hex is not None:
            if row.accept_hex == payload_hex:
                return row
            raise UnexpectedMessage("this position already has an accept_dlc")
        if row.pending_accept_hex is not None:
            if row.pending_accept_hex == payload_hex:
                return row  # being verified already
            raise UnexpectedMessage("this position already has an accept_dlc being verified")
        if S(row.state) is not S.OFFERED:
            raise UnexpectedMessage(f"accept_dlc in state {S(row.state).name}")
        if _now() > row.deadline:
            # the poll may not have released it yet; never sign after the deadline
            reason = "timed out: dlc_offer_expired: accept_dlc after the deadline"
            await self.release(row.id, reason)
            raise OfferExpired(f"the offer of position {row.id} expired at {row.deadline}")
        async with self.ctx.transaction() as s:
            row = await self.get(s, row.trader_pubkey, row.id)
            if S(row.state) is not S.OFFERED or row.pending_accept_hex is not None:
                raise UnexpectedMessage(f"accept_dlc in state {S(row.state).name}, twice")
            row.pending_accept_hex = payload_hex
            row.note = "accept_dlc received: verifying it; sign_dlc follows"
            # the trader answered in time: the verification gets a window of its own
            # no position.updated: the state number counts states, and this is none
            row.deadline = _now() + dt.timedelta(seconds=self.settings.offer_timeout_s)
        crashpoint("dlc.coordinator.accept.after_store")
        return row

    def _verify_task(self, position_id: str, payload_hex: str) -> asyncio.Task[Contract]:
        key = (position_id, hashlib.sha256(payload_hex.encode()).hexdigest())
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.create_task(self._verify_accept(position_id, payload_hex))
            self._inflight[key] = task
            task.add_done_callback(lambda t: self._verified(key, t))
        return task

    def _verified(self, key: tuple[str, str], task: asyncio.Task[Contract]) -> None:
        self._inflight.pop(key, None)
        if not task.cancelled() and task.exception() is not None:
            # seen here (the reply may be gone); a refusal already released the match
            _log.warning("accept_dlc of %s: %r", key[0], task.exception())

    def _verifying(self, position_id: str) -> bool:
        return any(key[0] == position_id for key in self._inflight)

    async def _verify_accept(self, position_id: str, payload_hex: str) -> Contract:
        async with self.ctx.transaction() as s:
            row = await s.get(Contract, position_id)
        if row is None or S(row.state) is not S.OFFERED or row.pending_accept_hex != payload_hex:
            if row is None:
                raise NotFound(f"no position {position_id}")
            return row  # signed or released meanwhile
        accept = AcceptDlc.parse(bytes.fromhex(payload_hex))
        offer = OfferDlc.parse(bytes.fromhex(row.offer_hex))
        try:
            await self._check_inputs_unspent(accept)
            async with self._signing_slot():
                sign, signed = await asyncio.to_thread(
                    sign_accept,
                    offer,
                    accept,
                    self.policy,
                    self.keys.secret(_key_label(row)),
                    self.ports.wallet.signer(),
                    executor=self.executor,
                )
        except TentenoneError as exc:
            await self.release(row.id, f"accept_dlc refused: {exc.code}: {exc.message}")
            raise
        crashpoint("dlc.coordinator.accept.after_receive")
        funding = signed.funding
        async with self.ctx.transaction() as s:
            row = await self.get(s, row.trader_pubkey, row.id)
            if S(row.state) is not S.OFFERED:
                raise UnexpectedMessage(f"accept_dlc in state {S(row.state).name}")
            row.accept_hex = payload_hex
            row.pending_accept_hex = None
            row.sign_hex = sign.serialize().hex()
            row.contract_id = signed.contract_id.hex()
            row.funding_txid = funding.tx.txid_hex()
            row.funding_vout = funding.output_index
            row.note = "waiting for the funding transaction"
            row.deadline = _now() + dt.timedelta(seconds=self.settings.offer_timeout_s)
            await transition(s, row, S.SIGNED, "accept verified, sign_dlc sent")
            await self._step(s, row, steps.DlcAccepted)
            await self._step(s, row, steps.DlcSigned, txid=row.funding_txid)
            await self._changed(s, row, wire.PositionUpdated)
            await self._send(s, row, sign)
        crashpoint("dlc.coordinator.accept.after_save")
        return row

    async def _check_inputs_unspent(self, accept: AcceptDlc) -> None:
        """Protocol.md leaves it to us: a funding input spent already can never fund."""
        try:
            inputs = to_tx_inputs(accept.funding_inputs)
        except TentenoneError:
            return  # validation reports the malformed input
        for item in inputs:
            if not await self.ports.chain.is_unspent(item.outpoint, item.script_pubkey):
                raise FundingInputSpent(
                    f"funding input {item.outpoint.txid[::-1].hex()}:{item.outpoint.vout} "
                    "is spent or unknown to the chain"
                )

    async def release(self, position_id: str, reason: str, *, tell: bool = True) -> None:
        """Release a contract nobody signed the funding of: coins back, reason recorded."""
        async with self.ctx.transaction() as s:
            row = await s.get(Contract, position_id)
            if row is None or S(row.state) is not S.OFFERED:
                return
            row.note = reason[:500]
            await transition(s, row, S.RELEASED, reason[:200])
            await self._step(s, row, steps.DlcReleased, reason=reason[:500])
            await self._changed(s, row, wire.PositionClosed)
            if tell:
                code = reason.split(":")[1].strip() if reason.count(":") >= 2 else "dlc_released"
                await self._send(
                    s,
                    row,
                    Reject(
                        PROTOCOL_VERSION, bytes.fromhex(row.temporary_contract_id), code, reason
                    ),
                )
        crashpoint("dlc.coordinator.release.after_save")
        await self._unreserve(row.id, row.reserved)

    async def _unreserve(self, position_id: str, reserved: str) -> None:
        """Unlock a released contract's coins, then forget them. A crash in between
        leaves ``reserved`` set: ``sweep_released`` finishes it at the next start."""
        outpoints = _outpoints(reserved)
        if not outpoints:
            return
        await self.ports.wallet.release(outpoints)
        async with self.ctx.transaction() as s:
            row = await s.get(Contract, position_id)
            if row is not None:
                row.reserved = ""

    async def sweep_released(self) -> int:
        """At start: unlock the coins of every released contract that still holds some."""
        async with self.ctx.transaction() as s:
            rows = (
                await s.exec(
                    select(Contract.id, Contract.reserved).where(
                        Contract.state == int(S.RELEASED),
                        Contract.reserved != "",
                    )
                )
            ).all()
        for position_id, reserved in rows:
            await self._unreserve(position_id, reserved)
        return len(rows)

    # -- settlement ------------------------------------------------------------------

    def signed(self, row: Contract, old: SignedContract | None = None) -> SignedContract:
        """The signed contract of ``row``, rebuilt from its stored messages."""
        if row.renewed_from is None:
            return SignedContract.from_opening(
                OfferDlc.parse(bytes.fromhex(row.offer_hex)),
                AcceptDlc.parse(bytes.fromhex(row.accept_hex or "")),
                SignDlc.parse(bytes.fromhex(row.sign_hex or "")),
            )
        if old is None:
            raise InvalidInput(f"{row.id} renews {row.renewed_from}: pass the old contract")
        offer = RenewOffer.parse(bytes.fromhex(row.offer_hex))
        accept = RenewAccept.parse(bytes.fromhex(row.accept_hex or ""))
        sign = RenewSign.parse(bytes.fromhex(row.sign_hex or ""))
        return renewed_contract(renewal_contract(old, offer, accept), offer, accept, sign)

    async def release_held(self, held: list[OutPoint]) -> None:
        """Unlock coins reserved by offers that were rolled back (never an error)."""
        if not held:
            return
        try:
            await self.ports.wallet.release(held)
        except Exception:
            # the restart's lock sweep frees them (ADR 0107)
            _log.exception("releasing %d coins of rolled-back offers failed", len(held))

    async def refuse_fill(self, s: AsyncSession, leg: Leg, exc: TentenoneError) -> None:
        """A fill that cannot be offered: ``dlc.released`` with the reason, so the
        order book undoes it and the trader's order says why."""
        reason = f"the coordinator cannot offer this trade: {exc.code}: {exc.message}"
        _log.warning(reason, extra={"trade": leg.trade_id, "trader": leg.trader_pubkey})
        event = steps.DlcReleased(
            position_id=f"refused-{leg.trade_id}"[:64],
            trader_pubkey=leg.trader_pubkey,
            trade_id=leg.trade_id,
            state="REFUSED",
            reason=reason[:500],
        )
        await self.ctx.publish(s, event)

    async def load_signed(self, row: Contract) -> SignedContract:
        """``signed`` of ``row`` and, for a renewed one, of every contract it renews."""
        chain = [row]
        async with self.ctx.transaction() as s:
            while chain[-1].renewed_from is not None:
                parent = await s.get(Contract, chain[-1].renewed_from)
                if parent is None:
                    raise NotFound(f"renewed contract {chain[-1].renewed_from} is missing")
                chain.append(parent)

        def build() -> SignedContract:
            signed: SignedContract | None = None
            for item in reversed(chain):
                signed = self.signed(item, signed)
            assert signed is not None
            return signed

        return await asyncio.to_thread(build)

    async def on_attestation(self, s: AsyncSession, attestation: OracleAttestation) -> int:
        """Complete the CET of every funded contract on this event; broadcast follows."""
        rows = (
            await s.exec(
                select(Contract).where(
                    Contract.market == attestation.event_id,
                    Contract.state.in_([int(x) for x in _ACTIVE_FUNDED]),  # type: ignore[attr-defined]
                )
            )
        ).all()
        done = 0
        for row in rows:
            signed = await self.load_signed(row)
            tx, _ = complete_cet(
                signed,
                Signer.OFFERER,
                self.keys.secret(_key_label(row)),
                [attestation],
                self.policy.hashing,
            )
            crashpoint("dlc.coordinator.settle.after_attest")
            await self._spend(s, row, tx, S.SETTLING, "attested", steps.PositionClosing)
            done += 1
        self.wake.set()
        return done

    async def _spend(
        self,
        s: AsyncSession,
        row: Contract,
        tx: Transaction,
        state: S,
        reason: str,
        kind: type[steps.ContractStep],
    ) -> None:
        row.spend_tx_hex = tx.serialize().hex()
        row.spend_txid = tx.txid_hex()
        row.note = f"{reason}: broadcasting {row.spend_txid}"
        await transition(s, row, state, reason)
        await self._step(s, row, kind, txid=row.spend_txid)
        await self._changed(s, row, wire.PositionUpdated)

    # -- early close and liquidation -----------------------------------------------------

    async def close_quote(
        self, trader: str, position_id: str, price_cents: int, reason: int = CloseReason.EARLY_CLOSE
    ) -> CloseOffer:
        await self._catch_up_funding(trader, position_id)
        for attempt in range(_CONFLICT_RETRIES):
            try:
                return await self._close_quote(trader, position_id, price_cents, reason)
            except ConcurrentModification:
                # the poll loop moved the row between our read and write: read it again
                if attempt == _CONFLICT_RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    async def _close_quote(
        self, trader: str, position_id: str, price_cents: int, reason: int
    ) -> CloseOffer:
        async with self.ctx.transaction() as s:
            row = await self.get(s, trader, position_id)
            if S(row.state) is S.CLOSE_OFFERED and row.close_offer_hex:
                current = CloseOffer.parse(bytes.fromhex(row.close_offer_hex))
                if current.expires_at >= int(_now().timestamp()) and current.reason == reason:
                    return current
                # a new quote replaces the lapsed one: through OPEN, so that the version
                # moves and a poll that read the old quote cannot reopen the new one
                await transition(s, row, S.OPEN, "close quote replaced")
            elif S(row.state) is not S.OPEN:
                raise UnexpectedMessage(f"position is {S(row.state).name}, not open")
            signed = await self.load_signed(row)
            price = max(1, round(price_cents / 100))
            payout = offer_payout_at(signed.contract.contract_info, price)
            expires = int(_now().timestamp() + self.settings.close_quote_ttl_s)
            close = build_close_offer(
                signed, payout, price=price, expires_at=expires, reason=reason
            )
            row.close_offer_hex = close.serialize().hex()
            row.note = "close quoted, waiting for close_accept"
            await transition(s, row, S.CLOSE_OFFERED, "close quoted", close_reason=reason)
            await self._changed(s, row, wire.PositionUpdated)
            await self._send(s, row, close)
        if reason == CloseReason.LIQUIDATION:
            crashpoint("dlc.coordinator.liquidation.after_save")
        else:
            crashpoint("dlc.coordinator.close.after_save")
        return close

    async def _on_close_accept(self, row: Contract, accept: CloseAccept) -> Contract:
        if S(row.state) in (S.CLOSING, S.CLOSED) and row.close_offer_hex:
            return row  # a replay after we completed the close
        if S(row.state) is not S.CLOSE_OFFERED or not row.close_offer_hex:
            raise UnexpectedMessage(f"close_accept in state {S(row.state).name}")
        close = CloseOffer.parse(bytes.fromhex(row.close_offer_hex))
        signed = await self.load_signed(row)
        confirm, tx = complete_close(
            signed, close, accept, self.keys.secret(_key_label(row)), now=int(_now().timestamp())
        )
        crashpoint("dlc.coordinator.close.after_receive")
        async with self.ctx.transaction() as s:
            row = await self.get(s, row.trader_pubkey, row.id)
            kind = (
                steps.PositionLiquidated
                if close.reason == CloseReason.LIQUIDATION
                else steps.PositionClosing
            )
            await self._spend(s, row, tx, S.CLOSING, "closing signed", kind)
            await self._send(s, row, confirm)
        self.wake.set()
        return row

    async def on_index_price(self, price_cents: int) -> None:
        """Propose a liquidation to every open position whose price crossed its clamp."""
        price = round(price_cents / 100)
        async with self.ctx.transaction() as s:
            rows = (await s.exec(select(Contract).where(Contract.state == int(S.OPEN)))).all()
        for row in rows:
            long = row.side == Side.LONG.value
            # the coordinator is the offerer: a long trader's payout is clamped low
            crossed = (
                price <= row.liquidation_low
                if long
                else (row.liquidation_high is not None and price >= row.liquidation_high)
            )
            if crossed:
                _log.info(
                    "position %s: index %d USD crossed its liquidation price; quoting the close",
                    row.id,
                    price,
                )
                crashpoint("dlc.coordinator.liquidation.after_cross")
                await self.close_quote(
                    row.trader_pubkey, row.id, price_cents, CloseReason.LIQUIDATION
                )

    # -- rollover ------------------------------------------------------------------------

    async def request_rollover(self, trader: str, position_id: str) -> Contract:
        """Offer to renew an open position into the next expiry (ADR 0102)."""
        await self._catch_up_funding(trader, position_id)
        async with self.ctx.transaction() as s:
            row = await self.get(s, trader, position_id)
        if S(row.state) is S.ROLLOVER_OFFERED:
            return row  # the offer is out already; the trader re-reads it
        if S(row.state) is not S.OPEN:
            raise UnexpectedMessage(f"position is {S(row.state).name}, not open")
        old = await self.load_signed(row)
        schedule = ExpirySchedule.parse(self.settings.expiry_schedule)
        event_id = schedule.event_id(schedule.next_after(row.expiry))
        announcement = await self.ports.oracle.announcement(event_id)
        leg = Leg(
            row.trade_id,
            event_id,
            row.trader_pubkey,
            row.order_id,
            Side(row.side),
            row.quantity,
            row.price_cents,
            row.leverage,
            row.fee_sat + self.settings.rollover_fee_sat,
        )
        terms = TradeTerms(
            **{**_fields(self.terms(leg)), "oracle_public_key": announcement.oracle_public_key}
        )
        info, curve = build_contract(terms, announcement)
        budget = self.settings.renewal_fee_budget_sat
        coins = await self.ports.wallet.reserve(budget, self.settings.fee_rate, f"{row.id}-renewal")
        tip = await self.ports.chain.tip_height()
        blocks = max(0, int(announcement.oracle_event.event_maturity_epoch - _now().timestamp()))
        blocks //= self.settings.block_interval_s
        renew = build_renew_offer(
            old,
            info,
            curve.offer_collateral,
            funding_pubkey=self.keys.pubkey(f"{row.id}-renewal"),
            payout_spk=await self.ports.wallet.payout_script(),
            fee_inputs=coins,
            change_spk=await self.ports.wallet.change_script(),
            fee_rate=self.settings.fee_rate,
            cet_locktime=tip,
            refund_locktime=tip + blocks + self.settings.refund_delay_blocks,
            expires_at=int(_now().timestamp() + self.settings.offer_timeout_s),
        )
        async with self.ctx.transaction() as s:
            row = await self.get(s, trader, position_id)
            row.renew_offer_hex = renew.serialize().hex()
            row.renew_accept_hex = row.renew_sign_hex = None
            row.invalidation_txid = None
            row.deadline = _now() + dt.timedelta(seconds=self.settings.offer_timeout_s)
            row.note = f"rollover into {event_id} offered, waiting for renew_accept"
            await transition(s, row, S.ROLLOVER_OFFERED, "rollover requested", event_id=event_id)
            await self._changed(s, row, wire.PositionUpdated)
            await self._send(s, row, renew)
        crashpoint("dlc.coordinator.rollover.after_save")
        return row

    async def _on_renew_accept(self, row: Contract, accept: RenewAccept, payload: str) -> Contract:
        if row.renew_accept_hex is not None:
            if row.renew_accept_hex == payload:
                return row
            raise UnexpectedMessage("this rollover already has a renew_accept")
        if S(row.state) is not S.ROLLOVER_OFFERED or row.renew_offer_hex is None:
            raise UnexpectedMessage(f"renew_accept in state {S(row.state).name}")
        offer = RenewOffer.parse(bytes.fromhex(row.renew_offer_hex))
        old = await self.load_signed(row)
        try:
            async with self._signing_slot():
                sign, new = await asyncio.to_thread(
                    sign_renewal,
                    old,
                    offer,
                    accept,
                    self.policy,
                    self.keys.secret(f"{row.id}-renewal"),
                    self.keys.secret(_key_label(row)),
                    self.ports.wallet.signer(),
                    executor=self.executor,
                )
        except TentenoneError as exc:
            await self._abandon_rollover(row.id, f"renew_accept refused: {exc.code}: {exc.message}")
            raise
        crashpoint("dlc.coordinator.rollover.after_receive")
        new_id = secrets.token_hex(12)
        async with self.ctx.transaction() as s:
            row = await self.get(s, row.trader_pubkey, row.id)
            if S(row.state) is not S.ROLLOVER_OFFERED:
                raise UnexpectedMessage(f"renew_accept in state {S(row.state).name}")
            row.renew_accept_hex = payload
            row.renew_sign_hex = sign.serialize().hex()
            row.renewed_by = new_id
            row.deadline = _now() + dt.timedelta(seconds=self.settings.offer_timeout_s)
            row.note = f"renewal signed, waiting for renew_finalize ({new_id})"
            await transition(s, row, S.ROLLOVER_SIGNED, "renew_accept verified")
            await self._changed(s, row, wire.PositionUpdated)
            successor = self._successor(row, new_id, offer, payload, sign, new)
            await create(s, successor, "renewal signed", renews=row.id)
            await self._changed(s, successor, wire.PositionCreated)
            await self._send(s, row, sign)
        crashpoint("dlc.coordinator.rollover.after_sign_save")
        return row

    def _successor(
        self,
        row: Contract,
        new_id: str,
        offer: RenewOffer,
        accept_hex: str,
        sign: RenewSign,
        new: Any,
    ) -> Contract:
        event = offer.contract_info.events[0].oracle_info.announcements[0].oracle_event
        curve_fee = row.fee_sat + self.settings.rollover_fee_sat
        now = _now()
        return Contract(
            id=new_id,
            state=S.PENDING_RENEWAL,
            trader_pubkey=row.trader_pubkey,
            trade_id=f"{row.trade_id}/{new_id}",
            order_id=row.order_id,
            market=event.event_id,
            expiry=dt.datetime.fromtimestamp(event.event_maturity_epoch, dt.UTC),
            side=row.side,
            quantity=row.quantity,
            price_cents=row.price_cents,
            leverage=row.leverage,
            coordinator_leverage=row.coordinator_leverage,
            fee_sat=curve_fee,
            trader_margin_sat=offer.total_collateral - offer.offer_collateral,
            coordinator_margin_sat=offer.offer_collateral,
            liquidation_low=row.liquidation_low,
            liquidation_high=row.liquidation_high,
            temporary_contract_id=offer.temporary_contract_id.hex(),
            contract_id=new.contract_id.hex(),
            offer_hex=row.renew_offer_hex or "",
            accept_hex=accept_hex,
            sign_hex=sign.serialize().hex(),
            reserved=",".join(
                f"{i.outpoint.txid[::-1].hex()}:{i.outpoint.vout}"
                for i in to_tx_inputs(offer.fee_inputs)
            ),
            funding_txid=new.txs.funding.tx.txid_hex(),
            funding_vout=new.txs.funding.output_index,
            refund_locktime=offer.refund_locktime,
            deadline=now + dt.timedelta(seconds=self.settings.offer_timeout_s),
            renewed_from=row.id,
            note="renewal signed, waiting for the renewal transaction",
            created_at=now,
            updated_at=now,
        )

    async def _on_renew_finalize(self, row: Contract, finalize: RenewFinalize) -> Contract:
        if S(row.state) in (S.ROLLING_OVER, S.ROLLED_OVER):
            return row
        if S(row.state) is not S.ROLLOVER_SIGNED:
            raise UnexpectedMessage(f"renew_finalize in state {S(row.state).name}")
        offer = RenewOffer.parse(bytes.fromhex(row.renew_offer_hex or ""))
        accept = RenewAccept.parse(bytes.fromhex(row.renew_accept_hex or ""))
        sign = RenewSign.parse(bytes.fromhex(row.renew_sign_hex or ""))
        old = await self.load_signed(row)
        _, tx = complete_renewal(old, offer, accept, sign, finalize, self.policy)
        crashpoint("dlc.coordinator.rollover.after_finalize_receive")
        async with self.ctx.transaction() as s:
            row = await self.get(s, row.trader_pubkey, row.id)
            if S(row.state) is not S.ROLLOVER_SIGNED:
                return row
            await self._spend(s, row, tx, S.ROLLING_OVER, "renewal complete", steps.PositionClosing)
        self.wake.set()
        return row

    async def _abandon_rollover(self, position_id: str, reason: str) -> None:
        """Before our renewal signature is out: back to OPEN, the fee coin unlocked."""
        async with self.ctx.transaction() as s:
            row = await s.get(Contract, position_id)
            if row is None or S(row.state) is not S.ROLLOVER_OFFERED:
                return
            offer = RenewOffer.parse(bytes.fromhex(row.renew_offer_hex or ""))
            row.note = reason[:500]
            await transition(s, row, S.OPEN, reason[:200])
            await self._changed(s, row, wire.PositionUpdated)
            code = reason.split(":")[1].strip() if reason.count(":") >= 2 else "dlc_rollover_failed"
            await self._send(
                s, row, Reject(PROTOCOL_VERSION, offer.temporary_contract_id, code, reason[:400])
            )
        crashpoint("dlc.coordinator.rollover.after_abandon")  # locks.sweep_locks frees it
        await self.ports.wallet.release([i.outpoint for i in to_tx_inputs(offer.fee_inputs)])

    async def _poll_rollover(self, row: Contract, now: dt.datetime) -> None:
        state = S(row.state)
        if state is S.ROLLOVER_OFFERED:
            if now > row.deadline:
                await self._abandon_rollover(row.id, "rollover timed out: no renew_accept in time")
            return
        offer = RenewOffer.parse(bytes.fromhex(row.renew_offer_hex or ""))
        new_id = row.renewed_by or ""
        async with self.ctx.transaction() as s:
            successor = await s.get(Contract, new_id)
        renewal_txid = successor.funding_txid if successor else None
        conf = (await self.ports.chain.tx_status(renewal_txid or "")).confirmations
        if conf is not None and conf >= 1:
            await self._finish_rollover(row, renewal_txid or "")
        elif state is S.ROLLING_OVER and conf is None:
            await self._poll_spend(row, state)  # (re)broadcast the stored renewal
        elif state is S.ROLLOVER_SIGNED and conf is None and now > row.deadline:
            await self._invalidate_renewal(row, offer)

    async def _finish_rollover(self, row: Contract, txid: str) -> None:
        crashpoint("dlc.coordinator.rollover.after_confirm")
        async with self.ctx.transaction() as s:
            old = await s.get(Contract, row.id)
            if old is None or S(old.state) not in (S.ROLLOVER_SIGNED, S.ROLLING_OVER):
                return
            old.spend_txid = txid
            old.note = f"rolled over into {old.renewed_by}"
            await transition(s, old, S.ROLLED_OVER, f"renewal {txid} confirmed")
            await self._step(s, old, steps.PositionRolledOver, txid=txid)
            await self._changed(s, old, wire.PositionClosed)
        self.wake.set()

    async def _invalidate_renewal(self, row: Contract, offer: RenewOffer) -> None:
        """No renew_finalize in time: spend our fee input so the renewal can never confirm."""
        fee_input = to_tx_inputs(offer.fee_inputs)[0]
        if row.invalidation_txid is None:
            if await self.ports.chain.is_unspent(fee_input.outpoint, fee_input.script_pubkey):
                txid = await self.ports.wallet.invalidate(fee_input.outpoint)
                async with self.ctx.transaction() as s:
                    fresh = await s.get(Contract, row.id)
                    if fresh is not None:
                        fresh.invalidation_txid = txid
            return
        conf = (await self.ports.chain.tx_status(row.invalidation_txid)).confirmations
        if conf is None or conf < 1:
            return
        async with self.ctx.transaction() as s:
            old = await s.get(Contract, row.id)
            new = await s.get(Contract, row.renewed_by or "")
            if old is None or S(old.state) is not S.ROLLOVER_SIGNED:
                return
            old.note = "rollover abandoned: the renewal can no longer confirm; open as before"
            await transition(s, old, S.OPEN, "renewal invalidated")
            await self._changed(s, old, wire.PositionUpdated)
            if new is not None and S(new.state) is S.PENDING_RENEWAL:
                new.note = "renewal invalidated"
                await transition(s, new, S.RELEASED, "renewal invalidated")
                await self._changed(s, new, wire.PositionClosed)

    # -- the chain ---------------------------------------------------------------------

    async def poll_once(self) -> None:
        """One pass over every contract that waits for the chain or a deadline."""
        async with self.ctx.transaction() as s:
            rows = (
                await s.exec(
                    select(Contract).where(
                        Contract.state.in_([int(x) for x in _WAITING])  # type: ignore[attr-defined]
                    )
                )
            ).all()
        tip = await self.ports.chain.tip_height() if rows else 0
        for row in rows:
            try:
                await self._poll(row, tip)
            except TentenoneError as exc:
                _log.warning("contract %s: %s", row.id, exc.message, extra={"code": exc.code})

    async def _poll(self, row: Contract, tip: int) -> None:
        state = S(row.state)
        now = _now()
        if state is S.OFFERED:
            if self._verifying(row.id):
                return  # an accept stored in time is never released mid-verification
            if row.pending_accept_hex is not None and now <= row.deadline:
                self._verify_task(row.id, row.pending_accept_hex)  # its task died with us
                return
            if now > row.deadline:
                await self.release(row.id, "timed out: no accept_dlc in time: dlc_offer_timeout")
            return
        if state in (S.SETTLING, S.CLOSING, S.REFUNDING):
            await self._poll_spend(row, state)
            return
        if state in (S.ROLLOVER_OFFERED, S.ROLLOVER_SIGNED, S.ROLLING_OVER):
            await self._poll_rollover(row, now)
            return
        conf = (await self.ports.chain.tx_status(row.funding_txid or "")).confirmations
        depth = self.settings.funding_depth
        if (
            conf is not None
            and conf >= depth
            and state is not S.OPEN
            and state is not S.CLOSE_OFFERED
        ):
            crashpoint("dlc.coordinator.funding.after_confirm")
            await self._move(row, S.OPEN, "funding at depth", wire.PositionOpened, note="open")
        elif (
            conf is not None
            and conf < depth
            and state in (S.SIGNED, S.OPEN, S.CLOSE_OFFERED, S.RELEASING)
        ):
            await self._move(
                row, S.FUNDING, "funding below depth", wire.PositionUpdated, note="funding"
            )
        elif conf is None and state in (S.FUNDING, S.OPEN, S.CLOSE_OFFERED):
            await self._move(
                row,
                S.SIGNED,
                "funding tx dropped",
                wire.PositionUpdated,
                note="funding tx dropped; waiting for it again",
            )
        elif conf is None and state is S.SIGNED and now > row.deadline:
            await self._invalidate(row)
        elif state is S.RELEASING:
            await self._poll_release(row)
        if state in (S.OPEN, S.CLOSE_OFFERED) and conf is not None and conf >= depth:
            if tip != self._spend_checked.get(row.id) and await self._spent_by_other(row):
                return
            self._spend_checked[row.id] = tip
            if state is S.CLOSE_OFFERED and row.close_offer_hex:
                close = CloseOffer.parse(bytes.fromhex(row.close_offer_hex))
                if close.expires_at < int(now.timestamp()):
                    crashpoint("dlc.coordinator.close.after_expiry")
                    await self._move(
                        row, S.OPEN, "close quote expired", wire.PositionUpdated, note="open"
                    )
            if tip >= row.refund_locktime:
                await self._refund(row)

    async def _catch_up_funding(self, trader: str, position_id: str) -> None:
        """The trader's wallet may see the funding at depth before our next poll does:
        look now rather than refuse a close or a rollover the trader rightly asks for."""
        async with self.ctx.transaction() as s:
            row = await self.get(s, trader, position_id)
        if S(row.state) not in (S.SIGNED, S.FUNDING) or not row.funding_txid:
            return
        conf = (await self.ports.chain.tx_status(row.funding_txid)).confirmations
        if conf is not None and conf >= self.settings.funding_depth:
            await self._move(row, S.OPEN, "funding at depth", wire.PositionOpened, note="open")

    async def _spent_by_other(self, row: Contract) -> bool:
        """The funding output spent by a transaction we did not send (the trader's CET
        or refund, say, while we missed the attestation): follow it to the end."""
        offer = parse_protocol_message(bytes.fromhex(row.offer_hex))
        accept = parse_protocol_message(bytes.fromhex(row.accept_hex or ""))
        assert isinstance(offer, OfferDlc | RenewOffer) and isinstance(
            accept, AcceptDlc | RenewAccept
        )
        spk = p2wsh(multisig_2of2(offer.funding_pubkey, accept.funding_pubkey))
        outpoint = OutPoint.from_hex(row.funding_txid or "", row.funding_vout or 0)
        txid = await self.ports.chain.spender(outpoint, spk)
        if txid is None:
            return False
        # rare: only now rebuild the contract, to tell what spent it
        signed = await self.load_signed(row)
        tx = parse_transaction(await self.ports.chain.raw_transaction(txid))
        if txid == signed.txs.refund.txid_hex():
            state, kind = S.REFUNDING, steps.PositionClosing
        elif any(txid == cet.txid_hex() for cet in signed.txs.cets):
            state, kind = S.SETTLING, steps.PositionClosing
        else:
            state, kind = S.CLOSING, steps.PositionClosing
        async with self.ctx.transaction() as s:
            fresh = await s.get(Contract, row.id)
            if fresh is None or fresh.version != row.version:
                return True
            await self._spend(s, fresh, tx, state, "funding spent on chain", kind)
        self.wake.set()
        return True

    async def _move(
        self, row: Contract, to: S, reason: str, kind: type[wire.PositionChanged], *, note: str
    ) -> None:
        async with self.ctx.transaction() as s:
            fresh = await s.get(Contract, row.id)
            if fresh is None or fresh.version != row.version:
                return  # changed meanwhile: the next poll decides again
            fresh.note = note
            await transition(s, fresh, to, reason)
            await self._changed(s, fresh, kind)
            row.version = fresh.version

    async def _invalidate(self, row: Contract) -> None:
        """Timed out after sign_dlc: spend one of our inputs so the funding tx can never confirm."""
        async with self.ctx.transaction() as s:
            fresh = await s.get(Contract, row.id)
            if fresh is None or fresh.version != row.version:
                return
            fresh.note = "timed out after sign_dlc: invalidating the funding transaction"
            await transition(s, fresh, S.RELEASING, "timed out after sign_dlc")
            await self._changed(s, fresh, wire.PositionUpdated)
        await self._double_spend(row)

    async def _double_spend(self, row: Contract) -> None:
        crashpoint("dlc.coordinator.release.before_invalidate")
        txid = await self.ports.wallet.invalidate(_outpoints(row.reserved)[0])
        crashpoint("dlc.coordinator.release.after_invalidate")
        await self._store_invalidation(row, txid)

    async def _store_invalidation(self, row: Contract, txid: str) -> None:
        async with self.ctx.transaction() as s:
            fresh = await s.get(Contract, row.id)
            if fresh is not None:
                fresh.invalidation_txid = txid

    async def _poll_release(self, row: Contract) -> None:
        if row.invalidation_txid is None:
            first = _outpoints(row.reserved)[0]
            offer = OfferDlc.parse(bytes.fromhex(row.offer_hex))
            spk = next(
                i.script_pubkey for i in to_tx_inputs(offer.funding_inputs) if i.outpoint == first
            )
            spender = await self.ports.chain.spender(first, spk)
            if spender is None:
                await self._double_spend(row)
            elif spender != row.funding_txid:
                # sent by a run that died before storing it: the same coin cannot be
                # spent twice, so the one on the chain is the invalidation to wait for
                await self._store_invalidation(row, spender)
            return
        conf = (await self.ports.chain.tx_status(row.invalidation_txid)).confirmations
        if conf is not None and conf >= 1:
            async with self.ctx.transaction() as s:
                fresh = await s.get(Contract, row.id)
                if fresh is None:
                    return
                fresh.note = "released: the funding transaction can no longer confirm"
                await transition(s, fresh, S.RELEASED, "funding invalidated")
                await self._step(
                    s,
                    fresh,
                    steps.DlcReleased,
                    reason="dlc_sign_timeout",
                    txid=row.invalidation_txid,
                )
                await self._changed(s, fresh, wire.PositionClosed)
            crashpoint("dlc.coordinator.release.after_save")
            await self._unreserve(row.id, row.reserved)

    async def _refund(self, row: Contract) -> None:
        tx = refund_transaction(await self.load_signed(row))
        async with self.ctx.transaction() as s:
            fresh = await s.get(Contract, row.id)
            if fresh is None or fresh.version != row.version:
                return
            await self._spend(
                s, fresh, tx, S.REFUNDING, "refund locktime reached", steps.PositionClosing
            )
        await self._poll_spend(fresh, S.REFUNDING)

    async def _poll_spend(self, row: Contract, state: S) -> None:
        """Broadcast a stored spend until the chain has it; finish when it confirms."""
        name = {
            S.SETTLING: "settle",
            S.CLOSING: "close",
            S.REFUNDING: "refund",
            S.ROLLING_OVER: "rollover",
        }[state]
        txid = row.spend_txid or ""
        conf = (await self.ports.chain.tx_status(txid)).confirmations
        if conf is None:
            crashpoint(f"dlc.coordinator.{name}.before_broadcast")
            await self.ports.chain.broadcast(bytes.fromhex(row.spend_tx_hex or ""))
            crashpoint(f"dlc.coordinator.{name}.after_broadcast")
            return
        if conf < 1 or state is S.ROLLING_OVER:
            return  # a confirmed renewal is finished by _poll_rollover
        crashpoint(f"dlc.coordinator.{name}.after_confirm")
        final = {S.SETTLING: S.SETTLED, S.CLOSING: S.CLOSED, S.REFUNDING: S.REFUNDED}[state]
        kind = {
            S.SETTLING: steps.PositionSettled,
            S.CLOSING: steps.PositionSettled,
            S.REFUNDING: steps.PositionRefunded,
        }[state]
        if state is S.CLOSING:
            kind = steps.PositionClosing
        async with self.ctx.transaction() as s:
            fresh = await s.get(Contract, row.id)
            if fresh is None or S(fresh.state) is not state:
                return
            fresh.realized_pnl_sat = self._trader_pnl(fresh)
            fresh.note = f"{final.name.lower()} by {txid}"
            await transition(s, fresh, final, f"{txid} confirmed")
            await self._step(s, fresh, kind, txid=txid, realized_pnl_sat=fresh.realized_pnl_sat)
            await self._changed(s, fresh, wire.PositionClosed)

    def _trader_pnl(self, row: Contract) -> int:
        accept = parse_protocol_message(bytes.fromhex(row.accept_hex or ""))
        assert isinstance(accept, AcceptDlc | RenewAccept)
        tx = parse_transaction(bytes.fromhex(row.spend_tx_hex or ""))
        paid = sum(o.value for o in tx.outputs if o.script_pubkey == accept.payout_spk)
        return paid - row.trader_margin_sat

    # -- queries -------------------------------------------------------------------------

    async def messages(
        self, trader: str, after: int, position_id: str | None, limit: int
    ) -> tuple[list[OutMessage], int]:
        async with self.ctx.transaction() as s:
            query = select(OutMessage).where(
                OutMessage.trader_pubkey == trader,
                OutMessage.seq > after,
            )
            if position_id is not None:
                query = query.where(OutMessage.position_id == position_id)
            rows = (await s.exec(query.order_by(OutMessage.seq).limit(limit))).all()  # type: ignore[arg-type]
            last = (
                await s.exec(
                    select(func.max(OutMessage.seq)).where(OutMessage.trader_pubkey == trader)
                )
            ).first()
        return list(rows), int(last or 0)


_WAITING = (
    S.OFFERED,
    S.PENDING_RENEWAL,
    S.ROLLOVER_OFFERED,
    S.ROLLOVER_SIGNED,
    S.ROLLING_OVER,
    S.SIGNED,
    S.FUNDING,
    S.OPEN,
    S.CLOSE_OFFERED,
    S.RELEASING,
    S.SETTLING,
    S.CLOSING,
    S.REFUNDING,
)


def _key_label(row: Contract) -> str:
    """Whose funding key a contract uses: its own, or the renewal key of the one it renews."""
    return row.id if row.renewed_from is None else f"{row.renewed_from}-renewal"


def _fields(terms: TradeTerms) -> dict[str, Any]:
    return {name: getattr(terms, name) for name in TradeTerms.__dataclass_fields__}


def _summary(message: ProtocolMessage) -> dict[str, Any]:
    """The JSON view with the long signature arrays summarized."""
    view = message_json(message)
    for name in ("cet_adaptor_signatures",):
        if name in view:
            view[name] = {"count": len(view[name])}
    if "contract_info" in view:
        view["contract_info"] = {"total_collateral": view["contract_info"]["total_collateral"]}
    return view
