"""A throwaway DLC service for the gateway's tests, on the real bus.

The real DLC service (issue 9) is built after the gateway; until then these
tests need something that serves ``tentenone.wire.dlc`` on RabbitMQ. This one
keeps its state in memory and follows the contract's rules that the gateway
relies on (scoping by ``trader_pubkey``, per-trader sequence numbers,
monotonic backups); the end-to-end tests of issue 9 cover the real service.
It serves no ``get_node_info``: the gateway must answer 503 for it.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any

from tentenone.errors import ConflictError, NotFound
from tentenone.service import Service, ServiceContext
from tentenone.wire import dlc as w

__all__ = ["FakeDlc", "make_fake_dlc"]

NOW = dt.datetime(2030, 1, 4, 8, tzinfo=dt.UTC)


@dataclass
class FakeDlc:
    positions: dict[str, w.Position] = field(default_factory=dict)
    messages: dict[str, list[w.ProtocolMessage]] = field(default_factory=dict)
    backups: dict[str, w.Backup] = field(default_factory=dict)
    state_numbers: dict[str, int] = field(default_factory=dict)
    submitted: list[w.SubmitProtocolMessage] = field(default_factory=list)
    #: every trader_pubkey any request carried
    callers: list[str] = field(default_factory=list)
    ctx: ServiceContext | None = None

    def position(self, trader: str, position_id: str) -> w.Position:
        found = self.positions.get(position_id)
        if found is None or found.trader_pubkey != trader:
            raise NotFound(f"no position {position_id}")
        return found

    async def open_position(self, trader: str, position_id: str, **fields: Any) -> w.Position:
        """Make (or change) a position and publish its event, as the real service would."""
        old = self.positions.get(position_id)
        data: dict[str, Any] = {
            "position_id": position_id,
            "trader_pubkey": trader,
            "market": "btcusd1893744000",
            "expiry": NOW,
            "side": "long",
            "quantity": 100,
            "entry_price_cents": 9_000_050,
            "leverage": 5,
            "trader_margin_sat": 22_222,
            "coordinator_margin_sat": 111_110,
            "state": "offered",
            "version": 1 if old is None else old.version + 1,
            "trade_id": "t-1",
            "order_id": "o-1",
            "pnl": {"mark_price_cents": 9_100_000, "unrealized_pnl_sat": 1234},
            "created_at": NOW,
            "updated_at": NOW,
            **fields,
        }
        position = w.Position.model_validate(data)
        self.positions[position_id] = position
        number = self.state_numbers[trader] = self.state_numbers.get(trader, 0) + 1
        cls = w.PositionCreated if old is None else w.PositionUpdated
        assert self.ctx is not None
        await self.ctx.bus.publish(cls(state_number=number, position=position))
        return position

    async def send_message(self, trader: str, position_id: str, message_type: str) -> None:
        mine = self.messages.setdefault(trader, [])
        message = w.ProtocolMessage(
            seq=len(mine) + 1,
            position_id=position_id,
            message_type=message_type,
            payload_hex="a71a" + f"{len(mine):04x}",
            view={"type": message_type},
            created_at=NOW,
        )
        mine.append(message)
        assert self.ctx is not None
        await self.ctx.bus.publish(
            w.ProtocolMessageSent(**message.model_dump(), trader_pubkey=trader)
        )


def make_fake_dlc() -> tuple[Service, FakeDlc]:
    svc = Service("dlc", description="a throwaway DLC service for the gateway's tests")
    fake = FakeDlc()

    @svc.on_startup
    async def remember(ctx: ServiceContext) -> None:
        fake.ctx = ctx

    @svc.rpc(w.LIST_POSITIONS)
    async def list_positions(ctx: ServiceContext, req: w.ListPositionsRequest) -> w.PositionList:
        fake.callers.append(req.trader_pubkey)
        mine = [p for p in fake.positions.values() if p.trader_pubkey == req.trader_pubkey]
        if req.status == "active":
            mine = [p for p in mine if p.state not in w.FINAL_POSITION_STATES]
        return w.PositionList(
            positions=mine[: req.limit], state_number=fake.state_numbers.get(req.trader_pubkey, 0)
        )

    @svc.rpc(w.GET_POSITION)
    async def get_position(ctx: ServiceContext, req: w.PositionRequest) -> w.Position:
        fake.callers.append(req.trader_pubkey)
        return fake.position(req.trader_pubkey, req.position_id)

    @svc.rpc(w.LIST_PROTOCOL_MESSAGES)
    async def list_messages(
        ctx: ServiceContext, req: w.ListProtocolMessagesRequest
    ) -> w.ProtocolMessageList:
        fake.callers.append(req.trader_pubkey)
        mine = fake.messages.get(req.trader_pubkey, [])
        if req.position_id is not None:
            fake.position(req.trader_pubkey, req.position_id)
        found = [
            m for m in mine if m.seq > req.after_seq and req.position_id in (None, m.position_id)
        ]
        return w.ProtocolMessageList(messages=found[: req.limit], last_seq=len(mine))

    @svc.rpc(w.SUBMIT_PROTOCOL_MESSAGE)
    async def submit(ctx: ServiceContext, req: w.SubmitProtocolMessage) -> w.Position:
        fake.callers.append(req.trader_pubkey)
        position = fake.position(req.trader_pubkey, req.position_id)
        fake.submitted.append(req)
        return position

    @svc.rpc(w.REQUEST_CLOSE_QUOTE)
    async def close_quote(ctx: ServiceContext, req: w.PositionRequest) -> w.CloseQuote:
        fake.callers.append(req.trader_pubkey)
        fake.position(req.trader_pubkey, req.position_id)
        return w.CloseQuote(
            quote_id="q-1",
            position_id=req.position_id,
            price_cents=9_100_000,
            trader_payout_sat=23_000,
            coordinator_payout_sat=110_000,
            fee_sat=332,
            realized_pnl_sat=778,
            expires_at=NOW,
        )

    @svc.rpc(w.ACCEPT_CLOSE_QUOTE)
    async def accept_quote(ctx: ServiceContext, req: w.AcceptCloseQuote) -> w.Position:
        fake.callers.append(req.trader_pubkey)
        position = fake.position(req.trader_pubkey, req.position_id)
        if req.quote_id != "q-1":
            raise NotFound(f"no quote {req.quote_id}")
        return position

    @svc.rpc(w.REQUEST_ROLLOVER)
    async def rollover(ctx: ServiceContext, req: w.PositionRequest) -> w.Position:
        fake.callers.append(req.trader_pubkey)
        position = fake.position(req.trader_pubkey, req.position_id)
        raise ConflictError(f"position {position.position_id} is not in its rollover window")

    @svc.rpc(w.PUT_BACKUP)
    async def put_backup(ctx: ServiceContext, req: w.PutBackup) -> w.BackupInfo:
        fake.callers.append(req.trader_pubkey)
        data = base64.b64decode(req.data_b64)
        old = fake.backups.get(req.trader_pubkey)
        if old is not None and (
            req.version < old.version
            or (req.version == old.version and req.data_b64 != old.data_b64)
        ):
            raise w.StaleBackup(
                f"version {req.version} is not above the stored {old.version}",
                stored_version=old.version,
            )
        backup = w.Backup(
            version=req.version,
            size_bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            stored_at=NOW,
            data_b64=req.data_b64,
        )
        fake.backups[req.trader_pubkey] = backup
        return w.BackupInfo(**backup.model_dump(exclude={"data_b64"}))

    @svc.rpc(w.GET_BACKUP)
    async def get_backup(ctx: ServiceContext, req: w.TraderRequest) -> w.Backup:
        fake.callers.append(req.trader_pubkey)
        found = fake.backups.get(req.trader_pubkey)
        if found is None:
            raise NotFound("no backup yet")
        return found

    @svc.rpc(w.GET_STATE_NUMBER)
    async def get_state_number(ctx: ServiceContext, req: w.TraderRequest) -> w.StateNumber:
        fake.callers.append(req.trader_pubkey)
        number = fake.state_numbers.get(req.trader_pubkey, 0)
        return w.StateNumber(trader_pubkey=req.trader_pubkey, state_number=number)

    return svc, fake
