"""``/backup``: the trader's encrypted backup, kept by the DLC service (monotonic versions)."""

from fastapi import APIRouter

from tentenone.wire import dlc as wdlc
from tentenone.wire.gateway import BackupCreate, BackupInfoPublic, BackupPublic
from tentenone_gateway.api.common import PREFIX, PRIVATE_PROBLEMS, timeout
from tentenone_gateway.auth import Trader
from tentenone_gateway.openapi import operation_id
from tentenone_gateway.state import State
from tentenone_gateway.upstream import call

__all__ = ["BACKUP_PATH", "router"]

router = APIRouter(
    prefix=PREFIX,
    tags=["backup"],
    responses=PRIVATE_PROBLEMS,
    generate_unique_id_function=operation_id,
)
BACKUP_PATH = f"{PREFIX}/backup"


@router.put(
    "/backup",
    summary="Store your encrypted backup; an older version never replaces a newer one (409)",
)
async def put_backup(state: State, trader: Trader, body: BackupCreate) -> BackupInfoPublic:
    request = wdlc.PutBackup(
        trader_pubkey=trader.public_key, version=body.version, data_b64=body.data_b64
    )
    found = await call(state.ctx, wdlc.PUT_BACKUP, request, timeout(state))
    return BackupInfoPublic.model_validate(found.model_dump())


@router.get("/backup", summary="Your latest backup")
async def get_backup(state: State, trader: Trader) -> BackupPublic:
    request = wdlc.TraderRequest(trader_pubkey=trader.public_key)
    found = await call(state.ctx, wdlc.GET_BACKUP, request, timeout(state))
    return BackupPublic.model_validate(found.model_dump())
