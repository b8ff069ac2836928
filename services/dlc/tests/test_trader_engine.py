"""The trader's protocol engine (``tentenone.trader.engine``) against the real DLC service.

The coordinator runs on PostgreSQL and RabbitMQ (``dlc_world``); the trader
keeps its state in a real SQLite file. Stand-ins, as in ``dlc_world``: the
chain (``MemoryChain``), the trader's coins (made-up P2WPKH outputs) and the
gateway (the engine's ``GatewayApi`` over the bus, which is what the gateway
forwards to); the end-to-end tests run all of it for real. A crash here is
an exception raised at a crash point, after which a new engine starts on the
same database, as a restarted process would.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from dlc_world import MATURITY, MemoryChain, Start, World
from sqlmodel import col, select

from tentenone.bitcoin.script import p2wpkh
from tentenone.bitcoin.tx import OutPoint
from tentenone.chain import Network
from tentenone.dlc.contract import SingleContractInfo, SingleOracleInfo
from tentenone.dlc.curve import Side as CurveSide
from tentenone.dlc.messages import FundingInput
from tentenone.dlc.oracle_messages import OracleAnnouncement
from tentenone.dlc.protocol.closing import offer_payout_at
from tentenone.dlc.protocol.messages import CloseReason, RenewOffer, parse_protocol_message
from tentenone.dlc.protocol.signer import InputSigner, KeyInputSigner
from tentenone.dlc.protocol.states import CoordinatorState
from tentenone.dlc.protocol.states import TraderState as T
from tentenone.dlc.protocol.terms import TradeTerms, build_contract, offer_announcement
from tentenone.dlc.protocol.testing import TestOracle, key, prev_tx_coin, pubkey
from tentenone.dlc.signing import to_tx_inputs
from tentenone.store import Database, migrations_dir
from tentenone.store.statemachine import create, transition
from tentenone.testing import wait_until
from tentenone.trader import Trader, TraderSettings
from tentenone.trader import engine as engine_module
from tentenone.trader import rollover as rollover_module
from tentenone.trader.backup import decrypt_backup
from tentenone.trader.engine import TRADER_CRASH_POINTS, EngineSettings, ProtocolEngine
from tentenone.trader.keys import TraderKeys
from tentenone.trader.keystore import SecretWords
from tentenone.trader.models import OrderRow, OrderState, TraderContract, TraderTable
from tentenone.wallet import Balance, generate_mnemonic
from tentenone.wire import dlc as wire
from tentenone.wire.gateway import (
    CloseQuotePublic,
    PositionList,
    PositionPublic,
    ProtocolMessageList,
    ProtocolMessagePublic,
)
from tentenone.wire.oracle import OracleAttested


@dataclass
class BusGateway:
    """``GatewayApi`` straight to the DLC service, as the gateway forwards it."""

    world: World
    trader: str
    attestations: dict[str, bytes] = field(default_factory=dict)
    taken: list[str] = field(default_factory=list)
    #: changes each renew_offer on its way to the trader (a coordinator that cheats)
    tamper: Callable[[RenewOffer], RenewOffer] | None = None
    rollovers: list[str] = field(default_factory=list)

    async def _rpc(self, spec: Any, **kw: Any) -> Any:
        request = spec.request(trader_pubkey=self.trader, **kw)
        return await self.world.bus.request(spec, request, timeout_s=60)

    async def protocol_messages(self, after_seq: int, limit: int = 50) -> ProtocolMessageList:
        found = await self._rpc(wire.LIST_PROTOCOL_MESSAGES, after_seq=after_seq, limit=limit)
        return ProtocolMessageList(
            messages=[self._tampered(ProtocolMessagePublic.of(m)) for m in found.messages],
            last_seq=found.last_seq,
        )

    def _tampered(self, item: ProtocolMessagePublic) -> ProtocolMessagePublic:
        message = parse_protocol_message(bytes.fromhex(item.payload_hex))
        if self.tamper is None or not isinstance(message, RenewOffer):
            return item
        return item.model_copy(update={"payload_hex": self.tamper(message).serialize().hex()})

    async def submit_message(self, position_id: str, kind: str, payload: str) -> PositionPublic:
        self.taken.append(kind)
        found = await self._rpc(
            wire.SUBMIT_PROTOCOL_MESSAGE,
            position_id=position_id,
            message_type=kind,
            payload_hex=payload,
        )
        return PositionPublic.of(found)

    async def position(self, position_id: str) -> PositionPublic:
        return PositionPublic.of(await self._rpc(wire.GET_POSITION, position_id=position_id))

    async def positions(self, status: str = "all") -> PositionList:
        found = await self._rpc(wire.LIST_POSITIONS, status=status)
        return PositionList(
            positions=[PositionPublic.of(p) for p in found.positions],
            state_number=found.state_number,
        )

    async def close_quote(self, position_id: str) -> CloseQuotePublic:
        found = await self._rpc(wire.REQUEST_CLOSE_QUOTE, position_id=position_id)
        return CloseQuotePublic.of(found)

    async def accept_close(self, position_id: str, quote_id: str) -> PositionPublic:
        found = await self._rpc(wire.ACCEPT_CLOSE_QUOTE, position_id=position_id, quote_id=quote_id)
        return PositionPublic.of(found)

    async def rollover(self, position_id: str) -> PositionPublic:
        self.rollovers.append(position_id)
        return PositionPublic.of(await self._rpc(wire.REQUEST_ROLLOVER, position_id=position_id))

    async def attestation_tlv(self, event_id: str) -> bytes | None:
        return self.attestations.get(event_id)

    async def put_backup(self, version: int, blob: bytes) -> None:
        del version, blob

    async def get_backup(self) -> bytes | None:
        return None

    async def state_number(self) -> int:
        return 0

    async def place_order(self, order: Any) -> dict[str, Any]:
        raise NotImplementedError

    async def cancel_order(self, market: str, order_id: str) -> dict[str, Any]:
        raise NotImplementedError

    async def close(self) -> None:
        return None


@dataclass
class MemoryCoins:
    """The trader's coins: made-up P2WPKH outputs of one key, locked per contract."""

    label: str
    coins: list[FundingInput] = field(default_factory=list)
    locked: dict[OutPoint, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.coins = [prev_tx_coin(key(self.label), 3_000_000, 500 + i) for i in range(4)]

    async def reserve(self, amount: int, fee_rate: int, reason: str) -> list[FundingInput]:
        del fee_rate
        for coin in self.coins:
            point = to_tx_inputs([coin])[0].outpoint
            if point not in self.locked and to_tx_inputs([coin])[0].value >= amount + 1000:
                self.locked[point] = reason
                return [coin]
        raise AssertionError("no coin left")

    async def release(self, outpoints: Sequence[OutPoint]) -> None:
        for point in outpoints:
            self.locked.pop(point, None)

    async def payout_script(self) -> bytes:
        return p2wpkh(pubkey(key(f"{self.label} payout")))

    async def change_script(self) -> bytes:
        return p2wpkh(pubkey(key(self.label)))

    def signer(self) -> InputSigner:
        return KeyInputSigner([key(self.label)])

    def balance(self) -> Balance:
        return Balance(0, 0)


@dataclass
class MemoryChainView:
    chain: MemoryChain

    async def tip_height(self) -> int:
        return self.chain.height

    async def confirmations(self, txid: str) -> int | None:
        return (await self.chain.tx_status(txid)).confirmations

    async def spender(self, outpoint: OutPoint, script: bytes) -> str | None:
        return await self.chain.spender(outpoint, script)

    async def is_unspent(self, outpoint: OutPoint, script: bytes) -> bool:
        return await self.chain.is_unspent(outpoint, script)

    async def raw_transaction(self, txid: str) -> bytes:
        return await self.chain.raw_transaction(txid)

    async def broadcast(self, raw_tx: bytes) -> str:
        return await self.chain.broadcast(raw_tx)


class Crash(Exception):
    """Raised at a crash point in place of SIGKILL."""


@dataclass
class Side:
    """One trader: its keys and database survive a crash; the engine is rebuilt."""

    world: World
    db: Database
    keys: TraderKeys
    coins: MemoryCoins
    gateway: BusGateway
    max_fee_bps: int = 100
    auto_rollover: bool = False

    @property
    def pubkey(self) -> str:
        return self.keys.node_pubkey.hex()

    def engine(self) -> ProtocolEngine:
        async def announcement(event_id: str) -> OracleAnnouncement:
            return await self.world.oracle.announcement(event_id)

        settings = EngineSettings(
            chain_hash=bytes.fromhex(_CHAIN_HASH),
            max_cets=60,
            max_fee_bps=self.max_fee_bps,
            auto_rollover=self.auto_rollover,
            # the stand-in oracle's expiries are years ahead
            rollover_window_s=20 * 365 * 86_400,
        )
        return ProtocolEngine(
            self.db,
            self.keys,
            self.gateway,
            self.coins,
            MemoryChainView(self.world.chain),
            settings,
            announcement=announcement,
        )

    async def order(self, remote_id: str, *, side: str = "buy", leverage: int = 5) -> None:
        now = dt.datetime.now(dt.UTC)
        row = OrderRow(
            id=secrets.token_hex(8),
            state=OrderState.PLACING,
            remote_id=remote_id,
            market="btcusd-1",
            side=side,
            order_type="limit",
            time_in_force="gtc",
            quantity=1_000,
            price_cents=5_000_000,
            leverage=leverage,
            created_at=now,
            updated_at=now,
        )
        async with self.db.transaction() as s:
            await create(s, row, "test order")
            await transition(s, row, OrderState.OPEN, "resting")

    async def match(self, *, side: str = "long", leverage: int = 5) -> str:
        """A trade of our order against the house; the order id it fills."""
        self.world.trade_no += 1
        order_id = f"o{self.world.trade_no}"
        await self.order(order_id, side="buy" if side == "long" else "sell", leverage=leverage)
        body = {
            "trade_id": f"t{self.world.trade_no}",
            "market": "btcusd-1",
            "price": 5_000_000,
            "quantity": 1_000,
            "taker_side": side,
            "taker_trader_id": self.pubkey,
            "taker_order_id": order_id,
            "taker_fee_sat": 500,
            "taker_leverage": leverage,
            "maker_trader_id": "house",
            "maker_order_id": "m1",
            "maker_fee_sat": 0,
        }
        import json

        await self.world.bus.publish_raw("orderbook", "trade.matched", json.dumps(body).encode())
        return order_id

    async def contract(self) -> TraderContract | None:
        async with self.db.transaction() as s:
            from sqlmodel import select

            return (await s.exec(select(TraderContract))).first()

    async def drive(self, engine: ProtocolEngine, until: T, within: float = 30) -> TraderContract:
        """Run passes (mining what the engine broadcast) until the contract is ``until``."""

        async def step() -> TraderContract | None:
            await engine.run_once()
            row = await self.contract()
            pending = [t for t, at in self.world.chain.txs.items() if at is None]
            if row is not None and {row.funding_txid, row.spend_txid} & set(pending):
                self.world.chain.mine()
            return row if row is not None and T(row.state) is until else None

        found: TraderContract = await wait_until(step, within, interval=0.2, what=until.name)
        return found


_CHAIN_HASH = "06226e46111a0b59caaf126043eb5bbf28c34f3a5e332a1fc7b2b73cf188910f"


async def _side(world: World, tmp_path: Path, label: str) -> Side:
    db = Database(
        f"sqlite+aiosqlite:///{tmp_path / f'{label}.db'}",
        service="trader",
        metadata=TraderTable.metadata,
        migrations=migrations_dir("tentenone.trader"),
    )
    await db.migrate()
    keys = TraderKeys(SecretWords(generate_mnemonic()), Network.REGTEST)
    return Side(world, db, keys, MemoryCoins(label), BusGateway(world, keys.node_pubkey.hex()))


async def _attest(world: World, side: Side, price: int) -> None:
    attestation = world.oracle.oracle.attest("btcusd-1", price)
    side.gateway.attestations["btcusd-1"] = attestation.serialize()
    maturity = dt.datetime.fromtimestamp(MATURITY, dt.UTC)
    await world.bus.publish(
        OracleAttested(
            oracle="oracle",
            event_id="btcusd-1",
            oracle_public_key=world.oracle.oracle.public_key.hex(),
            maturity=maturity,
            outcome=str(price),
            values=list(attestation.outcomes),
            signatures=[s.hex() for s in attestation.signatures],
            attested_at=maturity,
            attestation_tlv=attestation.serialize().hex(),
        )
    )


async def test_open_then_settle_from_the_attestation(start: Start, tmp_path: Path) -> None:
    world = await start()
    side = await _side(world, tmp_path, "alice")
    engine = side.engine()
    await side.match()
    opened = await side.drive(engine, T.OPEN)
    assert opened.funding_key == 0 and opened.contract_id is not None
    coordinator = await wait_until(
        lambda: _in_state(side, opened.position_id, "open"), 20, what="coordinator open"
    )
    assert coordinator.funding_txid == opened.funding_txid
    assert opened.order_id == "o1"

    await _attest(world, side, 52_000)
    settled = await side.drive(engine, T.SETTLED)
    final = await wait_until(
        lambda: _final(side, opened.position_id), 20, what="coordinator settled"
    )
    assert settled.realized_pnl_sat == final.pnl.realized_pnl_sat
    assert settled.realized_pnl_sat is not None and settled.realized_pnl_sat > 0
    assert side.gateway.taken == ["accept_dlc"]


async def test_a_liquidation_before_the_price_crossed_is_refused_then_one_after_signed(
    start: Start, tmp_path: Path
) -> None:
    world = await start()
    side = await _side(world, tmp_path, "lena")
    engine = side.engine()
    await side.match()
    opened = await side.drive(engine, T.OPEN)
    coordinator = world.coordinator()
    # at the entry price the long is nowhere near its clamp: never signed without asking
    await coordinator.close_quote(
        side.pubkey, opened.position_id, 5_000_000, CloseReason.LIQUIDATION
    )
    refused = await side.drive(engine, T.OPEN)
    assert "has not crossed the liquidation price" in refused.note, refused.note
    assert refused.close_accept_hex is None
    # past it, the engine signs at once (auto_liquidation)
    async with coordinator.ctx.transaction() as s:
        row = await coordinator.get(s, side.pubkey, opened.position_id)
        low = row.liquidation_low
        await transition(s, row, CoordinatorState.OPEN, "the refused quote lapsed")
    await coordinator.close_quote(
        side.pubkey, opened.position_id, low * 100, CloseReason.LIQUIDATION
    )
    signed = await side.drive(engine, T.CLOSED)
    assert signed.realized_pnl_sat == -signed.trader_margin_sat


async def test_a_close_quote_left_unsigned_lapses_and_the_position_is_open_again(
    start: Start, tmp_path: Path
) -> None:
    # long enough for a loaded machine to see the quote before it lapses
    world = await start(close_quote_ttl_s=12)
    side = await _side(world, tmp_path, "mona")
    engine = side.engine()
    await side.match()
    opened = await side.drive(engine, T.OPEN)
    coordinator = world.coordinator()
    first = await coordinator.close_quote(side.pubkey, opened.position_id, 5_100_000)
    offered = await side.drive(engine, T.CLOSE_OFFERED)
    assert offered.close_offer_hex == first.serialize().hex()
    # nobody asked for it: nothing signed, and once it expires the position is open again
    reopened = await side.drive(engine, T.OPEN)
    assert reopened.close_accept_hex is None and "expired" in reopened.note
    # asked for later: a quote the engine stored first is signed from where it is
    await wait_until(
        lambda: _in_state(side, opened.position_id, "open"), 20, what="coordinator open again"
    )
    await coordinator.close_quote(side.pubkey, opened.position_id, 5_100_000)
    offered = await side.drive(engine, T.CLOSE_OFFERED)
    engine.closing_wanted.add(opened.position_id)
    await engine.sign_close(offered)
    closed = await side.drive(engine, T.CLOSED)
    assert closed.realized_pnl_sat is not None and closed.realized_pnl_sat > 0


async def _in_state(side: Side, position_id: str, state: str) -> PositionPublic | None:
    found = await side.gateway.position(position_id)
    return found if found.state == state else None


async def _final(side: Side, position_id: str) -> PositionPublic | None:
    found = await side.gateway.position(position_id)
    return found if found.state in wire.FINAL_POSITION_STATES else None


async def test_the_trader_settles_alone_when_the_coordinator_is_silent(
    start: Start, tmp_path: Path
) -> None:
    world = await start()
    side = await _side(world, tmp_path, "bob")
    engine = side.engine()
    await side.match(side="short")
    opened = await side.drive(engine, T.OPEN)
    attestation = world.oracle.oracle.attest("btcusd-1", 48_000)
    await engine.settle(opened, attestation)  # the coordinator never heard of it
    settled = await side.drive(engine, T.SETTLED)
    assert settled.realized_pnl_sat is not None and settled.realized_pnl_sat > 0


@pytest.mark.parametrize(
    ("order_leverage", "max_fee_bps", "reason"),
    [(3, 100, "leverage 5x is not the order's 3x"), (5, 0, "fee 500 sat is above the ceiling")],
)
async def test_an_offer_that_breaks_the_order_is_refused_and_released(
    start: Start, tmp_path: Path, order_leverage: int, max_fee_bps: int, reason: str
) -> None:
    world = await start()
    side = await _side(world, tmp_path, "carol")
    side.max_fee_bps = max_fee_bps
    engine = side.engine()
    world.trade_no += 1
    await side.order(f"o{world.trade_no}", leverage=order_leverage)
    world.trade_no -= 1

    async def match_with_leverage_5() -> None:
        # the order book's fill says 5x against an order of ``order_leverage``
        original = side.order

        async def no_new_order(*_: Any, **__: Any) -> None:
            return None

        side.order = no_new_order  # type: ignore[method-assign]
        try:
            await side.match(leverage=5)
        finally:
            side.order = original  # type: ignore[method-assign]

    await match_with_leverage_5()
    refused = await side.drive(engine, T.REJECTED)
    assert reason in refused.note and "released" in refused.note
    assert not side.coins.locked and refused.accept_hex is None
    cancelled = await wait_until(
        lambda: _final(side, refused.position_id), 20, what="released by the coordinator"
    )
    assert cancelled.state == "cancelled" and reason in cancelled.note


async def test_an_offer_funded_by_a_spent_coin_is_refused_before_we_sign(
    start: Start, tmp_path: Path
) -> None:
    world = await start()
    side = await _side(world, tmp_path, "nick")
    engine = side.engine()
    await side.match()
    # the coordinator's coin is spent behind its back after the offer went out
    held = await wait_until(lambda: list(world.wallet.locked), 20, what="the offer's coin")
    world.chain.spent.update(held)
    refused = await side.drive(engine, T.REJECTED)
    assert "is spent or unknown to the chain" in refused.note, refused.note
    assert not side.coins.locked and refused.accept_hex is None


async def test_a_funding_the_coordinator_invalidated_is_released_with_our_coins(
    start: Start, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Away between saving the funding tx and broadcasting it, past the coordinator's
    wait: its input is double-spent, so the funding can never confirm. Back, the trader
    releases the contract and its coins instead of broadcasting for ever."""
    world = await start(offer_timeout_s=3.0)
    side = await _side(world, tmp_path, "olga")

    def crash_here(name: str) -> None:
        if name == "dlc.trader.open.after_sign_save":
            raise Crash(name)

    monkeypatch.setattr(engine_module, "crashpoint", crash_here)
    await side.match()
    with pytest.raises(Crash):
        await side.drive(side.engine(), T.OPEN)
    monkeypatch.setattr(engine_module, "crashpoint", lambda name: None)
    await wait_until(lambda: world.wallet.invalidated, 20, what="the coordinator's double spend")
    engine = side.engine()
    with pytest.raises(AssertionError, match="not confirmed"):
        # unconfirmed, the double spend could still lose to the funding: keep trying
        await _released_now(side, engine, "not confirmed")
    world.chain.mine()
    released = await side.drive(engine, T.RELEASED)
    assert "can no longer confirm" in released.note, released.note
    assert not side.coins.locked and not released.reserved
    assert released.funding_txid not in world.chain.txs


async def _released_now(side: Side, engine: ProtocolEngine, why: str) -> None:
    await engine.run_once()
    row = await side.contract()
    assert row is not None and T(row.state) is T.RELEASED, why


_OPEN_POINTS = [p for p in TRADER_CRASH_POINTS if p.startswith("dlc.trader.open.")]


@pytest.mark.parametrize("point", _OPEN_POINTS)
async def test_a_crash_at_each_opening_step_resumes_to_open(
    start: Start, tmp_path: Path, point: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = await start()
    side = await _side(world, tmp_path, "dave")

    def crash_here(name: str) -> None:
        if name == point:
            raise Crash(name)

    monkeypatch.setattr(engine_module, "crashpoint", crash_here)
    await side.match()
    first = side.engine()
    with pytest.raises(Crash):
        await side.drive(first, T.OPEN)
    monkeypatch.setattr(engine_module, "crashpoint", lambda name: None)
    opened = await side.drive(side.engine(), T.OPEN)  # a new process on the same database
    coordinator = await side.gateway.position(opened.position_id)
    assert coordinator.funding_txid == opened.funding_txid
    assert side.gateway.taken.count("accept_dlc") >= 1
    assert len(side.coins.locked) == 1  # the one coin that funds it, never two


# -- rollover --------------------------------------------------------------------------------


async def _rows(side: Side) -> list[TraderContract]:
    async with side.db.transaction() as s:
        query = select(TraderContract).order_by(col(TraderContract.created_at))
        return list((await s.exec(query)).all())


async def _passes(
    side: Side, engine: ProtocolEngine, until: Callable[[list[TraderContract]], bool], what: str
) -> list[TraderContract]:
    """Engine passes, mining whatever waits in the mempool, until ``until(rows)``."""

    async def step() -> list[TraderContract] | None:
        await engine.run_once()
        if None in side.world.chain.txs.values():
            side.world.chain.mine()
        rows = await _rows(side)
        return rows if until(rows) else None

    found: list[TraderContract] = await wait_until(step, 40, interval=0.2, what=what)
    return found


def _renewed(rows: list[TraderContract]) -> bool:
    return len(rows) == 2 and T(rows[0].state) is T.ROLLED_OVER and T(rows[1].state) is T.OPEN


async def _attest_event(
    world: World, side: Side, event_id: str, maturity: dt.datetime, price: int
) -> None:
    attestation = world.oracle.oracle.attest(event_id, price)
    side.gateway.attestations[event_id] = attestation.serialize()
    await world.bus.publish(
        OracleAttested(
            oracle="oracle",
            event_id=event_id,
            oracle_public_key=world.oracle.oracle.public_key.hex(),
            maturity=maturity,
            outcome=str(price),
            values=list(attestation.outcomes),
            signatures=[s.hex() for s in attestation.signatures],
            attested_at=maturity,
            attestation_tlv=attestation.serialize().hex(),
        )
    )


async def test_a_rollover_renews_the_position_and_the_new_contract_settles(
    start: Start, tmp_path: Path
) -> None:
    world = await start(rollover_fee_sat=300)
    side = await _side(world, tmp_path, "erin")
    engine = side.engine()
    await side.match()
    old = await side.drive(engine, T.OPEN)
    await engine.rollover.request(old)
    rolled, new = await _passes(side, engine, _renewed, "rolled over")
    assert rolled.renewed_by == new.id and new.renews == rolled.id
    assert rolled.spend_txid == new.funding_txid and new.funding_txid is not None
    assert new.fee_sat == 500 + 300  # the opening's fee and the rollover's
    assert new.trader_margin_sat == old.trader_margin_sat
    assert new.maturity > old.maturity and new.market != old.market
    assert new.funding_key == 1  # a key of its own
    # the coordinator agrees (on its next poll): the old position rolled over, the new is open
    before = await wait_until(
        lambda: _in_state(side, old.position_id, "closed"), 20, what="their old one closed"
    )
    assert "rolled over" in before.note
    theirs = await wait_until(lambda: _in_state(side, new.position_id, "open"), 20, what="open")
    assert theirs.contract_id == new.contract_id and theirs.funding_txid == new.funding_txid
    assert theirs.pnl.fees_sat == 800
    assert side.gateway.taken == ["accept_dlc", "renew_accept", "renew_finalize"]

    # the renewed contract settles like any other, by its own curve
    await _attest_event(world, side, new.market, new.maturity, 52_000)
    rows = await _passes(side, engine, lambda r: T(r[-1].state) is T.SETTLED, "settled")
    settled = rows[-1]
    final = await wait_until(lambda: _final(side, new.position_id), 20, what="their settlement")
    assert settled.realized_pnl_sat == final.pnl.realized_pnl_sat
    info = RenewOffer.parse(bytes.fromhex(new.offer_hex)).contract_info
    payout = info.total_collateral - offer_payout_at(info, 52_000)
    assert settled.realized_pnl_sat == payout - new.trader_margin_sat


def _another_oracle(offer: RenewOffer) -> RenewOffer:
    event = offer_announcement(offer).oracle_event
    other = TestOracle("mallory").announce(event.event_id, event.event_maturity_epoch)
    info = offer.contract_info
    assert isinstance(info, SingleContractInfo)
    swapped = replace(info, event=replace(info.event, oracle_info=SingleOracleInfo(other)))
    return replace(offer, contract_info=swapped)


def _more_coordinator_margin(offer: RenewOffer) -> RenewOffer:
    return replace(offer, offer_collateral=offer.offer_collateral + 1_000)


def _curve_of(
    offer: RenewOffer, announcement: OracleAnnouncement, side: CurveSide, fee: int = 500
) -> RenewOffer:
    terms = TradeTerms(
        trader_side=side,
        quantity=1_000,
        price=Decimal(50_000),
        trader_leverage=Decimal(5),
        coordinator_leverage=Decimal(1),
        fee=fee,
        oracle_public_key=announcement.oracle_public_key,
        event_id=announcement.oracle_event.event_id,
        nb_digits=announcement.oracle_event.event_descriptor.nb_digits,  # type: ignore[union-attr]
        max_cets=60,
    )
    info, curve = build_contract(terms, announcement)
    return replace(offer, contract_info=info, offer_collateral=curve.offer_collateral)


def _other_side(offer: RenewOffer) -> RenewOffer:
    return _curve_of(offer, offer_announcement(offer), CurveSide.SHORT)


_TAMPERED: dict[str, tuple[Callable[[World], Callable[[RenewOffer], RenewOffer] | None], str]] = {
    "oracle": (lambda w: _another_oracle, "is not the position's"),
    "margin": (lambda w: _more_coordinator_margin, "trader margin"),
    "side": (lambda w: _other_side, "payout curve is not the trade's"),
    "same expiry": (
        lambda w: lambda o: _curve_of(o, w.oracle.announced["btcusd-1"], CurveSide.LONG),
        "is not after the position's",
    ),
    "fee": (lambda w: None, "rollover fee 30000 sat is above the ceiling 20001 sat"),
}


@pytest.mark.parametrize("case", list(_TAMPERED))
async def test_a_renewal_that_breaks_the_position_is_refused_and_it_stays_open(
    start: Start, tmp_path: Path, case: str
) -> None:
    make, reason = _TAMPERED[case]
    world = await start(rollover_fee_sat=30_000 if case == "fee" else 0)
    side = await _side(world, tmp_path, "frank")
    engine = side.engine()
    await side.match()
    old = await side.drive(engine, T.OPEN)
    side.gateway.tamper = make(world)
    await engine.rollover.request(old)

    def refused(rows: list[TraderContract]) -> bool:
        return len(rows) == 2 and T(rows[1].state) is T.REJECTED

    after, refusal = await _passes(side, engine, refused, "the renewal refused")
    assert reason in refusal.note, refusal.note
    assert refusal.accept_hex is None and refusal.funding_key is None
    assert T(after.state) is T.OPEN and after.renewed_by is None
    assert "stays open" in after.note and reason in after.note
    for name in ("contract_id", "offer_hex", "accept_hex", "sign_hex", "funding_txid"):
        assert getattr(after, name) == getattr(old, name), name
    assert (after.funding_key, after.maturity, after.market) == (
        old.funding_key,
        old.maturity,
        old.market,
    )
    assert "renew_accept" not in side.gateway.taken and "reject" in side.gateway.taken

    async def given_up() -> PositionPublic | None:
        found = await side.gateway.position(old.position_id)
        return found if found.state == "open" and "refused" in found.note else None

    theirs = await wait_until(given_up, 20, what="the coordinator gives the rollover up")
    assert reason in theirs.note
    # and the old contract settles at its own expiry as if nothing happened
    side.gateway.tamper = None
    await _attest(world, side, 52_000)
    settled = await side.drive(engine, T.SETTLED)
    assert settled.id == old.id and settled.realized_pnl_sat is not None


async def test_automatic_rollover_asks_once_and_renews(start: Start, tmp_path: Path) -> None:
    world = await start()
    side = await _side(world, tmp_path, "grace")
    side.auto_rollover = True
    engine = side.engine()
    await side.match()
    old = await side.drive(engine, T.OPEN)
    rolled, new = await _passes(side, engine, _renewed, "rolled over by itself")
    assert rolled.id == old.id and new.renews == old.id
    # asked once, not on every pass while the renewal was under way
    assert side.gateway.rollovers.count(old.position_id) == 1


_ROLL_POINTS = [p for p in TRADER_CRASH_POINTS if p.startswith("dlc.trader.rollover.")]


@pytest.mark.parametrize("point", _ROLL_POINTS)
async def test_a_crash_at_each_rollover_step_resumes_to_the_renewed_contract(
    start: Start, tmp_path: Path, point: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = await start()
    side = await _side(world, tmp_path, "heidi")
    await side.match()
    first = side.engine()
    old = await side.drive(first, T.OPEN)

    def crash_here(name: str) -> None:
        if name == point:
            raise Crash(name)

    for module in (engine_module, rollover_module):
        monkeypatch.setattr(module, "crashpoint", crash_here)
    await first.rollover.request(old)
    with pytest.raises(Crash):
        await _passes(side, first, _renewed, "rolled over")
    for module in (engine_module, rollover_module):
        monkeypatch.setattr(module, "crashpoint", lambda name: None)
    rolled, new = await _passes(side, side.engine(), _renewed, "rolled over after the crash")
    theirs = await side.gateway.position(new.position_id)
    assert theirs.contract_id == new.contract_id and theirs.funding_txid == new.funding_txid
    assert rolled.spend_txid == new.funding_txid
    assert side.gateway.taken.count("renew_finalize") >= 1


# -- restore -----------------------------------------------------------------------------------


async def _device(world: World, tmp_path: Path, name: str, keys: TraderKeys) -> tuple[Trader, Side]:
    """A device of the trader of ``keys``: the app's ``Trader`` (its database, its backups)
    with the engine's stand-ins; its gateway is the bus."""
    trader = Trader(TraderSettings(data_dir=tmp_path / name), keys)
    await trader.gateway.close()
    gateway = BusGateway(world, keys.node_pubkey.hex())
    trader.gateway = gateway  # type: ignore[assignment]
    await trader.db.migrate()
    return trader, Side(world, trader.db, keys, MemoryCoins("ivan"), gateway)


async def test_a_backup_between_renew_accept_and_renew_sign_restores_and_rolls_over(
    start: Start, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The coordinator has signed the renewal (a position of its own); the trader's backup
    holds the new contract under its stand-in id, with its renew_accept out. A new device
    restores it (it is not stale) and the rollover completes there."""
    world = await start()
    keys = TraderKeys(SecretWords(generate_mnemonic()), Network.REGTEST)
    lost, side = await _device(world, tmp_path, "lost", keys)
    engine = side.engine()
    await side.match()
    old = await side.drive(engine, T.OPEN)

    def crash_here(name: str) -> None:
        if name == "dlc.trader.rollover.after_sign_receive":
            raise Crash(name)

    monkeypatch.setattr(rollover_module, "crashpoint", crash_here)
    await engine.rollover.request(old)
    with pytest.raises(Crash):
        await _passes(side, engine, _renewed, "renew_sign")
    monkeypatch.setattr(rollover_module, "crashpoint", lambda name: None)
    before, pending = await _rows(side)
    assert T(before.state) is T.ROLLOVER_ACCEPTED and pending.position_id == pending.id
    theirs = (await side.gateway.positions()).positions
    [signed] = [p for p in theirs if p.temporary_contract_id == pending.temporary_contract_id]
    assert signed.position_id != pending.id and signed.state == "rolling_over"
    await lost.backup_now()
    blob = lost.backup_file.read()
    assert blob is not None
    await lost.close()

    device, restored = await _device(world, tmp_path, "new", keys)
    try:
        await device.load_backup(decrypt_backup(blob, keys.backup_key()))
        rolled, new = await _passes(restored, restored.engine(), _renewed, "rolled over")
        assert new.position_id == signed.position_id and rolled.spend_txid == new.funding_txid
        found = await restored.gateway.position(new.position_id)
        assert found.contract_id == new.contract_id and found.funding_txid == new.funding_txid
    finally:
        await device.close()
