"""Questions about the chain that need no watch: broadcast, where is a tx, is an outpoint spent."""

from __future__ import annotations

import asyncio

from tentenone.bitcoin.tx import parse_transaction
from tentenone.chain import BroadcastRejected, ChainSource, OutPoint, TransactionNotFound, TxInfo
from tentenone.logging import get_logger
from tentenone.wire.chain import (
    BroadcastRequest,
    BroadcastResult,
    InvalidOutpoint,
    InvalidTransaction,
    OutpointStatus,
    OutpointStatusRequest,
    TxStatus,
    TxStatusRequest,
)
from tentenone_chain_monitor.validation import (
    check_outpoint,
    check_txid,
    parse_script_hex,
    parse_tx_hex,
)

__all__ = ["broadcast", "outpoint_status", "tx_status"]

_log = get_logger(__name__)


async def _find(source: ChainSource, txid: str) -> TxInfo | None:
    try:
        return await source.get_transaction(txid)
    except TransactionNotFound:
        return None


def _confirmations(info: TxInfo | None, tip_height: int) -> int | None:
    if info is None:
        return None
    return 0 if info.height is None else tip_height - info.height + 1


async def broadcast(source: ChainSource, req: BroadcastRequest) -> BroadcastResult:
    """Send the transaction once; if the node refuses it, ask once whether it has it already.

    Only a transaction the chain or the mempool holds counts as sent; any other
    refusal comes back as ``BroadcastRejected`` with the node's reason. Nothing
    here retries: the chain source bounds its own call by its timeout.
    """
    raw, tx = parse_tx_hex(req.tx_hex)
    txid = tx.txid_hex()
    try:
        await source.broadcast(raw)
    except BroadcastRejected as rejected:
        info = await _find(source, txid)
        if info is None:
            raise
        _log.info(
            "broadcast of a transaction the chain has already",
            extra={"txid": txid, "reason": rejected.message},
        )
        tip = await source.tip()
        return BroadcastResult(
            txid=txid, outcome="known", confirmations=_confirmations(info, tip.height)
        )
    return BroadcastResult(txid=txid, outcome="accepted", confirmations=None)


async def tx_status(source: ChainSource, req: TxStatusRequest) -> TxStatus:
    txid = check_txid(req.txid, InvalidTransaction)
    info = await _find(source, txid)
    tip = await source.tip()
    return TxStatus(
        txid=txid,
        confirmations=_confirmations(info, tip.height),
        block_height=None if info is None else info.height,
        block_hash=None if info is None else info.block_hash,
        tip_height=tip.height,
    )


async def outpoint_status(source: ChainSource, req: OutpointStatusRequest) -> OutpointStatus:
    txid, vout = check_outpoint(req.outpoint.txid, req.outpoint.vout)
    point = OutPoint(txid, vout)
    if req.script_hex is not None:
        script = parse_script_hex(req.script_hex)
        funding, spend = await asyncio.gather(_find(source, txid), source.find_spend(point, script))
    else:
        funding = await _find(source, txid)
        spend = None
        if funding is not None:
            outputs = parse_transaction(funding.raw).outputs
            if vout >= len(outputs):
                raise InvalidOutpoint(f"transaction {txid} has {len(outputs)} outputs, not {vout}")
            spend = await source.find_spend(point, outputs[vout].script_pubkey)
    tip = await source.tip()
    return OutpointStatus(
        outpoint=req.outpoint.model_copy(update={"txid": txid}),
        exists=funding is not None,
        unspent=funding is not None and spend is None,
        spending_txid=None if spend is None else spend.txid,
        input_index=None if spend is None else spend.input_index,
        spend_confirmations=None
        if spend is None
        else (0 if spend.height is None else tip.height - spend.height + 1),
        tip_height=tip.height,
    )
