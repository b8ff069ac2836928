"""The wallet: addresses with a gap limit, UTXOs tracked through a ``ChainSource``, spending.

State changes are serialised by one lock and saved before anything leaves
the process: a signed transaction is stored (as not yet seen) before it is
broadcast, and broadcast again on the next sync if the broadcast was lost.
The server's script histories are the truth for what is on chain; a
transaction we had seen that no history lists any more (replaced, or
reorganised out) is forgotten, its coins become spendable again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from tentenone.chain.errors import BroadcastRejected
from tentenone.chain.source import (
    ChainEvent,
    ChainSource,
    HistoryItem,
    OutPoint,
    Reorg,
    ScriptChanged,
    ServerSwitched,
    script_hash,
)
from tentenone.errors import TentenoneError
from tentenone.logging import get_logger
from tentenone.wallet._embit import script as _script
from tentenone.wallet._embit import transaction
from tentenone.wallet.addresses import address_to_script, dust_limit, script_to_address
from tentenone.wallet.coin_selection import Candidate, fee_for_weight, select_coins
from tentenone.wallet.descriptors import CHANGE, RECEIVE, DerivedScript, WalletAccount
from tentenone.wallet.errors import (
    CannotBumpFee,
    InsufficientFunds,
    InvalidWalletInput,
    SigningError,
    UnknownTransaction,
)
from tentenone.wallet.persist import StoredTx, WalletPersister, WalletState
from tentenone.wallet.psbt import (
    RBF_SEQUENCE,
    PsbtInput,
    create_psbt,
    extract_transaction,
    psbt_inputs,
    sign_inputs,
)

__all__ = ["Balance", "FundingCoin", "Wallet", "WalletUtxo", "tx_weight"]

_log = get_logger(__name__)
_COINBASE_MATURITY = 100
#: BIP-125 rule 4 at Bitcoin Core's default incremental relay fee, sat per 1000 vbytes.
_INCREMENTAL_RELAY_KVB = 1000
_TX_OVERHEAD_WEIGHT = 4 * (4 + 4 + 1 + 1) + 2


@dataclass(frozen=True, slots=True)
class Balance:
    confirmed: int
    unconfirmed: int
    immature: int = 0
    locked: int = 0

    @property
    def total(self) -> int:
        return self.confirmed + self.unconfirmed + self.immature


@dataclass(frozen=True, slots=True)
class WalletUtxo:
    outpoint: OutPoint
    value: int
    derived: DerivedScript
    height: int | None
    coinbase: bool
    own_unconfirmed: bool
    """Unconfirmed, but made by us from our own coins (safe to spend further)."""


@dataclass(frozen=True, slots=True)
class FundingCoin:
    """A coin handed to the DLC code for a funding transaction (dlcspecs ``funding_input``)."""

    outpoint: OutPoint
    value: int
    script: bytes
    prev_tx: bytes
    max_witness_len: int
    sequence: int
    input_weight: int


def tx_weight(raw: bytes) -> int:
    tx = transaction.Transaction.parse(raw)
    for vin in tx.vin:
        vin.witness = _script.Witness([])
    return len(tx.serialize()) * 3 + len(raw)


def _output_weight(spk: bytes) -> int:
    return 4 * (8 + 1 + len(spk))


class Wallet:
    """One account's wallet. ``start()`` syncs and then follows the chain source's events."""

    def __init__(
        self,
        account: WalletAccount,
        chain: ChainSource,
        persister: WalletPersister,
        *,
        gap_limit: int = 20,
    ) -> None:
        if chain.network != account.network:
            raise InvalidWalletInput(
                f"account is on {account.network.value}, chain source on {chain.network.value}"
            )
        if not 1 <= gap_limit <= 1000:
            raise InvalidWalletInput(f"gap limit must be 1..1000, got {gap_limit}")
        self.account = account
        self.network = account.network
        self._chain = chain
        self._persister = persister
        self._gap = gap_limit
        self._lock = asyncio.Lock()
        self._state = WalletState(descriptor=account.descriptor())
        self._derived: dict[int, list[DerivedScript]] = {RECEIVE: [], CHANGE: []}
        self._by_script: dict[bytes, DerivedScript] = {}
        self._by_hash: dict[str, DerivedScript] = {}
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._branch_locks = {RECEIVE: asyncio.Lock(), CHANGE: asyncio.Lock()}
        self._script_locks: dict[str, asyncio.Lock] = {}
        self._changed = asyncio.Condition()
        self.tip_height = 0

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Load the saved state, sync every script with the chain, then follow its events."""
        loaded = await self._persister.load()
        if loaded is not None:
            if loaded.descriptor != self._state.descriptor:
                raise InvalidWalletInput("saved wallet state belongs to another account")
            self._state = loaded
        stream = self._chain.events()
        await self.sync()
        self._task = asyncio.create_task(self._follow(stream), name="wallet-follow")

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def wait_changed(self, within_s: float) -> None:
        """Return when the wallet's view changes next; ``TimeoutError`` after ``within_s``."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait(), within_s)

    async def _follow(self, stream: AsyncIterator[ChainEvent]) -> None:
        async for event in stream:
            if isinstance(event, ScriptChanged):
                self._spawn(self._refresh(script_hash(event.script)))
            elif isinstance(event, Reorg):
                self._spawn(self._after_reorg(event))
            elif isinstance(event, ServerSwitched):
                # A broadcast lost with the old server goes out again through the new one.
                self._spawn(self._rebroadcast())
            else:
                self.tip_height = (await self._chain.tip()).height
                await self._notify()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` beside the event loop; scripts refresh in parallel, each in order."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if isinstance(exc, TentenoneError):
            # ChainUnavailable and friends: the next event or sync() catches up.
            _log.warning("wallet refresh failed", extra={"code": exc.code, "reason": exc.message})
        elif exc is not None:
            _log.error("wallet refresh crashed", exc_info=exc)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # -- sync ------------------------------------------------------------------------

    async def sync(self) -> None:
        """Bring every script up to date (extending past the gap limit) and rebroadcast."""
        self.tip_height = (await self._chain.tip()).height
        await asyncio.gather(self._extend(RECEIVE), self._extend(CHANGE))
        await self._rebroadcast()
        await self._notify()

    async def _extend(self, branch: int) -> None:
        """Derive and subscribe scripts until ``gap_limit`` unused ones follow the last used."""
        async with self._branch_locks[branch]:
            while True:
                scripts = self._derived[branch]
                used = [
                    d.index for d in scripts if self._state.histories.get(script_hash(d.script))
                ]
                wanted = max(used[-1] + 1 if used else 0, self._state.issued.get(branch, 0))
                wanted += self._gap
                if len(scripts) >= wanted:
                    return
                new = [self.account.derive(branch, i) for i in range(len(scripts), wanted)]
                for derived in new:
                    scripts.append(derived)
                    self._by_script[derived.script] = derived
                    self._by_hash[script_hash(derived.script)] = derived
                statuses = await asyncio.gather(
                    *(self._chain.subscribe_script(d.script) for d in new)
                )
                changed = []
                for derived, status in zip(new, statuses, strict=True):
                    sh = script_hash(derived.script)
                    known = self._state.statuses.get(sh)
                    if status != known or (status and sh not in self._state.histories):
                        changed.append(sh)
                await asyncio.gather(*(self._refresh(sh, extend=False) for sh in changed))

    async def _refresh(self, sh: str, *, extend: bool = True) -> None:
        """Read one script's history and the transactions in it (new or moved ones only)."""
        derived = self._by_hash.get(sh)
        if derived is None:
            return
        async with self._script_locks.setdefault(sh, asyncio.Lock()):
            history = await self._chain.history(derived.script)
            needed = [
                item
                for item in history
                if not (
                    (stored := self._state.txs.get(item.txid)) is not None
                    and stored.seen
                    and stored.height == item.height
                )
            ]
            infos = await asyncio.gather(
                *(self._chain.get_transaction(i.txid, i.height) for i in needed)
            )
            async with self._lock:
                for info in infos:
                    self._state.txs[info.txid] = StoredTx(
                        raw=info.raw.hex(),
                        height=info.height,
                        block_hash=info.block_hash,
                        seen=True,
                    )
                self._state.histories[sh] = [(i.txid, i.height) for i in history]
                self._state.statuses[sh] = _status_of(history)
                self._prune()
                await self._persister.save(self._state)
        if history and extend:
            await self._extend(derived.branch)
        await self._notify()

    async def _after_reorg(self, event: Reorg) -> None:
        """Re-read every script with history: heights and blocks above the fork changed."""
        _log.info("wallet rescans after reorg", extra={"fork_height": event.fork_height})
        self.tip_height = event.new_height
        await asyncio.gather(
            *(self._refresh(sh) for sh, history in self._state.histories.items() if history)
        )

    def _prune(self) -> None:
        listed = {txid for history in self._state.histories.values() for txid, _ in history}
        for txid in [t for t, s in self._state.txs.items() if s.seen and t not in listed]:
            _log.info("transaction left the chain view", extra={"txid": txid})
            del self._state.txs[txid]

    async def _rebroadcast(self) -> None:
        for txid, stored in list(self._state.txs.items()):
            if stored.seen:
                continue
            try:
                await self._chain.broadcast(bytes.fromhex(stored.raw))
            except BroadcastRejected as exc:
                _log.warning(
                    "pending transaction rejected", extra={"txid": txid, "reason": exc.message}
                )
                async with self._lock:
                    self._state.txs.pop(txid, None)
                    await self._persister.save(self._state)

    # -- addresses -------------------------------------------------------------------

    async def new_address(self, branch: int = RECEIVE) -> str:
        """The next unused address of ``branch``; saved as handed out, then watched."""
        async with self._lock:
            index = self._state.issued.get(branch, 0)
            while self._is_used(branch, index):
                index += 1
            self._state.issued[branch] = index + 1
            await self._persister.save(self._state)
        await self._extend(branch)
        return script_to_address(self._derived[branch][index].script, self.network)

    def _is_used(self, branch: int, index: int) -> bool:
        scripts = self._derived[branch]
        return index < len(scripts) and bool(
            self._state.histories.get(script_hash(scripts[index].script))
        )

    def is_mine(self, output_script: bytes) -> bool:
        return output_script in self._by_script

    # -- coins -----------------------------------------------------------------------

    def utxos(self) -> list[WalletUtxo]:
        txs = {
            txid: transaction.Transaction.parse(bytes.fromhex(s.raw))
            for txid, s in self._state.txs.items()
        }
        spent = {(vin.txid.hex(), vin.vout) for tx in txs.values() for vin in tx.vin}
        out = []
        for txid, tx in txs.items():
            stored = self._state.txs[txid]
            coinbase = len(tx.vin) == 1 and tx.vin[0].txid == bytes(32)
            own = stored.height is None and all(
                self._owns_outpoint(txs, vin.txid.hex(), vin.vout) for vin in tx.vin
            )
            for n, vout in enumerate(tx.vout):
                derived = self._by_script.get(bytes(vout.script_pubkey.data))
                if derived is None or (txid, n) in spent:
                    continue
                out.append(
                    WalletUtxo(
                        OutPoint(txid, n), int(vout.value), derived, stored.height, coinbase, own
                    )
                )
        return sorted(out, key=lambda u: (u.outpoint.txid, u.outpoint.vout))

    def _owns_outpoint(self, txs: dict[str, Any], txid: str, vout: int) -> bool:
        tx = txs.get(txid)
        if tx is None:
            return False
        outs = tx.vout
        return vout < len(outs) and bytes(outs[vout].script_pubkey.data) in self._by_script

    def _confirmations(self, height: int | None) -> int:
        return 0 if height is None else max(0, self.tip_height - height + 1)

    def balance(self) -> Balance:
        confirmed = unconfirmed = immature = locked = 0
        for utxo in self.utxos():
            if str(utxo.outpoint) in self._state.locked:
                locked += utxo.value
            if utxo.coinbase and self._confirmations(utxo.height) < _COINBASE_MATURITY:
                immature += utxo.value
            elif utxo.height is None:
                unconfirmed += utxo.value
            else:
                confirmed += utxo.value
        return Balance(confirmed, unconfirmed, immature, locked)

    def spendable(self, *, include_unconfirmed: bool = True) -> list[WalletUtxo]:
        out = []
        for utxo in self.utxos():
            if str(utxo.outpoint) in self._state.locked:
                continue
            if utxo.coinbase and self._confirmations(utxo.height) < _COINBASE_MATURITY:
                continue
            if utxo.height is None and not (include_unconfirmed and utxo.own_unconfirmed):
                continue
            out.append(utxo)
        return out

    def transaction(self, txid: str) -> StoredTx:
        stored = self._state.txs.get(txid)
        if stored is None:
            raise UnknownTransaction(f"transaction {txid} is not in this wallet")
        return stored

    # -- spending --------------------------------------------------------------------

    async def _fee_rate(self, fee_rate_kvb: int | None, target_blocks: int) -> int:
        if fee_rate_kvb is None:
            return await self._chain.estimate_fee(target_blocks)
        if not 1000 <= fee_rate_kvb <= 10_000_000:
            raise InvalidWalletInput(
                f"fee rate must be 1000..10000000 sat/kvB (1..10000 sat/vB), got {fee_rate_kvb}"
            )
        return fee_rate_kvb

    def _payments(self, outputs: Sequence[tuple[str | bytes, int]]) -> list[tuple[bytes, int]]:
        if not outputs:
            raise InvalidWalletInput("a payment needs at least one output")
        pays = []
        for dest, amount in outputs:
            spk = address_to_script(dest, self.network) if isinstance(dest, str) else dest
            if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
                raise InvalidWalletInput(
                    f"amount must be a positive integer of sat, got {amount!r}"
                )
            if amount < dust_limit(spk):
                raise InvalidWalletInput(f"{amount} sat is below the dust limit {dust_limit(spk)}")
            pays.append((spk, amount))
        return pays

    async def create_psbt(
        self,
        outputs: Sequence[tuple[str | bytes, int]],
        *,
        fee_rate_kvb: int | None = None,
        target_blocks: int = 6,
        locktime: int = 0,
    ) -> str:
        """An unsigned PSBT paying ``outputs`` (address or script, sat) from our coins."""
        pays = self._payments(outputs)
        rate = await self._fee_rate(fee_rate_kvb, target_blocks)
        change = await self._change_script()
        coins = self.spendable()
        selection = select_coins(
            [Candidate(str(u.outpoint), u.value, self.account.kind.input_weight) for u in coins],
            target=sum(a for _, a in pays),
            base_weight=_TX_OVERHEAD_WEIGHT + sum(_output_weight(s) for s, _ in pays),
            fee_rate_kvb=rate,
            change_output_weight=_output_weight(change.script),
            change_spend_weight=self.account.kind.input_weight,
            dust_limit=dust_limit(change.script),
        )
        by_key = {str(u.outpoint): u for u in coins}
        inputs = [self._psbt_input(by_key[c.key]) for c in selection.coins]
        return create_psbt(
            self.account,
            inputs,
            pays,
            change=(change, selection.change) if selection.change else None,
            locktime=locktime,
        )

    def _psbt_input(self, utxo: WalletUtxo, sequence: int = RBF_SEQUENCE) -> PsbtInput:
        return PsbtInput(utxo.outpoint, utxo.value, utxo.derived.script, utxo.derived, sequence)

    async def _change_script(self) -> DerivedScript:
        async with self._lock:
            index = self._state.issued.get(CHANGE, 0)
            while self._is_used(CHANGE, index):
                index += 1
        await self._extend(CHANGE)
        return self._derived[CHANGE][index]

    def sign_psbt(self, psbt: str, input_indexes: Sequence[int] | None = None) -> str:
        """Sign our inputs of ``psbt`` (only those listed, when ``input_indexes`` is given).

        An index listed that does not spend one of our scripts is a ``SigningError``.
        """
        ours: dict[int, DerivedScript] = {}
        rows = psbt_inputs(psbt)
        wanted = range(len(rows)) if input_indexes is None else input_indexes
        for index in wanted:
            if not 0 <= index < len(rows):
                raise SigningError(f"the PSBT has no input {index}")
            spk = rows[index][1]
            derived = self._by_script.get(spk) if spk is not None else None
            if derived is None:
                if input_indexes is not None:
                    raise SigningError(f"input {index} does not spend a script of this wallet")
                continue
            ours[index] = derived
        return sign_inputs(psbt, self.account, ours)

    async def broadcast(self, raw_tx: bytes) -> str:
        """Save ``raw_tx`` as ours-pending, then send it; a rejected one is forgotten again."""
        txid = str(transaction.Transaction.parse(raw_tx).txid().hex())
        async with self._lock:
            self._state.txs[txid] = StoredTx(raw=raw_tx.hex())
            await self._persister.save(self._state)
        try:
            await self._chain.broadcast(raw_tx)
        except BroadcastRejected:
            async with self._lock:
                self._state.txs.pop(txid, None)
                await self._persister.save(self._state)
            raise
        await self._notify()
        return txid

    async def send(
        self,
        outputs: Sequence[tuple[str | bytes, int]],
        *,
        fee_rate_kvb: int | None = None,
        target_blocks: int = 6,
    ) -> str:
        psbt = await self.create_psbt(
            outputs, fee_rate_kvb=fee_rate_kvb, target_blocks=target_blocks
        )
        return await self.broadcast(extract_transaction(self.sign_psbt(psbt)))

    # -- fee bumping -------------------------------------------------------------------

    def _unconfirmed(self, txid: str) -> tuple[StoredTx, Any]:
        stored = self.transaction(txid)
        if stored.height is not None:
            raise CannotBumpFee(f"transaction {txid} is already confirmed")
        return stored, transaction.Transaction.parse(bytes.fromhex(stored.raw))

    async def bump_fee(self, txid: str, fee_rate_kvb: int) -> str:
        """Replace our unconfirmed ``txid`` (BIP-125) with one paying ``fee_rate_kvb``.

        Payments stay; our change pays the extra fee (or goes, if it would be dust);
        confirmed coins are added if the change is not enough.
        """
        rate = await self._fee_rate(fee_rate_kvb, 1)
        stored, tx = self._unconfirmed(txid)
        vin, vout = tx.vin, tx.vout
        if not any(i.sequence < 0xFFFFFFFE for i in vin):
            raise CannotBumpFee(f"transaction {txid} does not signal replaceability (BIP-125)")
        spent = self._spent_values(vin)
        if spent is None:
            raise CannotBumpFee(f"transaction {txid} spends coins that are not ours")
        old_fee = sum(v for _, v, _ in spent) - sum(int(o.value) for o in vout)
        old_weight = tx_weight(bytes.fromhex(stored.raw))
        pays = [
            (bytes(o.script_pubkey.data), int(o.value))
            for o in vout
            if self._by_script.get(bytes(o.script_pubkey.data), None) is None
            or self._by_script[bytes(o.script_pubkey.data)].branch != CHANGE
        ]
        inputs = [self._psbt_input(u) for _, _, u in spent]
        change = await self._change_script()
        extra = [
            u
            for u in self.spendable(include_unconfirmed=False)
            if u.outpoint not in {i.outpoint for i in inputs}
        ]
        extra.sort(key=lambda u: u.value, reverse=True)
        while True:
            weight = _TX_OVERHEAD_WEIGHT + sum(_output_weight(s) for s, _ in pays)
            weight += len(inputs) * self.account.kind.input_weight
            total_in = sum(i.value for i in inputs)
            paid = sum(a for _, a in pays)
            for with_change in (True, False):
                w = weight + (_output_weight(change.script) if with_change else 0)
                need = max(
                    fee_for_weight(w, rate),
                    old_fee + fee_for_weight(w, _INCREMENTAL_RELAY_KVB),
                    old_fee + 1,
                )
                left = total_in - paid - need
                if with_change and left >= dust_limit(change.script):
                    return await self._replace(txid, inputs, pays, (change, left))
                if not with_change and left >= 0:
                    return await self._replace(txid, inputs, pays, None)
            if not extra:
                raise InsufficientFunds(
                    f"not enough coins to bump {txid} to {rate} sat/kvB (old weight {old_weight})"
                )
            inputs.append(self._psbt_input(extra.pop(0)))

    async def _replace(
        self,
        old_txid: str,
        inputs: list[PsbtInput],
        pays: list[tuple[bytes, int]],
        change: tuple[DerivedScript, int] | None,
    ) -> str:
        psbt = create_psbt(self.account, inputs, pays, change=change)
        raw = extract_transaction(self.sign_psbt(psbt))
        old = self._state.txs.get(old_txid)
        async with self._lock:
            self._state.txs.pop(old_txid, None)
        try:
            return await self.broadcast(raw)
        except BroadcastRejected as exc:
            if old is not None:
                async with self._lock:
                    self._state.txs[old_txid] = old
                    await self._persister.save(self._state)
            if "missingorspent" in exc.message:
                # Our view lags the chain: a block already spent the inputs (the
                # transaction itself or a conflict confirmed); the next refresh shows which.
                raise CannotBumpFee(
                    f"transaction {old_txid} can no longer be replaced: "
                    "its inputs are already spent in a block"
                ) from exc
            raise

    def _spent_values(self, vin: Sequence[Any]) -> list[tuple[OutPoint, int, WalletUtxo]] | None:
        coins = {}
        for txid, stored in self._state.txs.items():
            tx = transaction.Transaction.parse(bytes.fromhex(stored.raw))
            for n, out in enumerate(tx.vout):
                derived = self._by_script.get(bytes(out.script_pubkey.data))
                if derived is not None:
                    coins[OutPoint(txid, n)] = WalletUtxo(
                        OutPoint(txid, n), int(out.value), derived, stored.height, False, False
                    )
        rows = []
        for i in vin:
            outpoint = OutPoint(i.txid.hex(), i.vout)
            utxo = coins.get(outpoint)
            if utxo is None:
                return None
            rows.append((outpoint, utxo.value, utxo))
        return rows

    async def cpfp(self, parent_txid: str, fee_rate_kvb: int) -> str:
        """Spend our outputs of unconfirmed ``parent_txid``: the package pays ``fee_rate_kvb``."""
        rate = await self._fee_rate(fee_rate_kvb, 1)
        stored, parent = self._unconfirmed(parent_txid)
        ours = [
            u
            for u in self.utxos()
            if u.outpoint.txid == parent_txid and str(u.outpoint) not in self._state.locked
        ]
        if not ours:
            raise CannotBumpFee(f"transaction {parent_txid} pays no unspent output to this wallet")
        parent_fee = await self._fee_of(parent)
        parent_weight = tx_weight(bytes.fromhex(stored.raw))
        change = await self._change_script()
        child_weight = (
            _TX_OVERHEAD_WEIGHT
            + len(ours) * self.account.kind.input_weight
            + _output_weight(change.script)
        )
        # Nodes round each transaction's vsize up on its own: so do we.
        package_vsize = (parent_weight + 3) // 4 + (child_weight + 3) // 4
        package_fee = (package_vsize * rate + 999) // 1000
        child_fee = max(
            package_fee - parent_fee, fee_for_weight(child_weight, _INCREMENTAL_RELAY_KVB)
        )
        amount = sum(u.value for u in ours) - child_fee
        if amount < dust_limit(change.script):
            raise InsufficientFunds(
                f"our outputs of {parent_txid} cannot pay a {child_fee} sat child fee"
            )
        inputs = [self._psbt_input(u) for u in ours]
        psbt = create_psbt(self.account, inputs, [], change=(change, amount))
        return await self.broadcast(extract_transaction(self.sign_psbt(psbt)))

    async def _fee_of(self, tx: Any) -> int:
        total_in = 0
        for vin in tx.vin:
            prev_txid = vin.txid.hex()
            stored = self._state.txs.get(prev_txid)
            raw = (
                bytes.fromhex(stored.raw)
                if stored
                else (await self._chain.get_transaction(prev_txid)).raw
            )
            total_in += int(transaction.Transaction.parse(raw).vout[vin.vout].value)
        return total_in - sum(int(o.value) for o in tx.vout)

    # -- DLC funding -------------------------------------------------------------------

    async def reserve_coins(
        self, amount: int, fee_rate_kvb: int, *, reason: str, extra_weight: int = 0
    ) -> list[FundingCoin]:
        """Lock confirmed coins covering ``amount`` plus their own input fees (+ ``extra_weight``).

        The DLC code builds the funding transaction from them (dlcspecs
        ``funding_input``) and computes its change; ``release_coins`` unlocks.
        """
        if amount <= 0:
            raise InvalidWalletInput(f"amount must be positive, got {amount}")
        rate = await self._fee_rate(fee_rate_kvb, 1)
        coins = self.spendable(include_unconfirmed=False)
        selection = select_coins(
            [Candidate(str(u.outpoint), u.value, self.account.kind.input_weight) for u in coins],
            target=amount,
            base_weight=extra_weight,
            fee_rate_kvb=rate,
            change_output_weight=4 * (9 + self.account.kind.output_script_len),
            change_spend_weight=self.account.kind.input_weight,
            dust_limit=dust_limit(b"\x00" * self.account.kind.output_script_len),
        )
        by_key = {str(u.outpoint): u for u in coins}
        out = []
        async with self._lock:
            for c in selection.coins:
                utxo = by_key[c.key]
                self._state.locked[c.key] = reason
                out.append(
                    FundingCoin(
                        utxo.outpoint,
                        utxo.value,
                        utxo.derived.script,
                        bytes.fromhex(self._state.txs[utxo.outpoint.txid].raw),
                        self.account.kind.max_witness_len,
                        RBF_SEQUENCE,
                        self.account.kind.input_weight,
                    )
                )
            await self._persister.save(self._state)
        return out

    def locked_coins(self) -> dict[OutPoint, str]:
        """Every locked outpoint with the reason it was locked under.

        A lock outlives its coin being spent until ``release_coins``; a caller
        that reserves coins and records them elsewhere compares the two at
        start to find locks a crash left behind.
        """
        out = {}
        for key, reason in self._state.locked.items():
            txid, vout = key.rsplit(":", 1)
            out[OutPoint(txid, int(vout))] = reason
        return out

    async def release_coins(self, outpoints: Sequence[OutPoint]) -> None:
        async with self._lock:
            for outpoint in outpoints:
                self._state.locked.pop(str(outpoint), None)
            await self._persister.save(self._state)


def _status_of(history: Sequence[HistoryItem]) -> str | None:
    """The Electrum status of a history: sha256 of ``txid:height:`` for each, hex."""
    if not history:
        return None
    text = "".join(f"{h.txid}:{h.height if h.height is not None else 0}:" for h in history)
    return hashlib.sha256(text.encode()).hexdigest()


def _parse(raw_hex: str) -> Any:
    return transaction.Transaction.parse(bytes.fromhex(raw_hex))
