"""The production ports: the coordinator's ``tentenone.wallet.Wallet`` (P2WPKH, its
state in this service's database) and the Electrum chain source.

:class:`WalletFunding` adapts the wallet to :class:`~tentenone_dlc.ports.FundingWallet`
(``tentenone.dlc.protocol.adapters``, shared with the trader's side) and adds
what only the coordinator does: invalidating a coin it offered.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from pathlib import Path
from typing import Any

from tentenone.bitcoin.script import address_to_script_pubkey
from tentenone.bitcoin.tx import OutPoint
from tentenone.chain import ElectrumChainSource, FileHeaderStore, Network
from tentenone.chain.faucet import Faucet
from tentenone.dlc.protocol import adapters
from tentenone.errors import ConfigError, InvalidInput
from tentenone.service.context import ServiceContext
from tentenone.wallet import AddressKind, Wallet, WalletAccount
from tentenone.wallet.persist_db import DatabasePersister
from tentenone.wallet.psbt import PsbtInput, create_psbt, extract_transaction
from tentenone_dlc.models import WALLET_STATE
from tentenone_dlc.ports import ElectrumChainWatch, OracleRpcAnnouncements, Ports
from tentenone_dlc.settings import DlcSettings

_log = logging.getLogger(__name__)

__all__ = ["WalletFunding", "production_ports"]

_INVALIDATE_FEE_VB = 110
_DEVNET_COINS = 20  # one P2WPKH input, one P2WPKH output


class WalletFunding(adapters.WalletFunding):
    """``FundingWallet`` over the coordinator's wallet."""

    def __init__(self, wallet: Wallet) -> None:
        if wallet.account.kind is not AddressKind.P2WPKH:
            raise ConfigError("the coordinator's DLC wallet must be P2WPKH")
        super().__init__(wallet)

    async def invalidate(self, outpoint: OutPoint) -> str:
        """Spend exactly ``outpoint`` back to a new address of ours."""
        wanted = adapters.chain_outpoint(outpoint)
        utxo = next((u for u in self.wallet.utxos() if u.outpoint == wanted), None)
        if utxo is None:
            raise InvalidInput(f"{wanted} is not an unspent coin of the wallet")
        to = address_to_script_pubkey(await self.wallet.new_address(branch=1))
        fee = _INVALIDATE_FEE_VB * 5
        psbt = create_psbt(
            self.wallet.account,
            [PsbtInput(utxo.outpoint, utxo.value, utxo.derived.script, utxo.derived)],
            [(to, utxo.value - fee)],
        )
        raw = extract_transaction(self.wallet.sign_psbt(psbt))
        return await self.wallet.broadcast(raw)


async def production_ports(ctx: ServiceContext, settings: DlcSettings) -> Ports:
    """Electrum chain source, the coordinator wallet in this service's database, the oracle."""
    if not settings.electrum_servers or settings.wallet_mnemonic is None:
        raise ConfigError(
            "set TENTENONE_DLC_ELECTRUM_SERVERS and TENTENONE_DLC_WALLET_MNEMONIC (or _FILE)"
        )
    network = Network(settings.network)
    headers = Path(settings.data_dir) / "dlc-headers"
    source = ElectrumChainSource(
        settings.electrum_servers, network, header_store=FileHeaderStore(headers)
    )
    await source.start()
    account = WalletAccount.from_mnemonic(
        settings.wallet_mnemonic.get_secret_value(), network, AddressKind.P2WPKH
    )
    wallet = Wallet(account, source, DatabasePersister(ctx.db, WALLET_STATE, "coordinator"))
    await wallet.start()
    await _devnet_fund(wallet, settings)
    ctx.extras["closers"] = [wallet.close, source.close]
    return Ports(WalletFunding(wallet), ElectrumChainWatch(source), _oracle(ctx, settings))


async def _devnet_fund(wallet: Wallet, settings: DlcSettings) -> None:
    """On the devnet only: an empty coordinator wallet asks the node's faucet for coins."""
    if not settings.devnet_fund_sat or wallet.balance().total:
        return
    if settings.network != "regtest" or not settings.bitcoind_rpc_url:
        raise ConfigError("devnet_fund_sat needs network regtest and TENTENONE_BITCOIND_RPC_URL")
    password = settings.bitcoind_rpc_password
    faucet = Faucet(
        settings.bitcoind_rpc_url,
        settings.bitcoind_rpc_user or "",
        password.get_secret_value() if password else "",
    )
    # Coins of their own for several offers at once: one coin would be locked by
    # the first offer, and its change is unconfirmed until the next block.
    each = Decimal(settings.devnet_fund_sat // _DEVNET_COINS) / 100_000_000
    for _ in range(_DEVNET_COINS):
        address = await wallet.new_address()
        txid = await faucet.fund(address, each)
        _log.info("devnet: funded the coordinator wallet", extra={"txid": txid, "btc": str(each)})


def _oracle(ctx: ServiceContext, settings: DlcSettings) -> Any:
    return OracleRpcAnnouncements(ctx, settings.oracle_service)
