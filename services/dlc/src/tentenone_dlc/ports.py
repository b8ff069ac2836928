"""What the coordinator needs from outside, as small interfaces (injected).

- :class:`FundingWallet`: coins for the coordinator's margin (reserved so two
  contracts never use the same input), payout and change scripts, signing
  its inputs, and invalidating a funding tx by spending one of its inputs.
- :class:`ChainWatch`: the chain's view: tip height, where a transaction
  is, whether an outpoint is unspent, broadcast (already known = success).
- :class:`AnnouncementSource`: the oracle's announcement of an event.

:class:`ElectrumChainWatch` implements ``ChainWatch`` on the library's
``ChainSource``; :class:`OracleRpcAnnouncements` asks the oracle service.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from tentenone.bitcoin.tx import OutPoint
from tentenone.dlc.messages import FundingInput
from tentenone.dlc.oracle_messages import OracleAnnouncement
from tentenone.dlc.protocol.adapters import ElectrumChain
from tentenone.dlc.protocol.signer import InputSigner
from tentenone.service.context import ServiceContext
from tentenone.wire.oracle import EventIdRequest, NoArguments, rpc_methods

__all__ = [
    "AnnouncementSource",
    "ChainWatch",
    "ElectrumChainWatch",
    "FundingWallet",
    "OracleRpcAnnouncements",
    "Ports",
    "TxStatus",
]


@dataclass(frozen=True, slots=True)
class TxStatus:
    """``confirmations`` 0: in the mempool; None: unknown to the chain."""

    confirmations: int | None


class FundingWallet(Protocol):
    async def reserve(self, amount: int, fee_rate: int, reason: str) -> list[FundingInput]:
        """Lock coins covering ``amount`` plus their own input fees."""
        ...

    async def release(self, outpoints: Sequence[OutPoint]) -> None: ...

    async def locked_outpoints(self) -> list[OutPoint]:
        """Every coin the wallet holds locked (``reserve``d and not ``release``d)."""
        ...

    async def payout_script(self) -> bytes: ...

    async def change_script(self) -> bytes: ...

    def signer(self) -> InputSigner: ...

    async def invalidate(self, outpoint: OutPoint) -> str:
        """Spend ``outpoint`` back to ourselves; the txid."""
        ...


class ChainWatch(Protocol):
    async def tip_height(self) -> int: ...

    async def tx_status(self, txid: str) -> TxStatus: ...

    async def is_unspent(self, outpoint: OutPoint, script: bytes) -> bool: ...

    async def broadcast(self, raw_tx: bytes) -> str:
        """Send ``raw_tx``; a tx the chain already has counts as sent."""
        ...

    async def spender(self, outpoint: OutPoint, script: bytes) -> str | None:
        """The txid spending ``outpoint`` (mempool included), or None."""
        ...

    async def raw_transaction(self, txid: str) -> bytes: ...


class AnnouncementSource(Protocol):
    async def announcement(self, event_id: str) -> OracleAnnouncement: ...

    async def index_price_cents(self) -> int: ...


@dataclass
class Ports:
    wallet: FundingWallet
    chain: ChainWatch
    oracle: AnnouncementSource


class ElectrumChainWatch(ElectrumChain):
    """``ChainWatch`` over the Electrum ``ChainSource``."""

    async def tx_status(self, txid: str) -> TxStatus:
        return TxStatus(await self.confirmations(txid))


class OracleRpcAnnouncements:
    """Announcements from the oracle service over the bus."""

    def __init__(self, ctx: ServiceContext, service: str) -> None:
        self._ctx = ctx
        methods = rpc_methods(service)
        self._get = methods["get_announcement"]
        self._price = methods["get_index_price"]

    async def announcement(self, event_id: str) -> OracleAnnouncement:
        reply = await self._ctx.request(self._get, EventIdRequest(event_id=event_id))
        return OracleAnnouncement.parse(bytes.fromhex(reply.announcement_tlv))

    async def index_price_cents(self) -> int:
        reply = await self._ctx.request(self._price, NoArguments())
        return int(reply.price_cents)
