"""The mempool: Core's acceptance rules (MemPoolAccept) over our UTXO index.

Every input's script is verified by libbitcoinkernel with all spent outputs
(so taproot sighashes are exact). Policy follows Bitcoin Core 31's defaults
(``policy.py``); the reject reasons are Core's strings. Replacement is full-RBF
with BIP-125 rules 2-5 (Core's ReplacementChecks before the feerate-diagram
check). The mempool is not thread-safe: the node serialises calls.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import pbk  # type: ignore[import-untyped]
from pbk.script import PrecomputedTransactionData  # type: ignore[import-untyped]

from tentenone_devnet.codec import Block, OutPoint, Tx, TxOut, hash_to_hex
from tentenone_devnet.index import ChainIndex, Coin
from tentenone_devnet.kernel import Kernel
from tentenone_devnet.policy import (
    COINBASE_MATURITY,
    DEFAULT_ANCESTOR_LIMIT,
    DEFAULT_DESCENDANT_LIMIT,
    DEFAULT_INCREMENTAL_RELAY_FEE,
    DEFAULT_MIN_RELAY_FEE,
    MAX_MONEY,
    MAX_REPLACEMENT_CANDIDATES,
    Reject,
    check_standard,
    check_transaction,
    count_dust,
    fee_for,
    format_fee_rate,
    format_money,
)
from tentenone_devnet.script_errors import explain
from tentenone_devnet.scripts import ScriptType, classify

__all__ = ["Accepted", "Mempool", "MempoolEntry"]

_SCRIPT_FLAGS = pbk.ScriptVerificationFlags.ALL
_SEQUENCE_FINAL = 0xFFFFFFFF
_SEQ_DISABLE = 1 << 31
_SEQ_TYPE_TIME = 1 << 22
_SEQ_MASK = 0xFFFF
_LOCKTIME_THRESHOLD = 500_000_000
#: DEFAULT_ANCESTOR_SIZE_LIMIT_KVB / DEFAULT_DESCENDANT_SIZE_LIMIT_KVB, in vbytes
_CHAIN_SIZE_LIMIT = 101_000
# TRUC (BIP 431), src/policy/truc_policy.h
_TRUC_VERSION = 3
_TRUC_ANCESTOR_LIMIT = 2
_TRUC_MAX_VSIZE = 10_000
_TRUC_CHILD_MAX_VSIZE = 1_000


@dataclass
class MempoolEntry:
    tx: Tx
    fee: int
    time: int
    height: int
    spent: list[TxOut]
    parents: set[bytes] = field(default_factory=set)
    children: set[bytes] = field(default_factory=set)

    @property
    def vsize(self) -> int:
        return self.tx.vsize


@dataclass(frozen=True, slots=True)
class Accepted:
    """Outcome of a successful check: what ``add`` would insert and evict."""

    tx: Tx
    fee: int
    spent: list[TxOut]
    parents: frozenset[bytes]
    replaced: frozenset[bytes]


#: notified with (tx, time) when a tx enters and with (txid, reason) when one leaves
AddListener = Callable[[Tx, int], None]
RemoveListener = Callable[[bytes, str], None]


class Mempool:
    def __init__(self, index: ChainIndex, kernel: Kernel) -> None:
        self._index = index
        self._kernel = kernel
        self.entries: dict[bytes, MempoolEntry] = {}
        self._by_wtxid: dict[bytes, bytes] = {}
        self._spenders: dict[OutPoint, bytes] = {}
        self.on_add: AddListener | None = None
        self.on_remove: RemoveListener | None = None
        self.sequence = 0
        self.min_relay_fee = DEFAULT_MIN_RELAY_FEE
        self.incremental_relay_fee = DEFAULT_INCREMENTAL_RELAY_FEE

    # -- queries ---------------------------------------------------------------

    def __contains__(self, txid: object) -> bool:
        return txid in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def spender_of(self, outpoint: OutPoint) -> bytes | None:
        return self._spenders.get(outpoint)

    def ancestors(self, txid: bytes) -> set[bytes]:
        return self._walk(self.entries[txid].parents, lambda e: e.parents)

    def descendants(self, txid: bytes) -> set[bytes]:
        return self._walk(self.entries[txid].children, lambda e: e.children)

    def _walk(
        self, start: Iterable[bytes], step: Callable[[MempoolEntry], set[bytes]]
    ) -> set[bytes]:
        seen: set[bytes] = set()
        todo = list(start)
        while todo:
            txid = todo.pop()
            if txid in seen:
                continue
            seen.add(txid)
            todo.extend(step(self.entries[txid]))
        return seen

    def coin(self, outpoint: OutPoint, include_mempool: bool = True) -> Coin | None:
        """The unspent output as the mempool sees it (mempool outputs at height -1)."""
        if include_mempool:
            if outpoint in self._spenders:
                return None
            parent = self.entries.get(outpoint.txid)
            if parent is not None:
                if outpoint.n >= len(parent.tx.vout):
                    return None
                return Coin(parent.tx.vout[outpoint.n], -1, False)
        return self._index.coin(outpoint)

    # -- acceptance --------------------------------------------------------------

    def check(self, tx: Tx, *, bypass_limits: bool = False) -> Accepted:
        """MemPoolAccept's checks; raises Reject with Core's reason. Changes nothing."""
        check_transaction(tx)
        if tx.is_coinbase():
            raise Reject("coinbase")
        check_standard(tx)
        tip = self._index.height
        mtp = self._kernel.median_time_past(tip)
        if not _is_final(tx, tip + 1, mtp):
            raise Reject("non-final")
        txid = tx.txid
        if tx.wtxid in self._by_wtxid:
            raise Reject("txn-already-in-mempool")
        if txid in self.entries:
            raise Reject("txn-same-nonwitness-data-in-mempool")
        conflicts = {s for i in tx.vin if (s := self._spenders.get(i.prevout)) is not None}
        spent, parents = self._fetch_inputs(tx)
        self._check_sequence_locks(tx, spent, tip, mtp)
        fee = self._check_inputs(tx, spent, tip)
        self._check_inputs_standard(spent)
        if count_dust(tx) and fee != 0:
            raise Reject("dust", "tx with dust output must be 0-fee")
        if not bypass_limits:
            self._check_fee_rate(tx, fee)
        ancestors = self._walk(parents, lambda e: e.parents)
        self._truc_checks(tx, parents, ancestors, conflicts)
        if not bypass_limits:
            self._check_package_limits(ancestors, tx)
        replaced: set[bytes] = set()
        if conflicts:
            replaced = self._replacement_checks(tx, fee, conflicts, ancestors, spent)
        self._verify_scripts(tx, [c.out for c in spent])
        return Accepted(tx, fee, [c.out for c in spent], frozenset(parents), frozenset(replaced))

    def add(
        self, tx: Tx, *, bypass_limits: bool = False, entry_time: int | None = None
    ) -> Accepted:
        accepted = self.check(tx, bypass_limits=bypass_limits)
        for txid in accepted.replaced:
            self._remove_one(txid, "replaced")
        when = int(time.time()) if entry_time is None else entry_time
        entry = MempoolEntry(
            tx, accepted.fee, when, self._index.height, accepted.spent, set(accepted.parents)
        )
        txid = tx.txid
        self.entries[txid] = entry
        self._by_wtxid[tx.wtxid] = txid
        for txin in tx.vin:
            self._spenders[txin.prevout] = txid
        for parent in entry.parents:
            self.entries[parent].children.add(txid)
        self.sequence += 1
        if self.on_add is not None:
            self.on_add(tx, when)
        return accepted

    def _fetch_inputs(self, tx: Tx) -> tuple[list[Coin], set[bytes]]:
        spent: list[Coin] = []
        parents: set[bytes] = set()
        for txin in tx.vin:
            op = txin.prevout
            parent = self.entries.get(op.txid)
            if parent is not None and op.n < len(parent.tx.vout):
                spent.append(Coin(parent.tx.vout[op.n], -1, False))
                parents.add(op.txid)
                continue
            coin = self._index.coin(op)
            if coin is None:
                # Core: outputs of this tx already in the UTXO set means it is confirmed.
                if self._index.has_outputs_of(tx.txid):
                    raise Reject("txn-already-known")
                raise Reject("bad-txns-inputs-missingorspent", missing_inputs=True)
            spent.append(coin)
        return spent, parents

    def _check_sequence_locks(self, tx: Tx, spent: list[Coin], tip: int, mtp: int) -> None:
        """BIP68 (CalculateSequenceLocks / EvaluateSequenceLocks) for the next block."""
        if tx.version < 2:
            return
        min_height = min_time = -1
        for txin, coin in zip(tx.vin, spent, strict=True):
            seq = txin.sequence
            if seq & _SEQ_DISABLE:
                continue
            coin_height = tip + 1 if coin.height < 0 else coin.height
            if seq & _SEQ_TYPE_TIME:
                coin_time = self._kernel.median_time_past(max(coin_height - 1, 0))
                min_time = max(min_time, coin_time + ((seq & _SEQ_MASK) << 9) - 1)
            else:
                min_height = max(min_height, coin_height + (seq & _SEQ_MASK) - 1)
        if min_height >= tip + 1 or min_time >= mtp:
            raise Reject("non-BIP68-final")

    def _check_inputs(self, tx: Tx, spent: list[Coin], tip: int) -> int:
        """Consensus::CheckTxInputs: maturity, value ranges; returns the fee."""
        value_in = 0
        for coin in spent:
            if coin.coinbase and tip + 1 - coin.height < COINBASE_MATURITY:
                raise Reject(
                    "bad-txns-premature-spend-of-coinbase",
                    f"tried to spend coinbase at depth {tip + 1 - coin.height}",
                )
            value_in += coin.out.value
            if not 0 <= coin.out.value <= MAX_MONEY or value_in > MAX_MONEY:
                raise Reject("bad-txns-inputvalues-outofrange")
        value_out = sum(out.value for out in tx.vout)
        if value_in < value_out:
            raise Reject(
                "bad-txns-in-belowout",
                f"value in ({format_money(value_in)}) < value out ({format_money(value_out)})",
            )
        return value_in - value_out

    @staticmethod
    def _check_inputs_standard(spent: list[Coin]) -> None:
        """AreInputsStandard, for the prevout types (not P2SH sigop counts)."""
        for coin in spent:
            if classify(coin.out.script_pubkey) is ScriptType.NONSTANDARD:
                raise Reject("bad-txns-nonstandard-inputs", "input 0: nonstandard")

    def _check_fee_rate(self, tx: Tx, fee: int) -> None:
        need = fee_for(self.min_relay_fee, tx.vsize)
        if fee < need:
            raise Reject("min relay fee not met", f"{fee} < {need}")

    def _check_package_limits(self, ancestors: set[bytes], tx: Tx) -> None:
        """Core's ancestor/descendant count and size limits (25 txs, 101 kvB)."""
        if len(ancestors) + 1 > DEFAULT_ANCESTOR_LIMIT:
            raise Reject(
                "too-long-mempool-chain",
                f"too many unconfirmed ancestors [limit: {DEFAULT_ANCESTOR_LIMIT}]",
            )
        if tx.vsize + sum(self.entries[a].vsize for a in ancestors) > _CHAIN_SIZE_LIMIT:
            raise Reject(
                "too-long-mempool-chain",
                f"exceeds ancestor size limit [limit: {_CHAIN_SIZE_LIMIT}]",
            )
        for anc in ancestors:
            descendants = self.descendants(anc)
            if len(descendants) + 2 > DEFAULT_DESCENDANT_LIMIT:
                raise Reject(
                    "too-long-mempool-chain",
                    f"too many descendants for tx {hash_to_hex(anc)} "
                    f"[limit: {DEFAULT_DESCENDANT_LIMIT}]",
                )
            size = self.entries[anc].vsize + sum(self.entries[d].vsize for d in descendants)
            if size + tx.vsize > _CHAIN_SIZE_LIMIT:
                raise Reject(
                    "too-long-mempool-chain",
                    f"exceeds descendant size limit for tx {hash_to_hex(anc)} "
                    f"[limit: {_CHAIN_SIZE_LIMIT}]",
                )

    def _truc_checks(
        self, tx: Tx, parents: set[bytes], ancestors: set[bytes], conflicts: set[bytes]
    ) -> None:
        """SingleTRUCChecks (BIP 431 topology for version=3 txs), without sibling eviction."""
        ident = f"{tx.txid_hex} (wtxid={hash_to_hex(tx.wtxid)})"

        def named(txid: bytes) -> str:
            return f"{hash_to_hex(txid)} (wtxid={hash_to_hex(self.entries[txid].tx.wtxid)})"

        if tx.version != _TRUC_VERSION:
            for anc in sorted(ancestors):
                if self.entries[anc].tx.version == _TRUC_VERSION:
                    raise Reject(
                        "TRUC-violation",
                        f"non-version=3 tx {ident} cannot spend from version=3 tx {named(anc)}",
                    )
            return
        if tx.vsize > _TRUC_MAX_VSIZE:
            raise Reject(
                "TRUC-violation",
                f"version=3 tx {ident} is too big: {tx.vsize} > {_TRUC_MAX_VSIZE} virtual bytes",
            )
        if len(ancestors) + 1 > _TRUC_ANCESTOR_LIMIT:
            raise Reject("TRUC-violation", f"tx {ident} would have too many ancestors")
        for parent in parents:
            if self.entries[parent].tx.version != _TRUC_VERSION:
                raise Reject(
                    "TRUC-violation",
                    f"version=3 tx {ident} cannot spend from non-version=3 tx {named(parent)}",
                )
            if tx.vsize > _TRUC_CHILD_MAX_VSIZE:
                raise Reject(
                    "TRUC-violation",
                    f"version=3 child tx {ident} is too big: {tx.vsize} > "
                    f"{_TRUC_CHILD_MAX_VSIZE} virtual bytes",
                )
            siblings = self.entries[parent].children - conflicts
            if siblings:
                raise Reject("TRUC-violation", f"tx {ident} would exceed descendant count limit")

    def _replacement_checks(
        self,
        tx: Tx,
        fee: int,
        conflicts: set[bytes],
        ancestors: set[bytes],
        spent: list[Coin],
    ) -> set[bytes]:
        """BIP-125 rules as in Core's policy/rbf.cpp (full RBF: no signalling needed)."""
        txid_hex = tx.txid_hex
        for anc in ancestors:
            if anc in conflicts:
                raise Reject(
                    "bad-txns-spends-conflicting-tx",
                    f"{txid_hex} spends conflicting transaction {hash_to_hex(anc)}",
                )
        replaced = set(conflicts)
        for c in conflicts:
            replaced |= self.descendants(c)
        if len(replaced) > MAX_REPLACEMENT_CANDIDATES:
            raise Reject(
                "too many potential replacements",
                f"rejecting replacement {txid_hex}; too many potential replacements "
                f"({len(replaced)} > {MAX_REPLACEMENT_CANDIDATES})",
            )
        # Rule 2: no new unconfirmed inputs.
        conflict_parents: set[bytes] = set()
        for c in conflicts:
            conflict_parents |= self.entries[c].parents
        for i, (txin, coin) in enumerate(zip(tx.vin, spent, strict=True)):
            if coin.height < 0 and txin.prevout.txid not in conflict_parents:
                raise Reject(
                    "replacement-adds-unconfirmed",
                    f"replacement {txid_hex} adds unconfirmed input, idx {i}",
                )
        # Rule 6 (feerate above each direct conflict), then rules 3 and 4.
        new_rate = fee * 1000 // tx.vsize
        for c in conflicts:
            entry = self.entries[c]
            old_rate = entry.fee * 1000 // entry.vsize
            if new_rate <= old_rate:
                raise Reject(
                    "insufficient fee",
                    f"rejecting replacement {txid_hex}; new feerate "
                    f"{format_fee_rate(new_rate)} <= old feerate {format_fee_rate(old_rate)}",
                )
        replaced_fees = sum(self.entries[t].fee for t in replaced)
        if fee < replaced_fees:
            raise Reject(
                "insufficient fee",
                f"rejecting replacement {txid_hex}, less fees than conflicting txs; "
                f"{format_money(fee)} < {format_money(replaced_fees)}",
            )
        relay_fee = fee_for(self.incremental_relay_fee, tx.vsize)
        if fee - replaced_fees < relay_fee:
            raise Reject(
                "insufficient fee",
                f"rejecting replacement {txid_hex}, not enough additional fees to relay; "
                f"{format_money(fee - replaced_fees)} < {format_money(relay_fee)}",
            )
        return replaced

    @staticmethod
    def _verify_scripts(tx: Tx, spent: list[TxOut]) -> None:
        """Every input through libbitcoinkernel, with all spent outputs (taproot)."""
        ktx = pbk.Transaction(tx.raw)
        outputs = [pbk.TransactionOutput(pbk.ScriptPubkey(o.script_pubkey), o.value) for o in spent]
        precomputed = PrecomputedTransactionData(ktx, outputs)
        for i, out in enumerate(outputs):
            try:
                ok = out.script_pubkey.verify(spent[i].value, ktx, precomputed, i, _SCRIPT_FLAGS)
            except pbk.ScriptVerifyException:
                ok = False
            if not ok:
                # Core: "mempool-script-verify-flag-failed (%s)" with ScriptErrorString.
                reason = explain(spent[i].script_pubkey, tx.vin[i])
                raise Reject(f"mempool-script-verify-flag-failed ({reason})", f"input {i}")

    # -- removal ---------------------------------------------------------------

    def _remove_one(self, txid: bytes, reason: str) -> None:
        """Remove ``txid`` and everything that spends it."""
        for t in [txid, *self.descendants(txid)]:
            entry = self.entries.pop(t, None)
            if entry is None:
                continue
            self._by_wtxid.pop(entry.tx.wtxid, None)
            for txin in entry.tx.vin:
                if self._spenders.get(txin.prevout) == t:
                    del self._spenders[txin.prevout]
            for parent in entry.parents:
                if parent in self.entries:
                    self.entries[parent].children.discard(t)
            for child in entry.children:
                if child in self.entries:
                    self.entries[child].parents.discard(t)
            self.sequence += 1
            if self.on_remove is not None:
                self.on_remove(t, reason)

    def remove(self, txid: bytes, reason: str) -> None:
        if txid in self.entries:
            self._remove_one(txid, reason)

    def block_connected(self, block: Block) -> None:
        """Drop what the block confirms, then what conflicts with it (removeForBlock)."""
        for tx in block.txs[1:]:
            entry = self.entries.pop(tx.txid, None)
            if entry is not None:
                self._by_wtxid.pop(entry.tx.wtxid, None)
                for txin in tx.vin:
                    self._spenders.pop(txin.prevout, None)
                for child in entry.children:
                    self.entries[child].parents.discard(tx.txid)
                self.sequence += 1
                if self.on_remove is not None:
                    self.on_remove(tx.txid, "block")
        for tx in block.txs[1:]:
            for txin in tx.vin:
                other = self._spenders.get(txin.prevout)
                if other is not None and other != tx.txid:
                    self._remove_one(other, "conflict")

    def rebuild(self, first: list[Tx]) -> list[tuple[bytes, str]]:
        """Re-accept ``first`` (disconnected txs) then the current entries, after a reorg.

        Like Core's MaybeUpdateMempoolForReorg: limits are bypassed, anything
        now invalid (conflicting, immature, non-final, missing inputs) is dropped.
        Returns the dropped (txid, reason) pairs.
        """
        old = [(e.tx, e.time) for e in self.entries.values()]
        for txid in list(self.entries):
            self._remove_one(txid, "reorg")
        dropped: list[tuple[bytes, str]] = []
        now = int(time.time())
        for tx, when in [(t, now) for t in first] + old:
            if tx.txid in self.entries:
                continue
            try:
                self.add(tx, bypass_limits=True, entry_time=when)
            except Reject as exc:
                dropped.append((tx.txid, str(exc)))
        return dropped

    # -- trial runs and packages ---------------------------------------------------

    def snapshot(self) -> _Snapshot:
        """Save the state and detach the listeners, for a trial that may be undone."""
        snap = _Snapshot(
            {
                t: replace(e, parents=set(e.parents), children=set(e.children))
                for t, e in self.entries.items()
            },
            dict(self._by_wtxid),
            dict(self._spenders),
            self.sequence,
            self.on_add,
            self.on_remove,
        )
        self.on_add = None
        self.on_remove = None
        return snap

    def restore(self, snap: _Snapshot) -> None:
        self.entries = snap.entries
        self._by_wtxid = snap.by_wtxid
        self._spenders = snap.spenders
        self.sequence = snap.sequence
        self.commit(snap)

    def commit(self, snap: _Snapshot) -> None:
        """Keep the trial's changes; the caller persists them (listeners saw nothing)."""
        self.on_add = snap.on_add
        self.on_remove = snap.on_remove

    def add_package(self, txs: list[Tx]) -> tuple[dict[str, dict[str, Any]], list[str]]:
        """Add ``txs`` in order; members below the min relay fee count at the package rate.

        Must run between ``snapshot`` and ``commit``/``restore``: a failure leaves
        the earlier members in. Raises Reject with ``tx`` set to the failing member.
        """
        results: dict[str, dict[str, Any]] = {}
        replaced: list[str] = []
        deferred: list[Tx] = []
        for tx in txs:
            if tx.txid in self.entries:
                fee = self.entries[tx.txid].fee
            else:
                try:
                    try:
                        accepted = self.add(tx)
                    except Reject as exc:
                        if exc.reason != "min relay fee not met":
                            raise
                        accepted = self.add(tx, bypass_limits=True)
                        deferred.append(tx)
                except Reject as exc:
                    exc.tx = tx
                    raise
                fee = accepted.fee
                replaced += [hash_to_hex(t) for t in accepted.replaced]
            results[hash_to_hex(tx.wtxid)] = {
                "txid": tx.txid_hex,
                "vsize": tx.vsize,
                "fee": fee,
                "rate": fee * 1000 // tx.vsize,
                "includes": [hash_to_hex(tx.wtxid)],
            }
        if deferred:
            total_fee = sum(r["fee"] for r in results.values())
            total_vsize = sum(r["vsize"] for r in results.values())
            need = fee_for(self.min_relay_fee, total_vsize)
            if total_fee < need:
                too_low = Reject("package-fee-too-low", f"{total_fee} < {need}")
                too_low.tx = deferred[0]
                raise too_low
            for r in results.values():
                r["rate"] = total_fee * 1000 // total_vsize
                r["includes"] = list(results)
        return results, replaced

    # -- mining ------------------------------------------------------------------

    def block_template(self, max_weight: int) -> list[MempoolEntry]:
        """Entries in an order where parents precede children, within ``max_weight``."""
        chosen: list[MempoolEntry] = []
        taken: set[bytes] = set()
        weight = 0
        for txid, entry in self.entries.items():
            if not entry.parents <= taken or weight + entry.tx.weight > max_weight:
                continue
            chosen.append(entry)
            taken.add(txid)
            weight += entry.tx.weight
        return chosen


@dataclass
class _Snapshot:
    entries: dict[bytes, MempoolEntry]
    by_wtxid: dict[bytes, bytes]
    spenders: dict[OutPoint, bytes]
    sequence: int
    on_add: AddListener | None
    on_remove: RemoveListener | None


def _is_final(tx: Tx, height: int, mtp: int) -> bool:
    """IsFinalTx for a tx in the next block."""
    if tx.locktime == 0:
        return True
    limit = height if tx.locktime < _LOCKTIME_THRESHOLD else mtp
    if tx.locktime < limit:
        return True
    return all(txin.sequence == _SEQUENCE_FINAL for txin in tx.vin)
