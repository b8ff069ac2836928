"""Two throwaway services for the runner's tests: ``tt-ledger`` and ``tt-audit``.

``tt-ledger`` serves ``add_entry``: it stores an entry and, in the same
transaction, writes ``ledgertest.entry_added`` to its outbox. ``tt-audit``
consumes that event and records it. Run as a process (crash tests):
``python -m ledger tt-ledger`` with this folder on PYTHONPATH.

Knobs (environment, test-only): ``LEDGER_HOLD_RELAY=1`` stops the ledger's
relay right after start, so committed events stay in the outbox;
``LEDGER_GENERATE=1`` makes the ledger add entries on its own, one after
another, printing each committed id.
"""

import asyncio
import os
import sys
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, Column, Integer, String, Table, insert
from sqlmodel.ext.asyncio.session import AsyncSession

from tentenone.bus import ReceivedEvent
from tentenone.service import Service, ServiceContext
from tentenone.store import service_registry
from tentenone.wire import Event, RpcMethod, WireModel

MIGRATIONS = Path(__file__).parent / "ledger_migrations"

METADATA = service_registry().metadata
ENTRIES = Table(
    "entries",
    METADATA,
    Column("id", String(64), primary_key=True),
    Column("amount_sat", BigInteger, nullable=False),
)
# No unique key on event_id on purpose: applying an event twice shows as two rows.
AUDITED = Table(
    "audited",
    METADATA,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False),
    Column("entry_id", String(64), nullable=False),
    Column("amount_sat", BigInteger, nullable=False),
)


class EntryAdded(Event):
    event_type = "ledgertest.entry_added"
    source = "tt-ledger"
    entry_id: str
    amount_sat: int


class AddEntry(WireModel):
    amount_sat: int


class EntryView(WireModel):
    entry_id: str
    event_id: str


ADD_ENTRY = RpcMethod("tt-ledger", "add_entry", AddEntry, EntryView)

ledger = Service("tt-ledger", metadata=METADATA, migrations=MIGRATIONS)
audit = Service("tt-audit", metadata=METADATA, migrations=MIGRATIONS)


async def add_entry(ctx: ServiceContext, amount_sat: int) -> EntryView:
    entry_id = str(uuid.uuid4())
    async with ctx.transaction() as session:
        conn = await session.connection()
        await conn.execute(insert(ENTRIES).values(id=entry_id, amount_sat=amount_sat))
        event_id = await ctx.publish(session, EntryAdded(entry_id=entry_id, amount_sat=amount_sat))
    return EntryView(entry_id=entry_id, event_id=event_id)


@ledger.rpc(ADD_ENTRY)
async def serve_add_entry(ctx: ServiceContext, req: AddEntry) -> EntryView:
    return await add_entry(ctx, req.amount_sat)


@ledger.on_startup
async def maybe_hold_relay(ctx: ServiceContext) -> None:
    if os.environ.get("LEDGER_HOLD_RELAY") == "1":
        ctx.extras["hold"] = True


@ledger.background
async def hold_or_generate(ctx: ServiceContext) -> None:
    if ctx.extras.get("hold"):
        await ctx.relay.stop()
        print("relay held", flush=True)
    if os.environ.get("LEDGER_GENERATE") == "1":
        n = 0
        while True:
            n += 1
            view = await add_entry(ctx, n)
            print(f"committed {view.event_id}", flush=True)
            await asyncio.sleep(0)


@audit.consumer(EntryAdded)
async def record(ctx: ServiceContext, session: AsyncSession, event: ReceivedEvent[Any]) -> None:
    conn = await session.connection()
    await conn.execute(
        insert(AUDITED).values(
            event_id=event.event_id,
            entry_id=event.payload.entry_id,
            amount_sat=event.payload.amount_sat,
        )
    )


if __name__ == "__main__":
    which = {"tt-ledger": ledger, "tt-audit": audit}[sys.argv[1]]
    sys.exit(which.main(sys.argv[2:]))
