"""What the trader's protocol engine needs from its wallet and the chain, as small interfaces.

- :class:`FundingWallet`: coins for the trader's margin (locked so two
  contracts never use the same one), payout and change scripts, and signing
  its inputs of a funding transaction;
- :class:`ChainView`: where a transaction is, who spent an outpoint, the tip,
  broadcasting (a transaction the chain already has counts as sent).

:class:`WalletFunding` and :class:`ElectrumChainView` (from
``tentenone.dlc.protocol.adapters``) implement them on
``tentenone.wallet.Wallet`` and a ``tentenone.chain.ChainSource``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from tentenone.bitcoin.tx import OutPoint
from tentenone.dlc.messages import FundingInput
from tentenone.dlc.protocol.adapters import ElectrumChain, WalletFunding, chain_outpoint
from tentenone.dlc.protocol.signer import InputSigner
from tentenone.wallet import Balance

__all__ = [
    "ChainView",
    "ElectrumChainView",
    "FundingWallet",
    "WalletFunding",
    "chain_outpoint",
]


class FundingWallet(Protocol):
    async def reserve(self, amount: int, fee_rate: int, reason: str) -> list[FundingInput]:
        """Lock coins covering ``amount`` plus their own input fees (``fee_rate`` sat/vB)."""
        ...

    async def release(self, outpoints: Sequence[OutPoint]) -> None: ...

    async def payout_script(self) -> bytes: ...

    async def change_script(self) -> bytes: ...

    def signer(self) -> InputSigner: ...

    def balance(self) -> Balance: ...


class ChainView(Protocol):
    async def tip_height(self) -> int: ...

    async def confirmations(self, txid: str) -> int | None:
        """0: in the mempool; None: unknown to the chain."""
        ...

    async def is_unspent(self, outpoint: OutPoint, script: bytes) -> bool:
        """False when spent, or unknown to the chain."""
        ...

    async def spender(self, outpoint: OutPoint, script: bytes) -> str | None: ...

    async def raw_transaction(self, txid: str) -> bytes: ...

    async def broadcast(self, raw_tx: bytes) -> str: ...


#: the trader's chain view is the protocol's Electrum chain
ElectrumChainView = ElectrumChain
