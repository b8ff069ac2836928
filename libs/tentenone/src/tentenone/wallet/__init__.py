"""The on-chain wallet shared by the app and the coordinator.

BIP-39 words, BIP-84 (P2WPKH) and BIP-86 (P2TR) accounts, UTXOs tracked
through a ``tentenone.chain.ChainSource``, coin selection, PSBTs signed
input by input (the DLC funding transaction), RBF and CPFP fee bumping.
"""

from tentenone.wallet.addresses import address_to_script, dust_limit, script_to_address
from tentenone.wallet.coin_selection import Candidate, Selection, fee_for_weight, select_coins
from tentenone.wallet.descriptors import (
    CHANGE,
    RECEIVE,
    AddressKind,
    DerivedScript,
    WalletAccount,
)
from tentenone.wallet.errors import (
    CannotBumpFee,
    InsufficientFunds,
    InvalidAddress,
    InvalidMnemonic,
    InvalidWalletInput,
    SigningError,
    UnknownTransaction,
    WrongNetwork,
)
from tentenone.wallet.mnemonic import generate_mnemonic, normalize_mnemonic, seed_from_mnemonic
from tentenone.wallet.persist import (
    FilePersister,
    MemoryPersister,
    StoredTx,
    WalletPersister,
    WalletState,
)
from tentenone.wallet.psbt import (
    RBF_SEQUENCE,
    PsbtInput,
    create_psbt,
    extract_transaction,
    psbt_fee,
    psbt_inputs,
    sign_inputs,
)
from tentenone.wallet.wallet import Balance, FundingCoin, Wallet, WalletUtxo, tx_weight

__all__ = [
    "CHANGE",
    "RBF_SEQUENCE",
    "RECEIVE",
    "AddressKind",
    "Balance",
    "Candidate",
    "CannotBumpFee",
    "DerivedScript",
    "FilePersister",
    "FundingCoin",
    "InsufficientFunds",
    "InvalidAddress",
    "InvalidMnemonic",
    "InvalidWalletInput",
    "MemoryPersister",
    "PsbtInput",
    "Selection",
    "SigningError",
    "StoredTx",
    "UnknownTransaction",
    "Wallet",
    "WalletAccount",
    "WalletPersister",
    "WalletState",
    "WalletUtxo",
    "WrongNetwork",
    "address_to_script",
    "create_psbt",
    "dust_limit",
    "extract_transaction",
    "fee_for_weight",
    "generate_mnemonic",
    "normalize_mnemonic",
    "psbt_fee",
    "psbt_inputs",
    "script_to_address",
    "seed_from_mnemonic",
    "select_coins",
    "sign_inputs",
    "tx_weight",
]
