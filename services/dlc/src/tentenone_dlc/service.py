"""The DLC service: the gateway's RPC contract (``tentenone.wire.dlc``), the
``trade.matched`` and oracle consumers, and the chain poll."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from tentenone.atomic_file import write_atomic
from tentenone.bitcoin.tx import OutPoint
from tentenone.bus.events import ReceivedEvent
from tentenone.dlc.oracle_messages import OracleAttestation
from tentenone.errors import ConfigError, InvalidInput, NotFound, Unavailable
from tentenone.service import Service
from tentenone.service.context import ServiceContext
from tentenone.wallet.errors import InsufficientFunds
from tentenone.wallet.mnemonic import generate_mnemonic
from tentenone.wire import dlc as wire
from tentenone.wire.oracle import IndexPriceUpdated, OracleAttested
from tentenone_dlc.coordinator import MAX_LIST_HEX, Coordinator, parse_matched_trade
from tentenone_dlc.keys import FundingKeys
from tentenone_dlc.locks import sweep_locks
from tentenone_dlc.models import BackupRow, Contract, DlcTable, TraderRow
from tentenone_dlc.ports import Ports
from tentenone_dlc.settings import DlcSettings
from tentenone_dlc.views import position_view
from tentenone_dlc.wallet import production_ports

__all__ = ["demo_settings", "main", "ports_factory", "service"]

#: builds the wallet, chain and oracle ports at start (the last one wins; default:
#: ``production_ports``, the Electrum chain source and the coordinator wallet)
ports_factory: list[Callable[[ServiceContext, DlcSettings], Awaitable[Ports]]] = []


def demo_settings(data_dir: Path) -> dict[str, Any]:
    """The embedded demo: a funding seed and wallet words made once and kept in the
    demo dir (mode 0600); an empty wallet is funded from the devnet's faucet.

    Only the demo does this; a deployment gives TENTENONE_DLC_FUNDING_SEED(_FILE)
    and TENTENONE_DLC_WALLET_MNEMONIC(_FILE)."""
    seed_file, words_file = data_dir / "dlc-funding.seed", data_dir / "dlc-wallet.words"
    if not seed_file.exists():
        write_atomic(seed_file, secrets.token_hex(32).encode())
    if not words_file.exists():
        write_atomic(words_file, generate_mnemonic(24).encode())
    return {
        "funding_seed": SecretStr(seed_file.read_text().strip()),
        "wallet_mnemonic": SecretStr(words_file.read_text().strip()),
        "data_dir": str(data_dir),
        "devnet_fund_sat": 10 * 100_000_000,
    }


service = Service(
    "dlc",
    settings=DlcSettings,
    metadata=DlcTable.metadata,
    migrations="tentenone_dlc",
    description="the coordinator's side of every DLC",
    demo_settings=demo_settings,
)


def _coordinator(ctx: ServiceContext) -> Coordinator:
    coordinator: Coordinator = ctx.extras["coordinator"]
    return coordinator


@service.on_startup
async def _start(ctx: ServiceContext) -> None:
    settings = ctx.settings
    assert isinstance(settings, DlcSettings)
    if settings.funding_seed is None:
        raise ConfigError("TENTENONE_DLC_FUNDING_SEED (or _FILE) is not set")
    factory = ports_factory[-1] if ports_factory else production_ports
    ports = await factory(ctx, settings)
    keys = FundingKeys(bytes.fromhex(settings.funding_seed.get_secret_value()))
    coordinator = Coordinator(ctx, settings, ports, keys)
    ctx.extras["coordinator"] = coordinator
    # Before consumers and RPC handlers run, so no reservation is in flight (ADR 0107).
    await coordinator.sweep_released()  # coins a crash left locked after a release
    await sweep_locks(ctx, ports.wallet)  # any other lock no live contract holds


@service.raw_consumer("orderbook", "trade.matched")
async def on_trade_matched(
    ctx: ServiceContext, session: AsyncSession, event: ReceivedEvent[Any]
) -> None:
    settings = ctx.settings
    assert isinstance(settings, DlcSettings)
    coordinator = _coordinator(ctx)
    held: list[OutPoint] = []
    try:
        for leg in parse_matched_trade(event.payload, settings.house_traders):
            try:
                await coordinator.open_from_fill(leg, held)
            except (InsufficientFunds, InvalidInput) as exc:
                # No retry can offer it: release the fill now rather than leave the
                # trader's order "filled" with no position (the order book undoes it).
                await coordinator.refuse_fill(session, leg, exc)
    except BaseException:
        # This attempt's offers roll back with the event; their coins must not stay
        # locked in the wallet's memory for the retry.
        await coordinator.release_held(held)
        raise


@service.on_shutdown
async def _stop(ctx: ServiceContext) -> None:
    coordinator = ctx.extras.get("coordinator")
    if coordinator is not None and coordinator.executor is not None:
        coordinator.executor.shutdown(cancel_futures=True)
    for close in ctx.extras.get("closers", []):
        await close()


@service.consumer(OracleAttested)
async def on_attested(
    ctx: ServiceContext, session: AsyncSession, event: ReceivedEvent[OracleAttested]
) -> None:
    attestation = OracleAttestation.parse(bytes.fromhex(event.payload.attestation_tlv))
    await _coordinator(ctx).on_attestation(session, attestation)


@service.consumer(IndexPriceUpdated)
async def on_index_price(
    ctx: ServiceContext, session: AsyncSession, event: ReceivedEvent[IndexPriceUpdated]
) -> None:
    del session
    await _coordinator(ctx).on_index_price(event.payload.price_cents)


@service.background
async def chain_poll(ctx: ServiceContext) -> None:
    coordinator = _coordinator(ctx)
    settings = coordinator.settings
    while True:
        await coordinator.poll_once()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(coordinator.wake.wait(), settings.poll_interval_s)
        coordinator.wake.clear()


# -- RPC: positions and messages ------------------------------------------------------


@service.rpc(wire.LIST_POSITIONS)
async def list_positions(ctx: ServiceContext, req: wire.ListPositionsRequest) -> wire.PositionList:
    async with ctx.transaction() as s:
        rows = (
            await s.exec(
                select(Contract)
                .where(Contract.trader_pubkey == req.trader_pubkey)
                .order_by(Contract.created_at.desc())  # type: ignore[attr-defined]
            )
        ).all()
        trader = await s.get(TraderRow, req.trader_pubkey)
    views = [position_view(r) for r in rows]
    if req.status != "all":
        final = req.status == "closed"
        views = [v for v in views if (v.state in wire.FINAL_POSITION_STATES) == final]
    return wire.PositionList(
        positions=views[: req.limit], state_number=trader.state_number if trader else 0
    )


@service.rpc(wire.GET_POSITION)
async def get_position(ctx: ServiceContext, req: wire.PositionRequest) -> wire.Position:
    async with ctx.transaction() as s:
        return position_view(await _coordinator(ctx).get(s, req.trader_pubkey, req.position_id))


@service.rpc(wire.LIST_PROTOCOL_MESSAGES)
async def list_protocol_messages(
    ctx: ServiceContext, req: wire.ListProtocolMessagesRequest
) -> wire.ProtocolMessageList:
    rows, last = await _coordinator(ctx).messages(
        req.trader_pubkey, req.after_seq, req.position_id, req.limit
    )
    messages: list[wire.ProtocolMessage] = []
    size = 0
    for r in rows:
        size += len(r.payload_hex)
        if messages and size > MAX_LIST_HEX:
            break  # the reply must fit a bus message; the app asks again after the last seq
        messages.append(
            wire.ProtocolMessage(
                seq=r.seq,
                position_id=r.position_id,
                message_type=r.message_type,
                payload_hex=r.payload_hex,
                created_at=r.created_at,
            )
        )
    return wire.ProtocolMessageList(messages=messages, last_seq=last)


@service.rpc(wire.SUBMIT_PROTOCOL_MESSAGE)
async def submit_protocol_message(
    ctx: ServiceContext, req: wire.SubmitProtocolMessage
) -> wire.Position:
    row = await _coordinator(ctx).submit(
        req.trader_pubkey, req.position_id, req.message_type, req.payload_hex
    )
    async with ctx.transaction() as s:
        return position_view(await _coordinator(ctx).get(s, req.trader_pubkey, row.id))


@service.rpc(wire.REQUEST_CLOSE_QUOTE)
async def request_close_quote(ctx: ServiceContext, req: wire.PositionRequest) -> wire.CloseQuote:
    coordinator = _coordinator(ctx)
    price = await coordinator.ports.oracle.index_price_cents()
    close = await coordinator.close_quote(req.trader_pubkey, req.position_id, price)
    async with ctx.transaction() as s:
        row = await coordinator.get(s, req.trader_pubkey, req.position_id)
    signed = coordinator.signed(row)
    fee = signed.funding.value - signed.total_collateral
    return wire.CloseQuote(
        quote_id=close.close_id.hex(),
        position_id=req.position_id,
        price_cents=close.price * 100,
        trader_payout_sat=close.accept_payout,
        coordinator_payout_sat=close.offer_payout,
        fee_sat=fee,
        realized_pnl_sat=close.accept_payout - row.trader_margin_sat,
        expires_at=dt.datetime.fromtimestamp(close.expires_at, dt.UTC),
    )


@service.rpc(wire.ACCEPT_CLOSE_QUOTE)
async def accept_close_quote(ctx: ServiceContext, req: wire.AcceptCloseQuote) -> wire.Position:
    """The trader takes the quote by sending close_accept; this checks it is still current."""
    async with ctx.transaction() as s:
        row = await _coordinator(ctx).get(s, req.trader_pubkey, req.position_id)
    if row.close_offer_hex is None or req.quote_id not in row.close_offer_hex:
        raise NotFound(f"no current close quote {req.quote_id}")
    return position_view(row)


@service.rpc(wire.REQUEST_ROLLOVER)
async def request_rollover(ctx: ServiceContext, req: wire.PositionRequest) -> wire.Position:
    row = await _coordinator(ctx).request_rollover(req.trader_pubkey, req.position_id)
    async with ctx.transaction() as s:
        return position_view(await _coordinator(ctx).get(s, req.trader_pubkey, row.id))


# -- RPC: backups and state ------------------------------------------------------------


def _backup_info(row: BackupRow) -> wire.BackupInfo:
    return wire.BackupInfo(
        version=row.version, size_bytes=len(row.data), sha256=row.sha256, stored_at=row.stored_at
    )


@service.rpc(wire.PUT_BACKUP)
async def put_backup(ctx: ServiceContext, req: wire.PutBackup) -> wire.BackupInfo:
    data = base64.b64decode(req.data_b64, validate=True)
    digest = hashlib.sha256(data).hexdigest()
    async with ctx.transaction() as s:
        row = await s.get(BackupRow, req.trader_pubkey, with_for_update=True)
        if row is not None:
            if req.version == row.version and digest == row.sha256:
                return _backup_info(row)
            if req.version <= row.version:
                raise wire.StaleBackup(
                    f"backup version {req.version} is not above the stored {row.version}"
                )
            row.version, row.data, row.sha256 = req.version, data, digest
            row.stored_at = dt.datetime.now(dt.UTC)
        else:
            row = BackupRow(
                trader_pubkey=req.trader_pubkey,
                version=req.version,
                data=data,
                sha256=digest,
                stored_at=dt.datetime.now(dt.UTC),
            )
            s.add(row)
        await s.flush()
        return _backup_info(row)


@service.rpc(wire.GET_BACKUP)
async def get_backup(ctx: ServiceContext, req: wire.TraderRequest) -> wire.Backup:
    async with ctx.transaction() as s:
        row = await s.get(BackupRow, req.trader_pubkey)
    if row is None:
        raise NotFound("no backup stored for this key")
    info = _backup_info(row)
    return wire.Backup(**info.model_dump(), data_b64=base64.b64encode(row.data).decode())


@service.rpc(wire.GET_STATE_NUMBER)
async def get_state_number(ctx: ServiceContext, req: wire.TraderRequest) -> wire.StateNumber:
    async with ctx.transaction() as s:
        row = await s.get(TraderRow, req.trader_pubkey)
    return wire.StateNumber(
        trader_pubkey=req.trader_pubkey, state_number=row.state_number if row else 0
    )


@service.rpc(wire.GET_NODE_INFO)
async def get_node_info(ctx: ServiceContext, req: wire.NodeInfoRequest) -> wire.NodeInfo:
    del ctx, req
    raise Unavailable("the coordinator's Lightning node is not running in this deployment")


def main(argv: list[str] | None = None) -> int:
    return service.main(argv)
