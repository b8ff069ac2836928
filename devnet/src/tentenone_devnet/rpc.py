"""The bitcoind RPC methods the devnet node answers, with bitcoind's fields and errors.

Field names, error codes and messages follow Bitcoin Core 31 (src/rpc/*.cpp).
Methods not listed here answer ``-32601 Method not found``, as bitcoind does
for a method it does not know; ``devnet_*`` methods are this node's own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from tentenone_devnet.codec import (
    COIN,
    Block,
    DecodeError,
    OutPoint,
    Tx,
    hash_to_hex,
    hex_to_hash,
)
from tentenone_devnet.jsonrpc import (
    RPC_DESERIALIZATION_ERROR,
    RPC_INVALID_ADDRESS_OR_KEY,
    RPC_INVALID_PARAMETER,
    RPC_MISC_ERROR,
    RPC_TYPE_ERROR,
    RPC_VERIFY_ALREADY_IN_UTXO_SET,
    RPC_VERIFY_ERROR,
    RPC_VERIFY_REJECTED,
    Amount,
    Param,
    RpcError,
    RpcMethod,
)
from tentenone_devnet.kernel import REGTEST_BITS, Kernel
from tentenone_devnet.mempool import MempoolEntry
from tentenone_devnet.node import BlockRejected, Node, NodeError
from tentenone_devnet.policy import (
    DEFAULT_MAX_FEE_RATE,
    MAX_MONEY,
    Reject,
    fee_for,
)
from tentenone_devnet.scripts import (
    AddressError,
    address_to_script,
    classify,
    disassemble,
    infer_descriptor,
    is_unspendable,
    script_to_address,
)

__all__ = ["CLIENT_VERSION", "NodeRpc"]

CLIENT_VERSION = 310000
_SUBVERSION = "/Satoshi:31.0.0(tentenone-devnet)/"
_MAX_PACKAGE = 25
_TARGET = (REGTEST_BITS & 0xFFFFFF) << (8 * ((REGTEST_BITS >> 24) - 3))
_DIFFICULTY = 4.656542373906925e-10
_ESTIMATE_MODES = ("unset", "economical", "conservative")


def _parse_hash(value: str, name: str) -> bytes:
    """ParseHashV: 64 hex characters, else -8 with Core's message."""
    if len(value) != 64:
        raise RpcError(
            RPC_INVALID_PARAMETER, f"{name} must be of length 64 (not {len(value)}, for '{value}')"
        )
    try:
        return hex_to_hash(value)
    except ValueError:
        raise RpcError(
            RPC_INVALID_PARAMETER, f"{name} must be hexadecimal string (not '{value}')"
        ) from None


def _parse_tx(hexstr: str, message: str = "TX decode failed") -> Tx:
    try:
        return Tx.parse(bytes.fromhex(hexstr))
    except (ValueError, DecodeError):
        raise RpcError(RPC_DESERIALIZATION_ERROR, message) from None


def _amount_to_sats(value: Any, what: str = "Invalid amount") -> int:
    """AmountFromValue: a BTC number or string with at most 8 decimals."""
    try:
        dec = Decimal(str(value))
    except InvalidOperation:
        raise RpcError(RPC_TYPE_ERROR, what) from None
    sats = dec * COIN
    if sats != sats.to_integral_value():
        raise RpcError(RPC_TYPE_ERROR, "Invalid amount")
    if not 0 <= sats <= MAX_MONEY:
        raise RpcError(RPC_TYPE_ERROR, "Amount out of range")
    return int(sats)


def _fee_rate_to_sat_per_kvb(value: Any) -> int:
    return _amount_to_sats(value if value is not None else Decimal(DEFAULT_MAX_FEE_RATE) / COIN)


def _script_json(script: bytes, with_address: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "asm": disassemble(script),
        "desc": infer_descriptor(script),
        "hex": script.hex(),
    }
    address = script_to_address(script)
    if with_address and address is not None:
        out["address"] = address
    out["type"] = str(classify(script))
    return out


def tx_to_json(
    tx: Tx, spent: list[tuple[int, bytes, int, bool]] | None = None, verbosity: int = 1
) -> dict[str, Any]:
    """TxToUniv: the decoded transaction (with fee/prevouts when undo data is given)."""
    vin: list[dict[str, Any]] = []
    for i, txin in enumerate(tx.vin):
        item: dict[str, Any] = {}
        if tx.is_coinbase():
            item["coinbase"] = txin.script_sig.hex()
        else:
            item["txid"] = hash_to_hex(txin.prevout.txid)
            item["vout"] = txin.prevout.n
            item["scriptSig"] = {"asm": disassemble(txin.script_sig), "hex": txin.script_sig.hex()}
        if txin.witness:
            item["txinwitness"] = [w.hex() for w in txin.witness]
        if spent is not None and verbosity >= 3 and not tx.is_coinbase():
            value, script, height, coinbase = spent[i]
            item["prevout"] = {
                "generated": coinbase,
                "height": height,
                "value": Amount(value),
                "scriptPubKey": _script_json(script),
            }
        item["sequence"] = txin.sequence
        vin.append(item)
    out: dict[str, Any] = {
        "txid": tx.txid_hex,
        "hash": hash_to_hex(tx.wtxid),
        "version": tx.version,
        "size": tx.size,
        "vsize": tx.vsize,
        "weight": tx.weight,
        "locktime": tx.locktime,
        "vin": vin,
        "vout": [
            {"value": Amount(o.value), "n": n, "scriptPubKey": _script_json(o.script_pubkey)}
            for n, o in enumerate(tx.vout)
        ],
    }
    if spent is not None and not tx.is_coinbase():
        out["fee"] = Amount(sum(s[0] for s in spent) - sum(o.value for o in tx.vout))
    return out


class NodeRpc:
    """Maps method names to handlers bound to one ``Node``."""

    def __init__(self, node: Node, on_stop: Callable[[], None] | None = None) -> None:
        self.node = node
        self._on_stop = on_stop
        self.fee_rate = 1000  # sat/kvB returned by estimatesmartfee (devnet: no history)
        req, opt = True, False
        p = Param
        m = RpcMethod
        self.methods: dict[str, RpcMethod] = {
            "getblockchaininfo": m(self.getblockchaininfo, (), "Returns chain state."),
            "getnetworkinfo": m(self.getnetworkinfo, (), "Returns P2P networking state."),
            "getindexinfo": m(self.getindexinfo, (p("index_name", "str", opt),), "Indexes."),
            "getblockcount": m(self.getblockcount, (), "Returns the height of the tip."),
            "getbestblockhash": m(self.getbestblockhash, (), "Returns the tip's hash."),
            "getdifficulty": m(lambda _a: _DIFFICULTY, (), "Returns the difficulty."),
            "getblockhash": m(self.getblockhash, (p("height", "int", req),), "Block hash."),
            "getblockheader": m(
                self.getblockheader,
                (p("blockhash", "str", req), p("verbose", "bool", opt)),
                "Block header.",
            ),
            "getblock": m(
                self.getblock,
                (p("blockhash", "str", req), p("verbosity|verbose", "int|bool", opt)),
                "Block data.",
            ),
            "getrawtransaction": m(
                self.getrawtransaction,
                (
                    p("txid", "str", req),
                    p("verbosity|verbose", "int|bool", opt),
                    p("blockhash", "str", opt),
                ),
                "Raw transaction.",
            ),
            "decoderawtransaction": m(
                self.decoderawtransaction,
                (p("hexstring", "str", req), p("iswitness", "bool", opt)),
                "Decode a raw transaction.",
            ),
            "sendrawtransaction": m(
                self.sendrawtransaction,
                (
                    p("hexstring", "str", req),
                    p("maxfeerate", "num|str", opt),
                    p("maxburnamount", "num|str", opt),
                ),
                "Submit a raw transaction to the mempool.",
            ),
            "testmempoolaccept": m(
                self.testmempoolaccept,
                (p("rawtxs", "arr", req), p("maxfeerate", "num|str", opt)),
                "Test mempool acceptance.",
            ),
            "submitpackage": m(
                self.submitpackage,
                (
                    p("package", "arr", req),
                    p("maxfeerate", "num|str", opt),
                    p("maxburnamount", "num|str", opt),
                ),
                "Submit a package of raw transactions.",
            ),
            "getrawmempool": m(
                self.getrawmempool,
                (p("verbose", "bool", opt), p("mempool_sequence", "bool", opt)),
                "Mempool txids.",
            ),
            "getmempoolinfo": m(self.getmempoolinfo, (), "Mempool state."),
            "getmempoolentry": m(self.getmempoolentry, (p("txid", "str", req),), "Entry."),
            "gettxspendingprevout": m(
                self.gettxspendingprevout,
                (p("outputs", "arr", req), p("options", "obj", opt)),
                "Spenders of outputs.",
            ),
            "estimatesmartfee": m(
                self.estimatesmartfee,
                (p("conf_target", "int", req), p("estimate_mode", "str", opt)),
                "Fee rate estimate.",
            ),
            "gettxout": m(
                self.gettxout,
                (p("txid", "str", req), p("n", "int", req), p("include_mempool", "bool", opt)),
                "Unspent output.",
            ),
            "generatetoaddress": m(
                self.generatetoaddress,
                (p("nblocks", "int", req), p("address", "str", req), p("maxtries", "int", opt)),
                "Mine blocks to an address.",
            ),
            "generateblock": m(
                self.generateblock,
                (p("output", "str", req), p("transactions", "arr", req), p("submit", "bool", opt)),
                "Mine a block with the given transactions.",
            ),
            "gettxoutsetinfo": m(
                self.gettxoutsetinfo,
                (
                    p("hash_type", "str", opt),
                    p("hash_or_height", "any", opt),
                    p("use_index", "bool", opt),
                ),
                "UTXO set statistics.",
            ),
            "submitblock": m(
                self.submitblock,
                (p("hexdata", "str", req), p("dummy", "str", opt)),
                "Submit a block.",
            ),
            "uptime": m(lambda _a: int(time.time() - self.node.started), (), "Uptime."),
            "ping": m(lambda _a: None, (), "Ping."),
            "stop": m(self.stop, (p("wait", "int", opt),), "Stop the node."),
            "devnet_faucetaddress": m(
                lambda _a: self.node.faucet.address, (), "The faucet's address."
            ),
            "devnet_fund": m(
                self.devnet_fund,
                (p("address", "str", req), p("amount", "num|str", req), p("confirm", "bool", opt)),
                "Pay amount (BTC) from the faucet to address; mine a block when confirm.",
            ),
            "devnet_reorg": m(
                self.devnet_reorg,
                (
                    p("from_height", "int", req),
                    p("blocks", "int", opt),
                    p("rawtxs", "arr", opt),
                    p("address", "str", opt),
                ),
                "Replace blocks from from_height with a longer branch.",
            ),
        }

    def dispatch(self, name: str) -> RpcMethod | None:
        method = self.methods.get(name)
        if method is None:
            return None
        return RpcMethod(self._locked(method.func), method.params, method.summary)

    def _locked(self, func: Callable[[list[Any]], Any]) -> Callable[[list[Any]], Any]:
        def call(args: list[Any]) -> Any:
            with self.node.lock:
                return func(args)

        return call

    # -- helpers -----------------------------------------------------------

    @property
    def _kernel(self) -> Kernel:
        return self.node.kernel

    def _tip(self) -> tuple[int, bytes]:
        height = self.node.index.height
        tip = self.node.index.hash_at(height)
        assert tip is not None
        return height, tip

    def _script_for(self, address: str) -> bytes:
        try:
            return address_to_script(address)
        except AddressError:
            raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, "Error: Invalid address") from None

    def _header_json(self, block_hash: bytes) -> dict[str, Any]:
        status = self._kernel.status(block_hash)
        if status is None:
            raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, "Block not found")
        tip_height, _ = self._tip()
        header = status.header
        confirmations = tip_height - status.height + 1 if status.in_active_chain else -1
        block = self.node.block(block_hash)
        out: dict[str, Any] = {
            "hash": hash_to_hex(block_hash),
            "confirmations": confirmations,
            "height": status.height,
            "version": header.version,
            "versionHex": f"{header.version & 0xFFFFFFFF:08x}",
            "merkleroot": hash_to_hex(header.merkle_root),
            "time": header.time,
            "mediantime": self._kernel.median_time_past(status.height)
            if status.in_active_chain
            else header.time,
            "nonce": header.nonce,
            "bits": f"{header.bits:08x}",
            "target": f"{_TARGET:064x}",
            "difficulty": _DIFFICULTY,
            "chainwork": f"{Kernel.chainwork(status.height):064x}",
            "nTx": len(block.txs) if block is not None else 0,
        }
        if status.height > 0:
            out["previousblockhash"] = hash_to_hex(header.prev_hash)
        if status.in_active_chain and status.height < tip_height:
            out["nextblockhash"] = hash_to_hex(self._kernel.hash_at(status.height + 1))
        return out

    # -- blockchain ----------------------------------------------------------

    def getblockchaininfo(self, _args: list[Any]) -> dict[str, Any]:
        height, tip = self._tip()
        header = self._kernel.header_at(height)
        size = sum(
            f.stat().st_size for f in (self.node.datadir / "kernel").rglob("*") if f.is_file()
        )
        return {
            "chain": "regtest",
            "blocks": height,
            "headers": height,
            "bestblockhash": hash_to_hex(tip),
            "bits": f"{REGTEST_BITS:08x}",
            "target": f"{_TARGET:064x}",
            "difficulty": _DIFFICULTY,
            "time": header.time,
            "mediantime": self._kernel.median_time_past(height),
            "verificationprogress": 1,
            "initialblockdownload": False,
            "chainwork": f"{Kernel.chainwork(height):064x}",
            "size_on_disk": size,
            "pruned": False,
            "warnings": [],
        }

    def getnetworkinfo(self, _args: list[Any]) -> dict[str, Any]:
        return {
            "version": CLIENT_VERSION,
            "subversion": _SUBVERSION,
            "protocolversion": 70016,
            "localservices": "0000000000000c09",
            "localservicesnames": ["NETWORK", "WITNESS", "NETWORK_LIMITED", "P2P_V2"],
            "localrelay": True,
            "timeoffset": 0,
            "networkactive": True,
            "connections": 0,
            "connections_in": 0,
            "connections_out": 0,
            "networks": [],
            "relayfee": Amount(self.node.mempool.min_relay_fee),
            "incrementalfee": Amount(self.node.mempool.incremental_relay_fee),
            "localaddresses": [],
            "warnings": [],
        }

    def getindexinfo(self, args: list[Any]) -> dict[str, Any]:
        height = self.node.index.height
        info = {"synced": True, "best_block_height": height}
        indexes = {"txindex": dict(info), "txospenderindex": dict(info)}
        if args[0] is not None:
            return {args[0]: indexes[args[0]]} if args[0] in indexes else {}
        return indexes

    def getblockcount(self, _args: list[Any]) -> int:
        return self.node.index.height

    def getbestblockhash(self, _args: list[Any]) -> str:
        return hash_to_hex(self._tip()[1])

    def getblockhash(self, args: list[Any]) -> str:
        height = args[0]
        block_hash = (
            self.node.index.hash_at(height) if isinstance(height, int) and height >= 0 else None
        )
        if block_hash is None:
            raise RpcError(RPC_INVALID_PARAMETER, "Block height out of range")
        return hash_to_hex(block_hash)

    def getblockheader(self, args: list[Any]) -> Any:
        block_hash = _parse_hash(args[0], "hash")
        verbose = True if args[1] is None else args[1]
        if not verbose:
            status = self._kernel.status(block_hash)
            if status is None:
                raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, "Block not found")
            return status.header.serialize().hex()
        return self._header_json(block_hash)

    def getblock(self, args: list[Any]) -> Any:
        block_hash = _parse_hash(args[0], "blockhash")
        verbosity = 1 if args[1] is None else int(args[1])
        raw = self.node.block_bytes(block_hash)
        if raw is None:
            raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, "Block not found")
        if verbosity <= 0:
            return raw.hex()
        block = Block.parse(raw)
        out = self._header_json(block_hash)
        del out["nTx"]
        stripped = 80 + len(raw) - 80 - sum(t.size - len(t.stripped) for t in block.txs)
        out["nTx"] = len(block.txs)
        out["strippedsize"] = stripped
        out["size"] = len(raw)
        out["weight"] = stripped * 3 + len(raw)
        if verbosity == 1:
            out["tx"] = [t.txid_hex for t in block.txs]
        else:
            undo = self._kernel.spent_outputs(block_hash) or []
            txs = []
            for i, tx in enumerate(block.txs):
                spent = undo[i - 1] if i > 0 and i - 1 < len(undo) else None
                item = tx_to_json(tx, spent, verbosity)
                item["hex"] = tx.raw.hex()
                txs.append(item)
            out["tx"] = txs
        return out

    def getrawtransaction(self, args: list[Any]) -> Any:
        txid = _parse_hash(args[0], "parameter 1")
        verbosity = 0 if args[1] is None else int(args[1])
        block_hash = _parse_hash(args[2], "parameter 3") if args[2] is not None else None
        tx: Tx | None = None
        location_hash: bytes | None = None
        if block_hash is not None:
            block = self.node.block(block_hash)
            if block is None:
                raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, "Block hash not found")
            tx = next((t for t in block.txs if t.txid == txid), None)
            if tx is None:
                raise RpcError(
                    RPC_INVALID_ADDRESS_OR_KEY,
                    "No such transaction found in the provided block. "
                    "Use gettransaction for wallet transactions.",
                )
            location_hash = block_hash
        elif txid in self.node.mempool.entries:
            tx = self.node.mempool.entries[txid].tx
        else:
            loc = self.node.index.locate(txid)
            if loc is not None:
                block = self.node.block(loc.block_hash)
                if block is not None:
                    tx = block.txs[loc.pos]
                    location_hash = loc.block_hash
        if tx is None:
            raise RpcError(
                RPC_INVALID_ADDRESS_OR_KEY,
                "No such mempool or blockchain transaction. "
                "Use gettransaction for wallet transactions.",
            )
        if verbosity <= 0:
            return tx.raw.hex()
        spent = self._spent_coins(tx, location_hash) if verbosity >= 2 else None
        out = tx_to_json(tx, spent, 3 if spent is not None else 1)
        out["hex"] = tx.raw.hex()
        if location_hash is not None:
            out["blockhash"] = hash_to_hex(location_hash)
            status = self._kernel.status(location_hash)
            if status is not None and status.in_active_chain:
                out["confirmations"] = self.node.index.height - status.height + 1
                out["time"] = status.header.time
                out["blocktime"] = status.header.time
            else:
                out["in_active_chain"] = False
                out["confirmations"] = 0
        return out

    def _spent_coins(
        self, tx: Tx, block_hash: bytes | None
    ) -> list[tuple[int, bytes, int, bool]] | None:
        """What ``tx`` spent (for verbosity 2): the block's undo data, or the mempool's."""
        if tx.is_coinbase():
            return None
        if block_hash is None:
            entry = self.node.mempool.entries.get(tx.txid)
            if entry is None:
                return None
            return [(o.value, o.script_pubkey, -1, False) for o in entry.spent]
        block = self.node.block(block_hash)
        undo = self._kernel.spent_outputs(block_hash)
        if block is None or undo is None:
            return None
        pos = next(i for i, t in enumerate(block.txs) if t.txid == tx.txid)
        return undo[pos - 1]

    def decoderawtransaction(self, args: list[Any]) -> dict[str, Any]:
        return tx_to_json(_parse_tx(args[0]))

    # -- mempool -------------------------------------------------------------

    def _precheck_outputs(self, tx: Tx, max_burn: int) -> None:
        for out in tx.vout:
            if is_unspendable(out.script_pubkey) and out.value > max_burn:
                raise RpcError(
                    RPC_VERIFY_ERROR,
                    "Unspendable output exceeds maximum configured by user (maxburnamount)",
                )

    def sendrawtransaction(self, args: list[Any]) -> str:
        tx = _parse_tx(args[0], "TX decode failed. Make sure the tx has at least one input.")
        max_rate = _fee_rate_to_sat_per_kvb(args[1])
        self._precheck_outputs(tx, _amount_to_sats(args[2]) if args[2] is not None else 0)
        mempool = self.node.mempool
        if tx.txid in mempool.entries:
            return tx.txid_hex
        if self.node.index.has_outputs_of(tx.txid):
            raise RpcError(
                RPC_VERIFY_ALREADY_IN_UTXO_SET, "Transaction outputs already in utxo set"
            )
        try:
            accepted = mempool.check(tx)
            if max_rate and accepted.fee > fee_for(max_rate, tx.vsize):
                raise RpcError(
                    RPC_VERIFY_ERROR,
                    "Fee exceeds maximum configured by user (e.g. -maxtxfee, maxfeerate)",
                )
            mempool.add(tx)
        except Reject as exc:
            code = RPC_VERIFY_ERROR if exc.missing_inputs else RPC_VERIFY_REJECTED
            raise RpcError(code, str(exc)) from None
        return tx.txid_hex

    def testmempoolaccept(self, args: list[Any]) -> list[dict[str, Any]]:
        rawtxs = args[0]
        if not 1 <= len(rawtxs) <= _MAX_PACKAGE:
            raise RpcError(
                RPC_INVALID_PARAMETER,
                f"Array must contain between 1 and {_MAX_PACKAGE} transactions.",
            )
        txs = [_parse_tx(r, f"TX decode failed: {r}") for r in rawtxs]
        max_rate = _fee_rate_to_sat_per_kvb(args[1])
        mempool = self.node.mempool
        snapshot = mempool.snapshot()
        results: list[dict[str, Any]] = []
        try:
            for tx in txs:
                item: dict[str, Any] = {"txid": tx.txid_hex, "wtxid": hash_to_hex(tx.wtxid)}
                try:
                    accepted = mempool.check(tx)
                except Reject as exc:
                    item.update(
                        {"allowed": False, "reject-reason": exc.reason, "reject-details": str(exc)}
                    )
                    results.append(item)
                    continue
                if max_rate and accepted.fee > fee_for(max_rate, tx.vsize):
                    item.update({"allowed": False, "reject-reason": "max-fee-exceeded"})
                    results.append(item)
                    continue
                item.update(
                    {
                        "allowed": True,
                        "vsize": tx.vsize,
                        "fees": {
                            "base": Amount(accepted.fee),
                            "effective-feerate": Amount(accepted.fee * 1000 // tx.vsize),
                            "effective-includes": [hash_to_hex(tx.wtxid)],
                        },
                    }
                )
                results.append(item)
                if len(txs) > 1:
                    mempool.add(tx)  # later package members may spend it
        finally:
            mempool.restore(snapshot)
        return results

    def submitpackage(self, args: list[Any]) -> dict[str, Any]:
        rawtxs = args[0]
        if not 1 <= len(rawtxs) <= _MAX_PACKAGE:
            raise RpcError(
                RPC_INVALID_PARAMETER,
                f"Array must contain between 1 and {_MAX_PACKAGE} transactions.",
            )
        txs = [
            _parse_tx(r, f"TX decode failed: {r} Make sure the tx has at least one input.")
            for r in rawtxs
        ]
        max_burn = _amount_to_sats(args[2]) if args[2] is not None else 0
        for tx in txs:
            self._precheck_outputs(tx, max_burn)
        mempool = self.node.mempool
        snapshot = mempool.snapshot()
        results: dict[str, Any] = {}
        replaced: list[str] = []
        try:
            results, replaced = mempool.add_package(txs)
        except Reject as exc:
            mempool.restore(snapshot)
            return {
                "package_msg": "transaction failed",
                "tx-results": {
                    hash_to_hex(t.wtxid): {"txid": t.txid_hex, "error": str(exc)}
                    if getattr(exc, "tx", None) is t
                    else {"txid": t.txid_hex}
                    for t in txs
                },
                "replaced-transactions": [],
            }
        mempool.commit(snapshot)
        self.node.persist_mempool()
        return {
            "package_msg": "success",
            "tx-results": {
                wtxid: {
                    "txid": r["txid"],
                    "vsize": r["vsize"],
                    "fees": {
                        "base": Amount(r["fee"]),
                        "effective-feerate": Amount(r["rate"]),
                        "effective-includes": r["includes"],
                    },
                }
                for wtxid, r in results.items()
            },
            "replaced-transactions": replaced,
        }

    def _entry_json(self, txid: bytes, entry: MempoolEntry) -> dict[str, Any]:
        mempool = self.node.mempool
        ancestors = mempool.ancestors(txid)
        descendants = mempool.descendants(txid)
        anc = [mempool.entries[t] for t in ancestors]
        desc = [mempool.entries[t] for t in descendants]
        return {
            "vsize": entry.vsize,
            "weight": entry.tx.weight,
            "time": entry.time,
            "height": entry.height,
            "descendantcount": len(desc) + 1,
            "descendantsize": entry.vsize + sum(e.vsize for e in desc),
            "ancestorcount": len(anc) + 1,
            "ancestorsize": entry.vsize + sum(e.vsize for e in anc),
            "wtxid": hash_to_hex(entry.tx.wtxid),
            "fees": {
                "base": Amount(entry.fee),
                "modified": Amount(entry.fee),
                "ancestor": Amount(entry.fee + sum(e.fee for e in anc)),
                "descendant": Amount(entry.fee + sum(e.fee for e in desc)),
            },
            "depends": sorted(hash_to_hex(p) for p in entry.parents),
            "spentby": sorted(hash_to_hex(c) for c in entry.children),
            "bip125-replaceable": True,
            "unbroadcast": False,
        }

    def getrawmempool(self, args: list[Any]) -> Any:
        verbose, sequence = bool(args[0]), bool(args[1])
        mempool = self.node.mempool
        if verbose and sequence:
            raise RpcError(
                RPC_INVALID_PARAMETER,
                "Verbose results cannot contain mempool sequence values.",
            )
        if verbose:
            return {hash_to_hex(t): self._entry_json(t, e) for t, e in mempool.entries.items()}
        txids = [hash_to_hex(t) for t in mempool.entries]
        if sequence:
            return {"txids": txids, "mempool_sequence": mempool.sequence}
        return txids

    def getmempoolinfo(self, _args: list[Any]) -> dict[str, Any]:
        mempool = self.node.mempool
        entries = list(mempool.entries.values())
        return {
            "loaded": True,
            "size": len(entries),
            "bytes": sum(e.vsize for e in entries),
            "usage": sum(e.tx.size * 4 for e in entries),
            "total_fee": Amount(sum(e.fee for e in entries)),
            "maxmempool": 300_000_000,
            "mempoolminfee": Amount(mempool.min_relay_fee),
            "minrelaytxfee": Amount(mempool.min_relay_fee),
            "incrementalrelayfee": Amount(mempool.incremental_relay_fee),
            "unbroadcastcount": 0,
            "fullrbf": True,
            "permitbaremultisig": True,
            "maxdatacarriersize": 100_000,
        }

    def getmempoolentry(self, args: list[Any]) -> dict[str, Any]:
        txid = _parse_hash(args[0], "parameter 1")
        entry = self.node.mempool.entries.get(txid)
        if entry is None:
            raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, "Transaction not in mempool")
        return self._entry_json(txid, entry)

    def gettxspendingprevout(self, args: list[Any]) -> list[dict[str, Any]]:
        outputs = args[0]
        options = args[1] or {}
        for key in options:
            if key not in ("mempool_only", "return_spending_tx"):
                raise RpcError(RPC_TYPE_ERROR, f"Unexpected key {key}")
        mempool_only = bool(options.get("mempool_only", False))
        return_tx = bool(options.get("return_spending_tx", False))
        if not outputs:
            raise RpcError(RPC_INVALID_PARAMETER, "Invalid parameter, outputs are missing")
        results = []
        for item in outputs:
            if not isinstance(item, dict) or "txid" not in item or "vout" not in item:
                raise RpcError(RPC_TYPE_ERROR, "Missing txid or vout")
            if not isinstance(item["vout"], int) or item["vout"] < 0:
                raise RpcError(RPC_INVALID_PARAMETER, "Invalid parameter, vout cannot be negative")
            op = OutPoint(_parse_hash(item["txid"], "txid"), item["vout"])
            out: dict[str, Any] = {"txid": item["txid"], "vout": item["vout"]}
            spender = self.node.mempool.spender_of(op)
            spender_tx: Tx | None = None
            if spender is not None:
                out["spendingtxid"] = hash_to_hex(spender)
                spender_tx = self.node.mempool.entries[spender].tx
            elif not mempool_only:
                spend = self.node.index.spend_of(op)
                if spend is not None:
                    out["spendingtxid"] = hash_to_hex(spend.spender)
                    block_hash = self.node.index.hash_at(spend.height)
                    assert block_hash is not None
                    out["blockhash"] = hash_to_hex(block_hash)
                    if return_tx:
                        block = self.node.block(block_hash)
                        spender_tx = (
                            next((t for t in block.txs if t.txid == spend.spender), None)
                            if block is not None
                            else None
                        )
            if return_tx and spender_tx is not None:
                out["spendingtx"] = spender_tx.raw.hex()
            results.append(out)
        return results

    def estimatesmartfee(self, args: list[Any]) -> dict[str, Any]:
        target = args[0]
        if not 1 <= target <= 1008:
            raise RpcError(RPC_INVALID_PARAMETER, "Invalid conf_target, must be between 1 and 1008")
        mode = (args[1] or "unset").lower()
        if mode not in _ESTIMATE_MODES:
            raise RpcError(
                RPC_INVALID_PARAMETER,
                'Invalid estimate_mode parameter, must be one of: "unset", "economical", '
                '"conservative"',
            )
        rate = max(self.fee_rate, self.node.mempool.min_relay_fee)
        return {"feerate": Amount(rate), "blocks": max(target, 2) if target > 1 else 2}

    def gettxout(self, args: list[Any]) -> Any:
        txid = _parse_hash(args[0], "txid")
        n = args[1]
        include_mempool = True if args[2] is None else bool(args[2])
        if n < 0:
            raise RpcError(RPC_INVALID_PARAMETER, "Invalid parameter, vout cannot be negative")
        op = OutPoint(txid, n)
        coin = self.node.mempool.coin(op, include_mempool)
        if coin is None:
            return None
        height, tip = self._tip()
        return {
            "bestblock": hash_to_hex(tip),
            "confirmations": 0 if coin.height < 0 else height - coin.height + 1,
            "value": Amount(coin.out.value),
            "scriptPubKey": _script_json(coin.out.script_pubkey),
            "coinbase": coin.coinbase,
        }

    def gettxoutsetinfo(self, args: list[Any]) -> dict[str, Any]:
        if args[0] not in (None, "none"):
            raise RpcError(RPC_INVALID_PARAMETER, f"{args[0]} is not a valid hash_type")
        if args[1] is not None:
            raise RpcError(
                RPC_INVALID_PARAMETER, "Querying specific block heights requires coinstatsindex"
            )
        height, tip = self._tip()
        count, total = self.node.index.utxo_stats()
        return {
            "height": height,
            "bestblock": hash_to_hex(tip),
            "txouts": count,
            "total_amount": Amount(total),
        }

    # -- mining ----------------------------------------------------------------

    def generatetoaddress(self, args: list[Any]) -> list[str]:
        nblocks, address = args[0], args[1]
        script = self._script_for(address)
        if nblocks < 0:
            raise RpcError(RPC_INVALID_PARAMETER, "Invalid nblocks")
        try:
            hashes = self.node.generate(nblocks, script)
        except BlockRejected as exc:
            raise RpcError(
                RPC_MISC_ERROR, f"ProcessNewBlock, block not accepted: {exc.reason}"
            ) from None
        except NodeError as exc:  # stopping
            raise RpcError(RPC_MISC_ERROR, str(exc)) from None
        return [hash_to_hex(h) for h in hashes]

    def _output_script(self, output: str) -> bytes:
        text = output.split("#", 1)[0]
        if text.startswith("addr(") and text.endswith(")"):
            text = text[5:-1]
        elif text.startswith("raw(") and text.endswith(")"):
            try:
                return bytes.fromhex(text[4:-1])
            except ValueError:
                pass
        try:
            return address_to_script(text)
        except AddressError:
            raise RpcError(
                RPC_INVALID_ADDRESS_OR_KEY, "Error: Invalid address or descriptor"
            ) from None

    def generateblock(self, args: list[Any]) -> dict[str, Any]:
        script = self._output_script(args[0])
        submit = True if args[2] is None else bool(args[2])
        txs: list[Tx] = []
        for item in args[1]:
            if not isinstance(item, str):
                raise RpcError(RPC_TYPE_ERROR, "Expected string")
            if len(item) == 64:
                try:
                    txid = hex_to_hash(item)
                except ValueError:
                    txid = b""
                entry = self.node.mempool.entries.get(txid)
                if entry is None:
                    raise RpcError(
                        RPC_INVALID_ADDRESS_OR_KEY, f"Transaction {item} not in mempool."
                    )
                txs.append(entry.tx)
            else:
                txs.append(_parse_tx(item, f"Transaction decode failed for {item}"))
        if not submit:
            block = self.node.build_block_on_tip(script, txs)
            return {"hash": hash_to_hex(block.header.hash), "hex": block.serialize().hex()}
        try:
            block_hash = self.node.generate_block(script, txs)
        except BlockRejected as exc:
            raise RpcError(RPC_VERIFY_ERROR, f"TestBlockValidity failed: {exc.reason}") from None
        return {"hash": hash_to_hex(block_hash)}

    def submitblock(self, args: list[Any]) -> str | None:
        try:
            raw = bytes.fromhex(args[0])
            block = Block.parse(raw)
        except (ValueError, DecodeError):
            raise RpcError(RPC_DESERIALIZATION_ERROR, "Block decode failed") from None
        if not block.txs or not block.txs[0].is_coinbase():
            raise RpcError(RPC_DESERIALIZATION_ERROR, "Block does not start with a coinbase")
        if self._kernel.status(block.header.hash) is not None:
            status = self._kernel.status(block.header.hash)
            if status is not None and status.in_active_chain:
                return "duplicate"
        result = self.node.submit_block(raw)
        if not result.accepted:
            return result.reason
        return None if result.new else "duplicate"

    def stop(self, _args: list[Any]) -> str:
        if self._on_stop is not None:
            threading.Thread(target=self._on_stop, daemon=True).start()
        return "Bitcoin Core stopping"

    # -- devnet --------------------------------------------------------------

    def devnet_fund(self, args: list[Any]) -> dict[str, Any]:
        script = self._script_for(args[0])
        amount = _amount_to_sats(args[1])
        try:
            tx = self.node.fund(script, amount)
        except NodeError as exc:
            raise RpcError(RPC_MISC_ERROR, str(exc)) from None
        except Reject as exc:
            raise RpcError(RPC_VERIFY_REJECTED, str(exc)) from None
        out: dict[str, Any] = {"txid": tx.txid_hex, "vout": 0, "hex": tx.raw.hex()}
        if args[2]:
            out["blockhash"] = hash_to_hex(self.node.generate(1, self.node.faucet.script)[0])
        return out

    def devnet_reorg(self, args: list[Any]) -> dict[str, Any]:
        txs = [_parse_tx(r) for r in (args[2] or [])]
        script = self._script_for(args[3]) if args[3] else self.node.faucet.script
        old_tip = self._tip()[1]
        try:
            hashes = self.node.reorg(args[0], args[1], script, txs)
        except BlockRejected as exc:
            raise RpcError(RPC_VERIFY_ERROR, f"branch block rejected: {exc.reason}") from None
        except NodeError as exc:
            raise RpcError(RPC_INVALID_PARAMETER, str(exc)) from None
        return {
            "old_tip": hash_to_hex(old_tip),
            "new_tip": hash_to_hex(self._tip()[1]),
            "blocks": [hash_to_hex(h) for h in hashes],
        }
