"""The chain as the wallet and the chain monitor see it: headers, scripts, transactions.

``ChainSource`` is the interface; ``ElectrumChainSource`` implements it on
Electrum servers with header proof-of-work checks and merkle (SPV) proofs.
"""

from tentenone.chain.electrum import ElectrumChainSource, EventStream
from tentenone.chain.electrum_session import ServerAddress
from tentenone.chain.errors import (
    BadHeader,
    BadMerkleProof,
    BroadcastRejected,
    ChainUnavailable,
    InvalidChainInput,
    MalformedReply,
    ReorgTooDeep,
    ServerMisbehaved,
    TransactionNotFound,
)
from tentenone.chain.header_store import FileHeaderStore, HeaderStore, MemoryHeaderStore
from tentenone.chain.headers import BlockHeader, HeaderChain
from tentenone.chain.network import ChainParams, Network
from tentenone.chain.source import (
    ChainEvent,
    ChainSource,
    HistoryItem,
    NewTip,
    OutPoint,
    Reorg,
    ScriptChanged,
    ServerSwitched,
    Spend,
    Tip,
    TxInfo,
    Utxo,
    script_hash,
)

__all__ = [
    "BadHeader",
    "BadMerkleProof",
    "BlockHeader",
    "BroadcastRejected",
    "ChainEvent",
    "ChainParams",
    "ChainSource",
    "ChainUnavailable",
    "ElectrumChainSource",
    "EventStream",
    "FileHeaderStore",
    "HeaderChain",
    "HeaderStore",
    "HistoryItem",
    "InvalidChainInput",
    "MalformedReply",
    "MemoryHeaderStore",
    "Network",
    "NewTip",
    "OutPoint",
    "Reorg",
    "ReorgTooDeep",
    "ScriptChanged",
    "ServerAddress",
    "ServerMisbehaved",
    "ServerSwitched",
    "Spend",
    "Tip",
    "TransactionNotFound",
    "TxInfo",
    "Utxo",
    "script_hash",
]
