"""``Trader``: one self-custodial trader on this device: keys, wallet, gateway, protocol engine.

What the app and the ``tentenone-trader`` CLI use. ``Trader.open`` unlocks
the key store; ``start`` migrates the app database (SQLite), syncs the
wallet with the Electrum servers, and runs the protocol engine in the
background (a pass every ``poll_interval_s``, and at once when the
gateway's ``protocol`` channel has news). Every state change writes an
encrypted backup to ``<data_dir>/backup.bin`` and to the gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import secrets
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlmodel import col, select

from tentenone.chain import ElectrumChainSource, FileHeaderStore, Network
from tentenone.dlc.oracle_messages import OracleAnnouncement
from tentenone.dlc.protocol.messages import CloseOffer
from tentenone.dlc.protocol.states import TraderState as T
from tentenone.errors import TentenoneError, Unavailable
from tentenone.store import Database, migrations_dir
from tentenone.store.statemachine import create, transition
from tentenone.trader.backup import (
    BackupPayload,
    ContractRecord,
    LocalBackupFile,
    OrderRecord,
    StaleReport,
    check_fresh,
    decrypt_backup,
    encrypt_backup,
    record_of,
    settle_only,
)
from tentenone.trader.engine import EngineSettings, ProtocolEngine
from tentenone.trader.errors import (
    GatewayUnavailable,
    TraderConflict,
    TraderInputError,
    UnknownOrder,
    UnknownPosition,
)
from tentenone.trader.gateway import HttpGateway, OrderPlacement
from tentenone.trader.keys import TraderKeys
from tentenone.trader.keystore import FileKeyStore, SecretWords
from tentenone.trader.models import (
    WALLET_STATE,
    MetaRow,
    OrderRow,
    OrderState,
    OutboxRow,
    TraderContract,
    TraderTable,
)
from tentenone.trader.ports import ElectrumChainView, WalletFunding
from tentenone.wallet import Balance, Wallet
from tentenone.wallet.persist_db import DatabasePersister

__all__ = ["OrderRequest", "OrderView", "PositionView", "Trader", "TraderSettings"]

_log = logging.getLogger(__name__)


class TraderSettings(BaseSettings):
    """The trader's settings (env ``TENTENONE_TRADER_<FIELD>``)."""

    model_config = SettingsConfigDict(env_prefix="TENTENONE_TRADER_", extra="ignore")

    data_dir: Path = Field(default=Path(".data/trader"))
    gateway_url: str = "http://127.0.0.1:8000"
    electrum_servers: list[str] = Field(default_factory=lambda: ["tcp://127.0.0.1:50001"])
    network: str = "regtest"
    #: confirmations of the funding tx before a position counts as open
    funding_depth: int = Field(default=1, ge=1)
    #: the coordinator's CETs per contract (its curve rounding follows from it)
    max_cets: int = Field(default=2000, ge=10)
    max_fee_bps: int = Field(default=100, ge=0, le=10_000)
    #: the oracle's x-only key (hex) to pin; empty: the one the gateway publishes
    oracle_public_key: str = ""
    auto_liquidation: bool = True
    #: the highest fee rate (sat/vB) of a DLC's transactions accepted in an offer
    max_fee_rate: int = Field(default=250, ge=1, le=1000)
    #: the latest refund accepted in an offer: this many blocks after the expiry
    max_refund_delay_blocks: int = Field(default=4032, ge=1)
    auto_rollover: bool = False
    #: a position this close to its expiry is due for a rollover (asked for if automatic)
    rollover_window_s: float = Field(default=48 * 3600, gt=0)
    #: an automatic rollover that did not happen is asked for again after this long
    rollover_retry_s: float = Field(default=1800, gt=0)
    poll_interval_s: float = Field(default=2.0, gt=0)
    #: how long ``start`` waits for an Electrum server
    electrum_timeout_s: float = Field(default=5.0, gt=0)
    #: how long a restore waits for the gateway's copy of the backup
    backup_timeout_s: float = Field(default=10.0, gt=0)
    #: follow the gateway's WebSocket (off: poll only)
    websocket: bool = True


@dataclass(frozen=True)
class OrderRequest:
    market: str
    side: str  # buy | sell (long | short accepted)
    quantity: int
    leverage: int
    #: limit price in US dollars; None: a market order
    price: Decimal | None = None


@dataclass(frozen=True)
class OrderView:
    order_id: str
    remote_id: str | None
    market: str
    side: str
    quantity: int
    filled_quantity: int
    price_cents: int | None
    leverage: int
    state: str
    happening: str
    can_do: str


@dataclass(frozen=True)
class PositionView:
    position_id: str
    market: str
    side: str
    quantity: int
    price_cents: int
    leverage: int
    margin_sat: int
    state: str
    note: str
    funding_txid: str | None
    spend_txid: str | None
    realized_pnl_sat: int | None
    maturity: dt.datetime
    rollover_due: bool = False


_ORDER_WORDS: dict[OrderState, tuple[str, str]] = {
    OrderState.PLACING: ("being sent to the order book", "wait, or cancel"),
    OrderState.OPEN: ("resting in the book", "wait for a match, or cancel"),
    OrderState.PARTIALLY_FILLED: ("part filled; the rest rests", "wait, or cancel the rest"),
    OrderState.FILLED: ("filled: see its position", "follow the position"),
    OrderState.CANCELLING: ("cancel asked", "wait"),
    OrderState.CANCELLED: ("cancelled", "place a new order"),
    OrderState.REJECTED: ("refused by the order book", "place a new order"),
}


def _close_id(row: TraderContract) -> str | None:
    if not row.close_offer_hex:
        return None
    return CloseOffer.parse(bytes.fromhex(row.close_offer_hex)).close_id.hex()


def _position_state(state: T) -> str:
    if state in (T.OFFER_RECEIVED, T.ACCEPTED):
        return "offered"
    if state in (T.SIGNED, T.FUNDING, T.PENDING_RENEWAL):
        return "funding"
    if state in (T.OPEN, T.CLOSE_OFFERED):
        return "open"
    if state in (T.CLOSE_ACCEPTED, T.CLOSING, T.SETTLING, T.REFUNDING):
        return "closing"
    if state in (T.ROLLOVER_OFFERED, T.ROLLOVER_ACCEPTED, T.ROLLOVER_SIGNED):
        return "rolling_over"
    return {
        T.SETTLED: "settled",
        T.CLOSED: "closed",
        T.REFUNDED: "refunded",
        T.ROLLED_OVER: "closed",
    }.get(state, "cancelled")


class Trader:
    def __init__(self, settings: TraderSettings, keys: TraderKeys) -> None:
        self.settings = settings
        self.keys = keys
        self.network = Network(settings.network)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.db = Database(
            f"sqlite+aiosqlite:///{settings.data_dir / 'trader.db'}",
            service="trader",
            metadata=TraderTable.metadata,
            migrations=migrations_dir("tentenone.trader"),
        )
        self.gateway = HttpGateway(settings.gateway_url, keys.node_pubkey, keys.sign_challenge)
        self.backup_file = LocalBackupFile(settings.data_dir / "backup.bin")
        self.source: ElectrumChainSource | None = None
        self.wallet: Wallet | None = None
        self.engine: ProtocolEngine | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._announcements: dict[str, OracleAnnouncement] = {}
        self._backup_lock = asyncio.Lock()
        #: what the coordinator knew that the backup restored last did not (None: not asked)
        self.restore_report: StaleReport | None = None

    # -- opening ---------------------------------------------------------------------------

    @staticmethod
    def keystore(settings: TraderSettings) -> FileKeyStore:
        return FileKeyStore(settings.data_dir / "keystore.json")

    @classmethod
    async def open(cls, settings: TraderSettings, passphrase: str) -> Trader:
        words = await asyncio.to_thread(cls.keystore(settings).unlock, passphrase)
        return cls(settings, TraderKeys(words, Network(settings.network)))

    @classmethod
    async def create_wallet(cls, settings: TraderSettings, words: str, passphrase: str) -> Trader:
        secret = SecretWords(words)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(cls.keystore(settings).create, secret, passphrase)
        return cls(settings, TraderKeys(secret, Network(settings.network)))

    @classmethod
    async def restore_wallet(
        cls,
        settings: TraderSettings,
        words: str,
        passphrase: str,
        *,
        backup_file: Path | None = None,
    ) -> Trader:
        """A new device: the key store from the words, then the newest backup (file or gateway)."""
        trader = await cls.create_wallet(settings, words, passphrase)
        await trader.db.migrate()
        blob = await asyncio.to_thread(backup_file.read_bytes) if backup_file else None
        remote: bytes | None = None
        try:
            remote = await asyncio.wait_for(trader.gateway.get_backup(), settings.backup_timeout_s)
        except (TimeoutError, TentenoneError) as exc:
            # the words alone restore the keys; a backup found later is loaded by `restore`
            _log.warning("no backup from the gateway: %r", exc)
        key = trader.keys.backup_key()
        candidates = [decrypt_backup(b, key) for b in (blob, remote) if b is not None]
        if candidates:
            await trader.load_backup(max(candidates, key=lambda p: p.version))
        return trader

    @property
    def node_pubkey(self) -> str:
        return self.keys.node_pubkey.hex()

    # -- life ----------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.db.migrate()
        s = self.settings
        self.source = ElectrumChainSource(
            s.electrum_servers,
            self.network,
            header_store=FileHeaderStore(s.data_dir / "headers"),
        )
        try:
            await asyncio.wait_for(self.source.start(), s.electrum_timeout_s)
        except (TimeoutError, TentenoneError) as exc:
            await self.source.close()
            self.source = None
            raise Unavailable(
                f"the Electrum servers {', '.join(s.electrum_servers)} cannot be reached ({exc!r})"
            ) from None
        persister = DatabasePersister(self.db, WALLET_STATE, "trader")
        self.wallet = Wallet(self.keys.wallet_account(), self.source, persister)
        await self.wallet.start()
        self.engine = ProtocolEngine(
            self.db,
            self.keys,
            self.gateway,
            WalletFunding(self.wallet),
            ElectrumChainView(self.source),
            EngineSettings(
                chain_hash=bytes.fromhex(self.network.params.genesis_hash)[::-1],
                funding_depth=s.funding_depth,
                max_cets=s.max_cets,
                max_fee_bps=s.max_fee_bps,
                oracle_public_key=bytes.fromhex(s.oracle_public_key)
                if s.oracle_public_key
                else None,
                auto_liquidation=s.auto_liquidation,
                max_fee_rate=s.max_fee_rate,
                max_refund_delay_blocks=s.max_refund_delay_blocks,
                auto_rollover=s.auto_rollover,
                rollover_window_s=s.rollover_window_s,
                rollover_retry_s=s.rollover_retry_s,
            ),
            announcement=self.announcement,
            on_change=self.backup_now_quiet,
        )

    def run_in_background(self) -> None:
        """The engine's loop (and the WebSocket follower) as tasks until ``close``."""
        engine = self.require_engine()
        self._tasks.append(asyncio.create_task(engine.run(self.settings.poll_interval_s)))
        if self.settings.websocket:
            self._tasks.append(asyncio.create_task(self._follow()))

    async def _follow(self) -> None:
        engine = self.require_engine()
        resume: dict[str, int] = {}
        async for update in self.gateway.updates(["protocol", "positions"], resume):
            resume[update.channel] = update.seq
            engine.wake.set()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self.wallet is not None:
            await self.wallet.close()
        if self.source is not None:
            await self.source.close()
        await self.gateway.close()
        await self.db.close()

    def require_engine(self) -> ProtocolEngine:
        if self.engine is None:
            raise TraderConflict("start the trader first")
        return self.engine

    def require_wallet(self) -> Wallet:
        if self.wallet is None:
            raise TraderConflict("start the trader first")
        return self.wallet

    async def announcement(self, event_id: str) -> OracleAnnouncement:
        if event_id not in self._announcements:
            tlv = await self.gateway.announcement_tlv(event_id)
            self._announcements[event_id] = OracleAnnouncement.parse(tlv)
        return self._announcements[event_id]

    # -- wallet --------------------------------------------------------------------------------

    def balance(self) -> Balance:
        return self.require_wallet().balance()

    async def new_address(self) -> str:
        return await self.require_wallet().new_address()

    # -- orders ----------------------------------------------------------------------------------

    async def place_order(self, request: OrderRequest) -> OrderRow:
        """Saved first (placing), then sent with its id as the client order id."""
        side = {"long": "buy", "short": "sell"}.get(request.side, request.side)
        if side not in ("buy", "sell"):
            raise TraderInputError(f"side must be buy or sell, not {request.side!r}")
        if request.quantity < 1 or not 1 <= request.leverage <= 10:
            raise TraderInputError("quantity must be at least 1 and leverage 1 to 10")
        price = None if request.price is None else int(request.price * 100)
        now = dt.datetime.now(dt.UTC)
        row = OrderRow(
            id=secrets.token_hex(12),
            state=OrderState.PLACING,
            market=request.market,
            side=side,
            order_type="market" if price is None else "limit",
            time_in_force="ioc" if price is None else "gtc",
            quantity=request.quantity,
            price_cents=price,
            leverage=request.leverage,
            note="being sent",
            created_at=now,
            updated_at=now,
        )
        async with self.db.transaction() as s:
            await create(s, row, "placed by the trader")
        await self.backup_now_quiet()
        return await self.send_order(row)

    async def send_order(self, row: OrderRow) -> OrderRow:
        placement = OrderPlacement(
            row.id,
            row.market,
            row.side,
            row.quantity,
            row.leverage,
            row.order_type,
            row.price_cents,
            row.time_in_force,
            self._free_sat(),
        )
        try:
            reply = await self.gateway.place_order(placement)
        except GatewayUnavailable:
            return row  # still placing: sent again on the next start (same client order id)
        except TentenoneError as exc:
            return await self._order_moved(row, OrderState.REJECTED, f"refused: {exc.message}")
        order = reply.get("order", reply)
        status = str(order.get("status", "open"))
        target = {
            "open": OrderState.OPEN,
            "partially_filled": OrderState.PARTIALLY_FILLED,
            "filled": OrderState.FILLED,
            "cancelled": OrderState.CANCELLED,
        }.get(status, OrderState.OPEN)
        return await self._order_moved(
            row, target, f"order book: {status}", remote_id=str(order.get("order_id"))
        )

    def _free_sat(self) -> int | None:
        if self.wallet is None:
            return None
        balance = self.wallet.balance()
        return max(0, balance.confirmed + balance.unconfirmed - balance.locked)

    async def _order_moved(
        self, row: OrderRow, to: OrderState, note: str, remote_id: str | None = None
    ) -> OrderRow:
        async with self.db.transaction() as s:
            fresh = await s.get(OrderRow, row.id)
            assert fresh is not None
            if remote_id is not None:
                fresh.remote_id = remote_id
            fresh.note = note[:500]
            fresh.updated_at = dt.datetime.now(dt.UTC)
            if OrderState(fresh.state) is not to and fresh.state_machine.can(
                OrderState(fresh.state), to
            ):
                await transition(s, fresh, to, note[:200])
        await self.backup_now_quiet()
        return fresh

    async def cancel_order(self, order_id: str) -> OrderRow:
        async with self.db.transaction() as s:
            row = await s.get(OrderRow, order_id)
        if row is None:
            raise UnknownOrder(f"no order {order_id}")
        if row.remote_id is None:
            raise TraderConflict(f"order {order_id} has not reached the order book yet")
        await self.gateway.cancel_order(row.market, row.remote_id)
        return await self._order_moved(row, OrderState.CANCELLED, "cancelled by the trader")

    async def orders(self) -> list[OrderView]:
        async with self.db.transaction() as s:
            rows = (await s.exec(select(OrderRow).order_by(col(OrderRow.created_at)))).all()
        out = []
        for r in rows:
            state = OrderState(r.state)
            happening, can_do = _ORDER_WORDS[state]
            out.append(
                OrderView(
                    r.id,
                    r.remote_id,
                    r.market,
                    r.side,
                    r.quantity,
                    r.filled_quantity,
                    r.price_cents,
                    r.leverage,
                    state.name.lower(),
                    r.note or happening,
                    can_do,
                )
            )
        return out

    # -- positions -----------------------------------------------------------------------------

    async def positions(self, *, include_final: bool = False) -> list[PositionView]:
        engine = self.require_engine()
        rows = await engine.contracts(live_only=not include_final)
        return [
            PositionView(
                r.position_id,
                r.market,
                r.side,
                r.quantity,
                r.price_cents,
                r.leverage,
                r.trader_margin_sat,
                _position_state(T(r.state)),
                r.note,
                r.funding_txid,
                r.spend_txid,
                r.realized_pnl_sat,
                r.maturity,
                engine.rollover.due(r),
            )
            for r in rows
        ]

    async def contract_rows(self) -> list[TraderContract]:
        async with self.db.transaction() as s:
            return list((await s.exec(select(TraderContract))).all())

    async def _open_row(self, position_id: str, also: tuple[T, ...] = ()) -> TraderContract:
        async with self.db.transaction() as s:
            row = (
                await s.exec(
                    select(TraderContract).where(TraderContract.position_id == position_id)
                )
            ).first()
        if row is None:
            raise UnknownPosition(f"no position {position_id}")
        if T(row.state) is not T.OPEN and T(row.state) not in also:
            raise TraderConflict(f"position {position_id} is {T(row.state).name.lower()}")
        return row

    async def close_position(self, position_id: str) -> Any:
        """Ask for a quote and take it; the engine signs the close that follows (or the
        quote already received, when the engine saw it first)."""
        await self._open_row(position_id, also=(T.CLOSE_OFFERED,))
        engine = self.require_engine()
        # wanted before asking: the engine may receive the quote before we hear back
        engine.closing_wanted.add(position_id)
        try:
            quote = await self.gateway.close_quote(position_id)
            await self.gateway.accept_close(position_id, quote.quote_id)
        except BaseException:
            engine.closing_wanted.discard(position_id)
            raise
        row = await self.contract_of(position_id)
        if T(row.state) is T.CLOSE_OFFERED and _close_id(row) == quote.quote_id:
            await engine.sign_close(row)
        engine.wake.set()
        return quote

    async def roll_over(self, position_id: str) -> TraderContract:
        """Ask the coordinator to renew the open position into the next expiry; the engine
        checks and signs the renewal that follows (``tentenone.trader.rollover``)."""
        row = await self._open_row(position_id)
        await self.require_engine().rollover.request(row)
        return row

    async def rollover(self, position_id: str) -> None:
        """The app's name for :meth:`roll_over`."""
        await self.roll_over(position_id)

    async def contract_of(self, position_id: str) -> TraderContract:
        """The newest contract of ``position_id`` (or with that contract row id)."""
        async with self.db.transaction() as s:
            row = await s.get(TraderContract, position_id)
            if row is None:
                row = (
                    await s.exec(
                        select(TraderContract)
                        .where(TraderContract.position_id == position_id)
                        .order_by(col(TraderContract.created_at).desc())
                    )
                ).first()
        if row is None:
            raise UnknownPosition(f"no position {position_id}")
        return row

    # -- backups ----------------------------------------------------------------------------------

    async def _payload(self, version: int) -> BackupPayload:
        async with self.db.transaction() as s:
            contracts = (await s.exec(select(TraderContract))).all()
            orders = (await s.exec(select(OrderRow))).all()
            waiting = (
                await s.exec(select(OutboxRow).where(col(OutboxRow.delivered_at).is_(None)))
            ).all()
            meta = {m.key: int(m.value) for m in (await s.exec(select(MetaRow))).all()}
        return BackupPayload(
            version=version,
            created_at=dt.datetime.now(dt.UTC),
            network=self.network.value,
            node_pubkey=self.node_pubkey,
            state_number=meta.get("state_number", 0),
            last_seq=meta.get("protocol_seq", 0),
            funding_key_next=meta.get("funding_key_next", 0),
            contracts=[settle_only(record_of(c, ContractRecord)) for c in contracts],
            orders=[record_of(o, OrderRecord) for o in orders],
            undelivered=[
                (w.contract, w.position_id, w.message_type, w.payload_hex) for w in waiting
            ],
        )

    async def backup_now(self) -> int:
        """Write a new backup version to the local file and the gateway; the version."""
        async with self._backup_lock:
            async with self.db.transaction() as s:
                row = await s.get(MetaRow, "backup_version")
                version = (0 if row is None else int(row.value)) + 1
                version = max(version, self.backup_file.version() + 1)
                if row is None:
                    s.add(MetaRow(key="backup_version", value=str(version)))
                else:
                    row.value = str(version)
            await self._note_state_number()
            blob = encrypt_backup(await self._payload(version), self.keys.backup_key())
            await asyncio.to_thread(self.backup_file.write, blob)
            await self.gateway.put_backup(version, blob)
            return version

    async def _note_state_number(self) -> None:
        """The coordinator's state number, asked before our state is read into a backup:
        a restore compares it with the coordinator's then (``StaleReport.behind``). Offline,
        the last one known stays."""
        try:
            number = await self.gateway.state_number()
        except TentenoneError as exc:
            _log.info("state number not refreshed for the backup: %s", exc)
            return
        async with self.db.transaction() as s:
            row = await s.get(MetaRow, "state_number")
            if row is None:
                s.add(MetaRow(key="state_number", value=str(number)))
            elif int(row.value) < number:
                row.value = str(number)

    async def backup_now_quiet(self) -> None:
        try:
            await self.backup_now()
        except TentenoneError as exc:
            _log.warning("backup to the gateway failed (the local file is written): %s", exc)

    async def load_backup(self, payload: BackupPayload) -> StaleReport | None:
        """Resume from ``payload`` unless the coordinator knows of a later signature
        (``BackupStale``); what it knows that the backup does not, or None if the
        coordinator could not be asked."""
        report: StaleReport | None = None
        with contextlib.suppress(GatewayUnavailable):
            found = await self.gateway.positions()
            report = check_fresh(
                payload,
                found.state_number,
                {p.position_id: p.state for p in found.positions},
                {
                    p.position_id: [i for i in (p.temporary_contract_id, p.contract_id) if i]
                    for p in found.positions
                },
            )
        async with self.db.transaction() as s:
            for c in payload.contracts:
                if await s.get(TraderContract, c.id) is None:
                    s.add(TraderContract(**c.model_dump()))
            for o in payload.orders:
                if await s.get(OrderRow, o.id) is None:
                    s.add(OrderRow(**o.model_dump()))
            for contract, position, kind, payload_hex in payload.undelivered:
                s.add(
                    OutboxRow(
                        contract=contract,
                        position_id=position,
                        message_type=kind,
                        payload_hex=payload_hex,
                        created_at=dt.datetime.now(dt.UTC),
                    )
                )
            for key, value in (
                ("protocol_seq", payload.last_seq),
                ("funding_key_next", payload.funding_key_next),
                ("state_number", payload.state_number),
                ("backup_version", payload.version),
            ):
                s.add(MetaRow(key=key, value=str(value)))
        self.restore_report = report
        if report is not None and report.behind:
            _log.warning(
                "the backup (state %d) is behind the coordinator (state %d): catching up "
                "from its messages and the chain before anything is broadcast",
                report.backup_state_number,
                report.coordinator_state_number,
            )
        return report
