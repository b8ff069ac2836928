"""The protocol's wallet and chain on ``tentenone.wallet.Wallet`` and a ``ChainSource``.

Both sides use them: the trader's engine (``tentenone.trader``) and the
coordinator's DLC service, each behind its own small port interfaces.

- :class:`WalletFunding`: reserved coins become dlcspecs ``funding_input``
  values, and the wallet signs its inputs of a funding or renewal
  transaction through a PSBT that carries only those inputs' spent outputs
  (segwit v0 signs each input alone).
- :class:`ElectrumChain`: where a transaction is, who spent an outpoint,
  broadcasting (a transaction the chain already has counts as sent).
"""

from __future__ import annotations

from collections.abc import Sequence

from embit import psbt as embit_psbt
from embit import script as embit_script
from embit import transaction as embit_tx

from tentenone.bitcoin.script import address_to_script_pubkey
from tentenone.bitcoin.tx import OutPoint, Transaction, parse_transaction
from tentenone.chain.errors import BroadcastRejected
from tentenone.chain.source import ChainSource
from tentenone.chain.source import OutPoint as ChainOutPoint
from tentenone.dlc.messages import FundingInput
from tentenone.dlc.protocol.signer import InputSigner
from tentenone.dlc.transactions import FundingInput as TxFundingInput
from tentenone.errors import InvalidInput, NotFound
from tentenone.wallet import Balance, Wallet

__all__ = ["ElectrumChain", "WalletFunding", "WalletSigner", "chain_outpoint"]


def chain_outpoint(outpoint: OutPoint) -> ChainOutPoint:
    """A transaction's outpoint (txid in internal byte order) as the chain source's."""
    return ChainOutPoint(outpoint.txid[::-1].hex(), outpoint.vout)


class WalletSigner:
    """Signs the wallet's inputs of a transaction through a PSBT of just those inputs."""

    def __init__(self, wallet: Wallet) -> None:
        self._wallet = wallet

    def sign_inputs(
        self, tx: Transaction, inputs: Sequence[tuple[int, TxFundingInput]]
    ) -> dict[int, tuple[bytes, ...]]:
        parsed = embit_psbt.PSBT(embit_tx.Transaction.parse(tx.serialize(include_witness=False)))
        for index, spent in inputs:
            parsed.inputs[index].witness_utxo = embit_tx.TransactionOutput(
                spent.value, embit_script.Script(spent.script_pubkey)
            )
        signed = embit_psbt.PSBT.from_string(
            self._wallet.sign_psbt(str(parsed.to_string()), [i for i, _ in inputs])
        )
        out: dict[int, tuple[bytes, ...]] = {}
        for index, _ in inputs:
            witness = signed.inputs[index].final_scriptwitness
            if not witness:
                raise InvalidInput(f"the wallet did not sign input {index}")
            out[index] = tuple(bytes(item) for item in witness.items)
        return out


class WalletFunding:
    """A P2WPKH ``Wallet`` as the protocol's funding wallet."""

    def __init__(self, wallet: Wallet) -> None:
        self.wallet = wallet

    async def reserve(self, amount: int, fee_rate: int, reason: str) -> list[FundingInput]:
        """Lock coins covering ``amount`` plus their own input fees (``fee_rate`` sat/vB)."""
        coins = await self.wallet.reserve_coins(amount, fee_rate * 1000, reason=reason)
        return [
            FundingInput(0, c.prev_tx, c.outpoint.vout, c.sequence, c.max_witness_len)
            for c in coins
        ]

    async def release(self, outpoints: Sequence[OutPoint]) -> None:
        await self.wallet.release_coins([chain_outpoint(o) for o in outpoints])

    async def locked_outpoints(self) -> list[OutPoint]:
        return [OutPoint.from_hex(o.txid, o.vout) for o in self.wallet.locked_coins()]

    async def payout_script(self) -> bytes:
        return address_to_script_pubkey(await self.wallet.new_address())

    async def change_script(self) -> bytes:
        return address_to_script_pubkey(await self.wallet.new_address(branch=1))

    def signer(self) -> InputSigner:
        return WalletSigner(self.wallet)

    def balance(self) -> Balance:
        return self.wallet.balance()


class ElectrumChain:
    """The chain as the protocol sees it, over a ``ChainSource``."""

    def __init__(self, source: ChainSource) -> None:
        self._source = source

    async def tip_height(self) -> int:
        return (await self._source.tip()).height

    async def confirmations(self, txid: str) -> int | None:
        """0: in the mempool; None: unknown to the chain."""
        try:
            info = await self._source.get_transaction(txid)
        except NotFound:
            return None
        if info.height is None:
            return 0
        return await self.tip_height() - info.height + 1

    async def is_unspent(self, outpoint: OutPoint, script: bytes) -> bool:
        point = chain_outpoint(outpoint)
        if await self._source.find_spend(point, script) is not None:
            return False
        unspent = await self._source.unspent(script)
        return any(u.outpoint == point for u in unspent)

    async def spender(self, outpoint: OutPoint, script: bytes) -> str | None:
        spend = await self._source.find_spend(chain_outpoint(outpoint), script)
        return None if spend is None else spend.txid

    async def raw_transaction(self, txid: str) -> bytes:
        return (await self._source.get_transaction(txid)).raw

    async def broadcast(self, raw_tx: bytes) -> str:
        txid = parse_transaction(raw_tx).txid_hex()
        try:
            return await self._source.broadcast(raw_tx)
        except BroadcastRejected:
            # already in the chain or the mempool counts as done: check, never retry for ever
            if await self.confirmations(txid) is not None:
                return txid
            raise
