"""Helpers of the DLC service's tests: the service on the real PostgreSQL and RabbitMQ,
a trader driving the real protocol layer against it over the bus, and the ports.

The wallet, chain and oracle here are in-memory stand-ins (``MemoryWallet``,
``MemoryChain``, ``MemoryOracle``): these tests are about the coordinator's
states, messages, events and refusals. The transactions themselves are
checked by Bitcoin Core's rules in ``test_devnet.py`` (a real devnet node and
ElectrumX) and in the end-to-end tests.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tentenone.bitcoin.script import p2wpkh
from tentenone.bitcoin.tx import OutPoint, Transaction, parse_transaction
from tentenone.bus import Bus
from tentenone.bus.errors import BusUnavailable
from tentenone.bus.events import ReceivedEvent
from tentenone.bus.policy import BusLimits
from tentenone.chain.errors import BroadcastRejected
from tentenone.dlc.curve import Side
from tentenone.dlc.messages import FundingInput, OfferDlc, SignDlc
from tentenone.dlc.oracle_messages import OracleAnnouncement
from tentenone.dlc.protocol.closing import accept_close
from tentenone.dlc.protocol.messages import CloseOffer, ProtocolMessage, parse_protocol_message
from tentenone.dlc.protocol.opening import PartyFunding, accept_offer, complete_funding
from tentenone.dlc.protocol.signed import SignedContract
from tentenone.dlc.protocol.signer import InputSigner, KeyInputSigner
from tentenone.dlc.protocol.terms import TradeTerms, check_offer_terms
from tentenone.dlc.protocol.testing import TestOracle, key, prev_tx_coin, pubkey
from tentenone.dlc.signing import to_tx_inputs
from tentenone.dlc.validation import CheckedAccept, ValidationPolicy
from tentenone.service.context import ServiceContext
from tentenone.service.runner import ServiceRunner
from tentenone.testing import wait_until
from tentenone.wallet.errors import InsufficientFunds
from tentenone.wire import REGISTRY
from tentenone.wire import dlc as wire
from tentenone.wire.dlc import BUS_MESSAGE_BYTES
from tentenone_dlc import service as dlc_service
from tentenone_dlc.coordinator import Coordinator
from tentenone_dlc.models import Contract
from tentenone_dlc.ports import Ports, TxStatus
from tentenone_dlc.settings import DlcSettings

CHAIN_HASH = DlcSettings().chain_hash
POLICY = ValidationPolicy(chain_hashes=frozenset({bytes.fromhex(CHAIN_HASH)}))
MATURITY = int(dt.datetime(2030, 1, 4, 16, tzinfo=dt.UTC).timestamp())


@dataclass
class MemoryChain:
    """A stand-in chain: a mempool, blocks by count, spent outpoints."""

    height: int = 200
    txs: dict[str, int | None] = field(default_factory=dict)  # txid -> height (None: mempool)
    raw: dict[str, bytes] = field(default_factory=dict)
    spent: set[OutPoint] = field(default_factory=set)
    spenders: dict[OutPoint, str] = field(default_factory=dict)
    broadcasts: list[str] = field(default_factory=list)

    async def tip_height(self) -> int:
        return self.height

    async def tx_status(self, txid: str) -> TxStatus:
        if txid not in self.txs:
            return TxStatus(None)
        at = self.txs[txid]
        return TxStatus(0 if at is None else self.height - at + 1)

    async def is_unspent(self, outpoint: OutPoint, script: bytes) -> bool:
        del script
        return outpoint not in self.spent

    async def broadcast(self, raw_tx: bytes) -> str:
        tx = parse_transaction(raw_tx)
        txid = tx.txid_hex()
        self.broadcasts.append(txid)
        if txid in self.txs:
            return txid
        for txin in tx.inputs:
            if txin.outpoint in self.spent:
                # what a node answers (through Electrum) to a conflicting transaction
                raise BroadcastRejected(f"double spend of {txin.outpoint}: txn-mempool-conflict")
        self.spent.update(txin.outpoint for txin in tx.inputs)
        self.spenders.update((txin.outpoint, txid) for txin in tx.inputs)
        self.txs[txid] = None
        self.raw[txid] = raw_tx
        return txid

    async def spender(self, outpoint: OutPoint, script: bytes) -> str | None:
        del script
        txid = self.spenders.get(outpoint)
        return txid if txid in self.txs else None

    async def raw_transaction(self, txid: str) -> bytes:
        return self.raw[txid]

    def mine(self, blocks: int = 1) -> None:
        for txid, at in list(self.txs.items()):
            if at is None:
                self.txs[txid] = self.height + 1
        self.height += blocks

    def drop(self, txid: str) -> None:
        """A reorg that drops ``txid`` (its inputs become unspent again)."""
        tx = parse_transaction(self.raw[txid])
        del self.txs[txid]
        self.spent.difference_update(txin.outpoint for txin in tx.inputs)


@dataclass
class MemoryWallet:
    """The coordinator's coins: made-up P2WPKH outputs of one key."""

    chain: MemoryChain
    label: str = "coordinator wallet"
    coins: list[FundingInput] = field(default_factory=list)
    locked: dict[OutPoint, str] = field(default_factory=dict)
    invalidated: list[OutPoint] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.coins = [prev_tx_coin(key(self.label), 5_000_000, 100 + i) for i in range(8)]

    def _outpoint(self, coin: FundingInput) -> OutPoint:
        return to_tx_inputs([coin])[0].outpoint

    async def reserve(self, amount: int, fee_rate: int, reason: str) -> list[FundingInput]:
        del fee_rate
        for coin in self.coins:
            point = self._outpoint(coin)
            if point not in self.locked and point not in self.chain.spent:
                if to_tx_inputs([coin])[0].value < amount + 1000:
                    continue
                self.locked[point] = reason
                return [coin]
        # as the real wallet says it (the coordinator refuses the fill on it)
        raise InsufficientFunds(f"no coin left for {amount} sat")

    async def release(self, outpoints: Sequence[OutPoint]) -> None:
        for point in outpoints:
            self.locked.pop(point, None)

    async def locked_outpoints(self) -> list[OutPoint]:
        return list(self.locked)

    async def payout_script(self) -> bytes:
        return p2wpkh(pubkey(key("coordinator payout")))

    async def change_script(self) -> bytes:
        return p2wpkh(pubkey(key(self.label)))

    def signer(self) -> InputSigner:
        return KeyInputSigner([key(self.label)])

    async def invalidate(self, outpoint: OutPoint) -> str:
        self.invalidated.append(outpoint)
        txid = hashlib.sha256(b"invalidate" + outpoint.serialize()).digest()[::-1].hex()
        self.chain.spent.add(outpoint)
        self.chain.spenders[outpoint] = txid
        self.chain.txs[txid] = None
        return txid


@dataclass
class MemoryOracle:
    oracle: TestOracle
    price_cents: int = 5_000_000
    announced: dict[str, OracleAnnouncement] = field(default_factory=dict)

    async def announcement(self, event_id: str) -> OracleAnnouncement:
        if event_id not in self.announced:
            # a schedule's event id ("btcusd<unix seconds>", a rollover's next expiry) matures
            # when it says; the tests' own ids at MATURITY
            digits = event_id.removeprefix("btcusd")
            maturity = int(digits) if digits.isdigit() else MATURITY
            self.announced[event_id] = self.oracle.announce(event_id, maturity)
        return self.announced[event_id]

    async def index_price_cents(self) -> int:
        return self.price_cents


@dataclass
class World:
    runner: ServiceRunner
    bus: Bus
    chain: MemoryChain
    wallet: MemoryWallet
    oracle: MemoryOracle
    events: list[ReceivedEvent[Any]]
    trade_no: int = 0

    async def match(self, trader: Trader, *, side: Side = Side.LONG, leverage: int = 5) -> str:
        """Publish a trade.matched with ``trader`` as taker against the house maker."""
        self.trade_no += 1
        body = {
            "trade_id": f"t{self.trade_no}",
            "market": "btcusd-1",
            "price": 5_000_000,
            "quantity": 1_000,
            "taker_side": side.value,
            "taker_trader_id": trader.pubkey_hex,
            "taker_order_id": f"o{self.trade_no}",
            "taker_fee_sat": 500,
            "taker_leverage": leverage,
            "maker_trader_id": "house",
            "maker_order_id": "m1",
            "maker_fee_sat": 0,
        }
        await self.bus.publish_raw("orderbook", "trade.matched", json.dumps(body).encode())
        return str(body["trade_id"])

    async def mine_when_sent(self, txid: str | None) -> None:
        """Mine once ``txid`` is in the mempool (the service broadcasts from its poll)."""
        await wait_until(lambda: txid in self.chain.txs, 20, what=f"{txid} broadcast")
        self.chain.mine()

    def steps(self, event_type: str) -> list[Any]:
        return [e.payload for e in self.events if e.event_type == event_type]

    def coordinator(self) -> Coordinator:
        assert self.runner.ctx is not None
        found: Coordinator = self.runner.ctx.extras["coordinator"]
        return found

    async def contract(self, position_id: str) -> Contract:
        async with self.coordinator().ctx.transaction() as s:
            row = await s.get(Contract, position_id)
        assert row is not None
        return row


@dataclass
class Trader:
    """A trader built on the shared protocol layer, talking to the service over the bus."""

    world: World
    label: str
    seen_seq: int = 0
    checked: CheckedAccept | None = None
    signed: SignedContract | None = None
    funding_tx: Transaction | None = None
    max_cets: int = 60
    rpc_timeout: float = 30

    __test__ = False

    @property
    def pubkey_hex(self) -> str:
        return hashlib.sha256(self.label.encode()).hexdigest()

    @property
    def fund_secret(self) -> bytes:
        return key(f"{self.label} fund")

    def terms(self, side: Side = Side.LONG, leverage: int = 5) -> TradeTerms:
        return TradeTerms(
            trader_side=side,
            quantity=1_000,
            price=Decimal(50_000),
            trader_leverage=Decimal(leverage),
            coordinator_leverage=Decimal(1),
            fee=500,
            oracle_public_key=self.world.oracle.oracle.public_key,
            event_id="btcusd-1",
            max_cets=self.max_cets,
        )

    async def rpc(self, spec: Any, **kw: Any) -> Any:
        return await self.world.bus.request(
            spec, spec.request(trader_pubkey=self.pubkey_hex, **kw), timeout_s=self.rpc_timeout
        )

    async def next_message(self, kind: str, within: float = 20) -> tuple[str, ProtocolMessage]:
        async def poll() -> tuple[str, ProtocolMessage] | None:
            reply = await self.rpc(wire.LIST_PROTOCOL_MESSAGES, after_seq=self.seen_seq)
            for m in reply.messages:
                self.seen_seq = m.seq
                if m.message_type == kind:
                    return m.position_id, parse_protocol_message(bytes.fromhex(m.payload_hex))
            return None

        found: tuple[str, ProtocolMessage] = await wait_until(poll, within, what=kind)
        return found

    async def accept(self, offer: OfferDlc) -> Any:
        coin = prev_tx_coin(key(f"{self.label} wallet"), 3_000_000, len(self.label) + 7)
        funding = PartyFunding(
            pubkey(self.fund_secret),
            p2wpkh(pubkey(key(f"{self.label} payout"))),
            p2wpkh(pubkey(key(f"{self.label} wallet"))),
            (coin,),
        )
        accept, self.checked = await asyncio.to_thread(
            accept_offer, offer, POLICY, funding, self.fund_secret
        )
        return accept

    def fund(self, sign: SignDlc) -> Transaction:
        assert self.checked is not None
        tx, self.signed = complete_funding(
            self.checked, sign, POLICY, KeyInputSigner([key(f"{self.label} wallet")])
        )
        self.funding_tx = tx
        return tx

    async def submit(self, position_id: str, message: ProtocolMessage, kind: str) -> Any:
        return await self.rpc(
            wire.SUBMIT_PROTOCOL_MESSAGE,
            position_id=position_id,
            message_type=kind,
            payload_hex=message.serialize().hex(),
        )

    async def open(self, *, side: Side = Side.LONG) -> str:
        """The whole opening: match, offer, accept, sign, funding at depth."""
        await self.world.match(self, side=side)
        position_id, offer = await self.next_message("offer_dlc")
        assert isinstance(offer, OfferDlc)
        check_offer_terms(offer, self.terms(side))
        await self.submit(position_id, await self.accept(offer), "accept_dlc")
        _, sign = await self.next_message("sign_dlc")
        assert isinstance(sign, SignDlc)
        await self.world.chain.broadcast(self.fund(sign).serialize())
        self.world.chain.mine()
        await self.wait_state(position_id, "open")
        return position_id

    async def position(self, position_id: str) -> wire.Position:
        result: wire.Position = await self.rpc(wire.GET_POSITION, position_id=position_id)
        return result

    async def wait_state(self, position_id: str, state: str, within: float = 20) -> wire.Position:
        async def check() -> wire.Position | None:
            p = await self.position(position_id)
            return p if p.state == state else None

        found: wire.Position = await wait_until(check, within, what=f"position {state}")
        return found

    async def close(self, position_id: str, close: CloseOffer) -> Any:
        assert self.signed is not None
        now = int(dt.datetime.now(dt.UTC).timestamp())
        return await self.submit(
            position_id, accept_close(self.signed, close, self.fund_secret, now=now), "close_accept"
        )


Start = Callable[..., Awaitable[World]]


async def start_fixture(amqp_url: str, pg_url: str) -> AsyncIterator[Start]:
    started: list[World] = []
    prefix = f"t{uuid.uuid4().hex[:10]}."

    async def go(*, watch: Sequence[str] = (), **settings: Any) -> World:
        chain = MemoryChain()
        wallet = MemoryWallet(chain)
        oracle = MemoryOracle(TestOracle())

        async def ports(ctx: ServiceContext, s: DlcSettings) -> Ports:
            del ctx, s
            return Ports(wallet, chain, oracle)

        dlc_service.ports_factory.append(ports)
        config = {
            "funding_seed": "11" * 32,
            "poll_interval_s": 0.2,
            "coordinator_leverage": 1,
            "max_cets": 60,
            "house_traders": ["house"],
            **settings,
        }
        settings = DlcSettings(database_url=pg_url, amqp_url=amqp_url, amqp_prefix=prefix, **config)
        for attempt in range(3):
            # the shared broker may be too slow to accept a connection under load:
            # start again, as Kubernetes restarts a pod (bounded)
            runner = ServiceRunner(dlc_service.service, settings, serve_http=False)
            try:
                await runner.start()
                break
            except BusUnavailable:
                if attempt == 2:
                    raise
        bus = Bus.for_url(
            "tt-dlc-client",
            amqp_url,
            prefix=prefix,
            limits=BusLimits(max_message_bytes=BUS_MESSAGE_BYTES, rpc_timeout_s=60),
        )
        await bus.start()
        events: list[ReceivedEvent[Any]] = []

        async def collect(event: ReceivedEvent[Any]) -> None:
            events.append(event)

        # only the events a test asks for: every subscription is a queue on the broker
        for event_type in watch:
            cls = REGISTRY.event_class(event_type)
            await bus.subscribe(cls, collect, name=f"seen_{event_type.replace('.', '_')}")
        world = World(runner, bus, chain, wallet, oracle, events)
        started.append(world)
        return world

    yield go
    for world in started:
        await world.bus.close()
        await world.runner.stop(grace_s=3)
    dlc_service.ports_factory.clear()
