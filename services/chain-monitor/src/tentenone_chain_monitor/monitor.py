"""The chain monitor's engine: follow the chain source, turn what changed into events.

Work happens in *rounds*. Notifications from the chain source (a script's
status changed, a new tip, a reorganisation, a new server) only mark what
needs looking at and wake the loop; a round then:

1. takes the source's tip and compares it with the tip the last committed
   round processed (``cursor``) to find a reorganisation, even one that
   happened while the monitor was down;
2. with a block source (ADR 0055): reads the new blocks once, gives the
   watches they confirm their events at once, and derives the histories of
   the dirty scripts from them, each checked against its Electrum status;
3. fetches the history of every other dirty script (all at once, in
   batches: ElectrumX holds small replies, so round trips are what cost),
   and each new or moved confirmed transaction with its merkle proof;
4. in one database transaction: the ``chain.reorg`` event and the reset of
   the transactions it took, every watch's new transaction states with
   their ``chain.spent`` / ``chain.tx_confirmed`` events, depth progress of
   the watches that did not change, and the new cursor.

A round that fails (server gone, database down) changes nothing and is
retried with backoff; the dirty marks are kept. Nothing is lost across a
restart because what is durable is the committed state: on start every
script is subscribed again and its status compared with the one stored
with its last applied history.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from sqlmodel.ext.asyncio.session import AsyncSession

from tentenone.bitcoin.tx import parse_transaction
from tentenone.chain import (
    BlockHeader,
    ChainSource,
    HistoryItem,
    ScriptChanged,
    ServerSwitched,
    Tip,
    TransactionNotFound,
    TxInfo,
    script_hash,
)
from tentenone.chain.errors import InvalidChainInput
from tentenone.errors import TentenoneError, Unavailable
from tentenone.logging import get_logger
from tentenone.store import Database
from tentenone.wire.chain import BlockRef, ChainReorg, ReorgedTx, TxConfirmed, TxsConfirmed
from tentenone_chain_monitor import metrics, repository
from tentenone_chain_monitor.blocks import BlockMatcher, Derived
from tentenone_chain_monitor.reconcile import (
    ROLE_CREATES,
    ROLE_HISTORY,
    ROLE_OTHER,
    ROLE_SPENDS,
    Emitted,
    Seen,
    TxState,
    WatchSpec,
    disconnect,
    event_id,
    progress,
    reconcile,
    reorged_tx,
)
from tentenone_chain_monitor.settings import ChainMonitorSettings

__all__ = ["ChainMonitor", "Publish"]

_log = get_logger(__name__)
_T = TypeVar("_T")

#: writes a round's events to the outbox in the session's transaction, in order
type Publish = Callable[[AsyncSession, Sequence[Emitted]], Awaitable[object]]

_REORG_PART = 2000
#: confirmations in one ``chain.txs_confirmed`` (about 400 bytes each on the bus)
_BATCH_EVENT = 1000
#: new blocks looked at before their notifications come (more: a long way behind)
_EARLY_BLOCKS = 6


class _TipMoved(Exception):
    """The chain changed under the round (a new reorganisation): start again."""


@dataclass(frozen=True, slots=True)
class _Reorg:
    old_tip: BlockRef
    fork_height: int
    disconnected: list[str]


@dataclass
class _Round:
    """What one round works on and what it found."""

    tip: BlockRef
    cursor: BlockRef | None
    reorg: _Reorg | None
    watches: dict[str, WatchSpec] = field(default_factory=dict)
    statuses: dict[str, str | None] = field(default_factory=dict)
    histories: dict[str, list[HistoryItem]] = field(default_factory=dict)
    txs: dict[tuple[str, int | None], TxInfo | None] = field(default_factory=dict)
    deferred: set[str] = field(default_factory=set)
    #: watch id -> txid -> state reset because the reorganisation took its block
    reset: dict[str, dict[str, TxState]] = field(default_factory=dict)
    #: watch id -> its transactions in the new blocks, for watches not in ``watches``
    early: dict[str, list[TxInfo]] = field(default_factory=dict)


class ChainMonitor:
    def __init__(
        self,
        db: Database,
        source: ChainSource,
        publish: Publish,
        settings: ChainMonitorSettings,
        blocks: BlockMatcher | None = None,
    ) -> None:
        self._db = db
        self._source = source
        #: derives histories from new blocks, when a block source is configured
        self._blocks = blocks
        self._publish = publish
        self._settings = settings
        self._watches: dict[str, WatchSpec] = {}
        self._by_script: dict[str, set[str]] = {}
        self._subscribed: set[str] = set()
        self._status: dict[str, str | None] = {}
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        #: the chain source's events flow in from here (created before it starts)
        self._stream = source.events()
        #: held while a round writes and while a watch is removed
        self.write_lock = asyncio.Lock()
        self.processed: BlockRef | None = None
        self.synced = False
        self._behind_since: float | None = None
        self._connected = False

    # -- watches (called by the RPC handlers after they committed) -------------------------

    def added(self, spec: WatchSpec) -> None:
        self._index(spec)
        self._dirty.add(spec.script_hash)
        self._wake.set()

    async def removed(self, spec: WatchSpec) -> None:
        self._watches.pop(spec.id, None)
        ids = self._by_script.get(spec.script_hash, set())
        ids.discard(spec.id)
        if not ids:
            self._by_script.pop(spec.script_hash, None)
            self._status.pop(spec.script_hash, None)
            if self._blocks is not None:
                self._blocks.forget(spec.script_hash)
            if spec.script_hash in self._subscribed:
                self._subscribed.discard(spec.script_hash)
                with contextlib.suppress(TentenoneError):
                    await self._source.unsubscribe_script(spec.script)
        metrics.WATCHES.labels(spec.kind).dec()

    def _index(self, spec: WatchSpec) -> None:
        if spec.id not in self._watches:
            metrics.WATCHES.labels(spec.kind).inc()
        self._watches[spec.id] = spec
        self._by_script.setdefault(spec.script_hash, set()).add(spec.id)

    @property
    def watch_count(self) -> int:
        return len(self._watches)

    # -- health ------------------------------------------------------------------------------

    async def readiness(self) -> None:
        """Raise ``Unavailable`` unless connected, synced once, and not lagging the chain."""
        server = getattr(self._source, "current_server", "")
        if not self._connected or server is None:
            raise Unavailable("no Electrum server connected")
        if not self.synced:
            raise Unavailable("first sync of the watches is not done")
        tip = await self._source.tip()
        behind = self.processed is None or self.processed.hash != tip.hash
        if not behind:
            self._behind_since = None
            return
        now = time.monotonic()
        if self._behind_since is None:
            self._behind_since = now
        if now - self._behind_since > self._settings.ready_lag_s:
            at = self.processed.height if self.processed else None
            raise Unavailable(f"processed up to {at}, chain tip {tip.height}")

    # -- the loop ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, then run rounds whenever something changed; never returns."""
        pump = asyncio.create_task(self._pump(), name="chain-monitor events")
        try:
            await self._retrying(self._connect, "connect")
            while True:
                await self._next_work()
                await self._retrying(self._round_once, "round")
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump

    async def _retrying(self, step: Callable[[], Awaitable[None]], what: str) -> None:
        delay = self._settings.retry_s
        while True:
            try:
                await step()
                return
            except _TipMoved:
                continue
            except TentenoneError as exc:
                metrics.ROUND_FAILURES.labels(exc.code).inc()
                _log.warning(
                    "chain monitor %s failed, retrying in %.1f s: %s",
                    what,
                    delay,
                    exc.message,
                    extra={"code": exc.code},
                )
            except (OSError, TimeoutError) as exc:
                metrics.ROUND_FAILURES.labels("io").inc()
                _log.warning("chain monitor %s failed, retrying in %.1f s: %s", what, delay, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._settings.retry_max_s)

    async def _connect(self) -> None:
        await self._source.start()
        self._connected = True
        async with self._db.session() as session:
            stored = await repository.load_watches(session)
        for watch in stored:
            self._index(watch.spec)
        await self._subscribe(list(self._by_script))
        for watch in stored:
            current = self._status.get(watch.spec.script_hash)
            if not watch.synced or watch.status != current:
                self._dirty.add(watch.spec.script_hash)
        _log.info(
            "chain monitor connected",
            extra={"watches": len(stored), "to_refresh": len(self._dirty)},
        )
        self._wake.set()

    async def _pump(self) -> None:
        async for event in self._stream:
            # A new tip or a reorganisation needs no mark: every round looks at the tip.
            if isinstance(event, ScriptChanged):
                sh = script_hash(event.script)
                self._status[sh] = event.status
                self._dirty.add(sh)
            elif isinstance(event, ServerSwitched):
                self._connected = True
                _log.info("chain source switched server", extra={"server": event.server})
            self._wake.set()

    async def _next_work(self) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), self._settings.resync_interval_s)
        except TimeoutError:
            # The safety net: ask the server for every script's status again.
            await self._retrying(self._resync, "resync")
        # Let a burst of notifications (one per watched script in a block) arrive.
        await asyncio.sleep(self._settings.debounce_s)
        self._wake.clear()

    async def _resync(self) -> None:
        before = dict(self._status)
        self._subscribed.clear()
        await self._subscribe(list(self._by_script))
        self._dirty.update(sh for sh, status in self._status.items() if before.get(sh) != status)

    async def _subscribe(self, hashes: Sequence[str]) -> None:
        todo = [sh for sh in hashes if sh not in self._subscribed and sh in self._by_script]

        async def one(sh: str) -> None:
            script = self._watches[next(iter(self._by_script[sh]))].script
            self._status[sh] = await self._source.subscribe_script(script)
            self._subscribed.add(sh)

        await self._batched(todo, one, "subscribed")

    async def _batched(
        self, items: Sequence[_T], fn: Callable[[_T], Awaitable[Any]], what: str
    ) -> None:
        """``fn`` over ``items``, at most ``batch_size`` at a time; logs progress on long runs.

        A sliding window, not batches one after the other: ElectrumX holds a
        small reply up to a second, and a batch would wait for its slowest
        reply before the next one starts.
        """
        todo = iter(items)
        done = 0
        started = last_log = time.monotonic()

        async def worker() -> None:
            nonlocal done, last_log
            for item in todo:
                await fn(item)
                done += 1
                now = time.monotonic()
                if now - last_log >= self._settings.progress_log_s:
                    last_log = now
                    _log.info(
                        "chain monitor: %s %d of %d",
                        what,
                        done,
                        len(items),
                        extra={"elapsed_s": round(now - started, 1)},
                    )

        workers = [
            asyncio.create_task(worker()) for _ in range(min(self._settings.batch_size, len(items)))
        ]
        try:
            await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    # -- one round ----------------------------------------------------------------------------

    async def _round_once(self) -> None:
        dirty = set(self._dirty)
        self._dirty.clear()
        started = time.perf_counter()
        try:
            done = await self._round(dirty)
        except BaseException:
            self._dirty.update(dirty)
            raise
        if done is None or done.deferred:
            # The server is catching up with our chain, or a block ahead of our headers.
            self._dirty.update(dirty if done is None else done.deferred)
            asyncio.get_running_loop().call_later(self._settings.retry_s, self._wake.set)
        if done is not None:
            metrics.ROUNDS.inc()
            metrics.ROUND_SECONDS.observe(time.perf_counter() - started)

    async def _round(self, dirty: set[str]) -> _Round | None:
        source_tip = await self._source.tip()
        tip = BlockRef(height=source_tip.height, hash=source_tip.hash)
        async with self._db.session() as session:
            cursor = await repository.load_cursor(session)
            seen = await repository.load_seen_blocks(session)
            if cursor is not None and await self._behind(cursor, seen, source_tip):
                return None
            reorg = await self._find_reorg(cursor, seen, source_tip)
            lost = await repository.states_above(session, reorg.fork_height) if reorg else []
        work = _Round(tip, cursor, reorg)
        ids = {wid for sh in dirty for wid in self._by_script.get(sh, ())}
        ids.update(wid for wid, _ in lost)
        work.watches = {wid: self._watches[wid] for wid in ids if wid in self._watches}
        started = time.perf_counter()
        await self._early(work)
        await self._fetch(work)
        fetched = time.perf_counter()
        await self._commit(work, lost)
        _log.debug(
            "round at %d: %d watches, %d early; fetched in %.3f s, committed in %.3f s",
            tip.height,
            len(work.watches),
            len(work.early),
            fetched - started,
            time.perf_counter() - fetched,
        )
        return work

    async def _behind(self, cursor: BlockRef, seen: dict[int, str], tip: Tip) -> bool:
        """The source's chain is a prefix of what we processed: its server is catching up."""
        if cursor.height <= tip.height:
            return False
        known = seen.get(tip.height)
        return known is None or known == tip.hash

    async def _find_reorg(
        self, cursor: BlockRef | None, seen: dict[int, str], tip: Tip
    ) -> _Reorg | None:
        if cursor is None:
            return None
        if cursor.height <= tip.height and await self._hash_at(cursor.height) == cursor.hash:
            return None
        fork = None
        for height in sorted(seen, reverse=True):
            if height <= tip.height and await self._hash_at(height) == seen[height]:
                fork = height
                break
        if fork is None:
            # Deeper than the blocks we keep: everything we know of is gone.
            fork = min(seen, default=cursor.height) - 1
        gone = [seen[h] for h in sorted(seen) if h > fork]
        _log.warning(
            "reorganisation",
            extra={"fork_height": fork, "old_tip": cursor.height, "new_tip": tip.height},
        )
        return _Reorg(cursor, fork, gone)

    async def _hash_at(self, height: int) -> str | None:
        try:
            return (await self._source.header(height)).hash
        except InvalidChainInput:
            return None

    # -- fetching -----------------------------------------------------------------------------

    async def _fetch(self, work: _Round) -> None:
        """Each dirty script's history, then at once its new or moved transactions.

        One pipeline per script, not all histories and then all transactions:
        a server's held replies then cost one wait per round, not one per step.
        """
        hashes = sorted({w.script_hash for w in work.watches.values()})
        await self._subscribe(hashes)
        # The status the history we are about to read is at least as new as.
        work.statuses = {sh: self._status.get(sh) for sh in hashes}
        async with self._db.session() as session:
            known = await repository.load_states(session, work.watches)
        of_script: dict[str, list[WatchSpec]] = {}
        for watch in work.watches.values():
            of_script.setdefault(watch.script_hash, []).append(watch)
        claimed: set[tuple[str, int | None]] = set()
        derived = await self._derive(work, of_script)

        async def fetch(key: tuple[str, int | None]) -> None:
            try:
                work.txs[key] = await self._source.get_transaction(key[0], key[1])
            except TransactionNotFound:
                work.txs[key] = None

        async def script(sh: str) -> None:
            watches = of_script[sh]
            if sh in derived:
                work.histories[sh] = derived[sh].history
                work.txs.update(derived[sh].txs)
            else:
                work.histories[sh] = await self._source.history(watches[0].script)
            wanted: set[tuple[str, int | None]] = set()
            for watch in watches:
                wanted.update(await self._needed(watch, work, known.get(watch.id, {})))
            mine = sorted(wanted - claimed - work.txs.keys(), key=str)
            claimed.update(mine)  # a transaction of two scripts is fetched once
            await asyncio.gather(*(fetch(key) for key in mine))

        await self._batched(hashes, script, "histories fetched")

    async def _early(self, work: _Round) -> None:
        """The new blocks' confirmations of watches whose notification is still on its way."""
        cursor = work.cursor
        if self._blocks is None or work.reorg is not None or cursor is None:
            return
        if not 0 < work.tip.height - cursor.height <= _EARLY_BLOCKS:
            return
        others = [w for wid, w in self._watches.items() if wid not in work.watches]
        try:
            work.early = await self._blocks.confirmed_in(
                cursor.height + 1, work.tip, others, self._header_at
            )
        except TentenoneError as exc:
            _log.warning("block source failed, waiting for notifications: %s", exc.message)

    async def _header_at(self, height: int) -> BlockHeader | None:
        with contextlib.suppress(InvalidChainInput):
            return await self._source.header(height)
        return None

    async def _derive(
        self, work: _Round, of_script: dict[str, list[WatchSpec]]
    ) -> dict[str, Derived]:
        """The histories the new blocks explain (``blocks.BlockMatcher``); none after a reorg."""
        if self._blocks is None or work.reorg is not None or not of_script:
            return {}
        derived = await self._blocks.derive(work.tip, of_script, work.statuses, self._header_at)
        metrics.DERIVED.inc(len(derived))
        return derived

    async def _needed(
        self, watch: WatchSpec, work: _Round, known: dict[str, TxState]
    ) -> set[tuple[str, int | None]]:
        """The transactions to fetch (and prove) for ``watch``: new or moved ones."""
        items = work.histories.get(watch.script_hash, [])
        if any(i.height is not None and i.height > work.tip.height for i in items):
            work.deferred.add(watch.script_hash)  # the server is a block ahead of our headers
            return set()
        wanted: set[tuple[str, int | None]] = set()
        for item in items:
            state = known.get(item.txid)
            if item.height is None:
                if state is None and watch.kind == "outpoint":
                    wanted.add((item.txid, None))
            elif (
                state is None
                or state.height != item.height
                or state.block_hash != await self._hash_at(item.height)
            ):
                wanted.add((item.txid, item.height))
        return wanted

    # -- committing ---------------------------------------------------------------------------

    async def _commit(self, work: _Round, lost: list[tuple[str, TxState]]) -> None:
        async with self.write_lock, self._db.transaction() as session:
            if await self._hash_at(work.tip.height) != work.tip.hash:
                raise _TipMoved
            live = await repository.existing_watch_ids(session, [*work.watches, *work.early])
            known = await repository.load_states(session, live)
            events: list[Emitted] = []
            if work.reorg is not None:
                events.extend(self._reorg_events(work, lost, known))
            changed, synced = await self._apply_watches(work, live, known, events)
            self._apply_early(work, live, known, changed, events)
            for watch_id, states in work.reset.items():
                if watch_id in live:
                    changed[watch_id] = {**states, **changed.get(watch_id, {})}
            await self._apply_awaiting(session, work, known, changed, events)
            events = self._batch(events)
            await self._publish(session, events)
            for emitted in events:
                metrics.EVENTS.labels(emitted.event.event_type).inc()
            await repository.write_states(session, changed, known)
            await repository.write_watch_sync(session, synced)
            await self._save_tip(session, work)
        if self._blocks is not None:
            for sh, history in work.histories.items():
                if sh not in work.deferred:
                    self._blocks.applied(sh, work.tip, history)
        self.processed = work.tip
        self.synced = True
        metrics.PROCESSED_HEIGHT.set(work.tip.height)

    def _reorg_events(
        self,
        work: _Round,
        lost: list[tuple[str, TxState]],
        known: dict[str, dict[str, TxState]],
    ) -> list[Emitted]:
        """``chain.reorg`` listing the transactions it took; their states reset in ``known``."""
        assert work.reorg is not None
        txs: list[ReorgedTx] = []
        for watch_id, state in lost:
            watch = self._watches.get(watch_id)
            current = known.get(watch_id, {}).get(state.txid)
            if watch is None or current is None or current.height is None:
                continue
            txs.append(reorged_tx(watch, current))
            known[watch_id][state.txid] = disconnect(current)
            work.reset.setdefault(watch_id, {})[state.txid] = known[watch_id][state.txid]
        reorg = work.reorg
        parts = max(1, -(-len(txs) // _REORG_PART))
        out = []
        for n in range(parts):
            event = ChainReorg(
                old_tip=reorg.old_tip,
                new_tip=work.tip,
                fork_height=reorg.fork_height,
                disconnected=reorg.disconnected,
                txs=txs[n * _REORG_PART : (n + 1) * _REORG_PART],
                part=n + 1,
                parts=parts,
            )
            out.append(Emitted(event_id("reorg", reorg.old_tip.hash, work.tip.hash, n), event))
        return out

    async def _apply_watches(
        self,
        work: _Round,
        live: set[str],
        known: dict[str, dict[str, TxState]],
        events: list[Emitted],
    ) -> tuple[dict[str, dict[str, TxState]], dict[str, str | None]]:
        changed: dict[str, dict[str, TxState]] = {}
        synced: dict[str, str | None] = {}
        for watch in work.watches.values():
            if watch.id not in live or watch.script_hash in work.deferred:
                continue
            seen = self._seen(watch, work, known.get(watch.id, {}))
            if seen is None:
                work.deferred.add(watch.script_hash)
                continue
            updates, emitted = reconcile(watch, known.get(watch.id, {}), seen, work.tip)
            events.extend(emitted)
            changed[watch.id] = updates
            synced[watch.id] = work.statuses.get(watch.script_hash)
        return changed, synced

    def _apply_early(
        self,
        work: _Round,
        live: set[str],
        known: dict[str, dict[str, TxState]],
        changed: dict[str, dict[str, TxState]],
        events: list[Emitted],
    ) -> None:
        """Add the ``early`` confirmations to what each watch knows; nothing is removed."""
        for watch_id, infos in work.early.items():
            watch = self._watches.get(watch_id)
            if watch is None or watch_id not in live or watch_id in changed:
                continue
            stored = known.get(watch_id, {})
            seen = {
                s.txid: Seen(s.txid, s.role, s.height, s.block_hash, s.input_index)
                for s in stored.values()
                if s.listed
            }
            for info in infos:
                role, index = self._role(watch, info, stored.get(info.txid))
                seen[info.txid] = Seen(info.txid, role, info.height, info.block_hash, index)
            updates, emitted = reconcile(watch, stored, seen.values(), work.tip)
            events.extend(emitted)
            changed[watch_id] = updates
        metrics.EARLY.inc(len(work.early))

    def _seen(self, watch: WatchSpec, work: _Round, known: dict[str, TxState]) -> list[Seen] | None:
        """Where each transaction of ``watch`` is now; None if something must be asked again."""
        out = []
        for item in work.histories.get(watch.script_hash, []):
            state = known.get(item.txid)
            info = work.txs.get((item.txid, item.height))
            if info is None and (item.txid, item.height) in work.txs:
                return None  # listed, then not found: the server is moving; ask again
            if info is None:
                assert state is not None or item.height is None
                role = state.role if state else ROLE_HISTORY
                index = state.input_index if state else None
                block = state.block_hash if item.height is not None and state else None
                out.append(Seen(item.txid, role, item.height, block, index))
                continue
            if info.height is not None and info.height > work.tip.height:
                return None  # proved in a block beyond the tip this round works at
            role, index = self._role(watch, info, state)
            out.append(Seen(item.txid, role, info.height, info.block_hash, index))
        return out

    def _role(
        self, watch: WatchSpec, info: TxInfo, state: TxState | None
    ) -> tuple[str, int | None]:
        if watch.kind == "script":
            return ROLE_HISTORY, None
        if state is not None:
            return state.role, state.input_index
        if info.txid == watch.outpoint_txid:
            return ROLE_CREATES, None
        for index, txin in enumerate(parse_transaction(info.raw).inputs):
            point = txin.outpoint
            if point.txid[::-1].hex() == watch.outpoint_txid and point.vout == watch.outpoint_vout:
                return ROLE_SPENDS, index
        return ROLE_OTHER, None

    async def _apply_awaiting(
        self,
        session: AsyncSession,
        work: _Round,
        known: dict[str, dict[str, TxState]],
        changed: dict[str, dict[str, TxState]],
        events: list[Emitted],
    ) -> None:
        """Depth progress of confirmed transactions of watches this round did not refresh."""
        for watch_id, state in await repository.awaiting_states(session):
            watch = self._watches.get(watch_id)
            if watch is None or watch_id in changed:
                continue
            if state.height is None or state.height > work.tip.height:
                continue
            if await self._hash_at(state.height) != state.block_hash:
                self._dirty.add(watch.script_hash)  # its block moved: look again next round
                continue
            updated, emitted = progress(watch, state, work.tip)
            if emitted:
                events.extend(emitted)
                known.setdefault(watch_id, {})[state.txid] = state  # a row to update
                changed.setdefault(watch_id, {})[state.txid] = updated

    def _batch(self, events: list[Emitted]) -> list[Emitted]:
        """The confirmations of ``batched_owners`` grouped: one event per owner and chunk.

        Its id derives from its members' ids: each member is written once (its
        ``depth_done`` changes in this transaction), so no fact is in two events.
        """
        owners = set(self._settings.batched_owners)
        if not owners:
            return events
        out: list[Emitted] = []
        grouped: dict[str, list[Emitted]] = {}
        for emitted in events:
            event = emitted.event
            if isinstance(event, TxConfirmed) and event.owner in owners:
                grouped.setdefault(event.owner, []).append(emitted)
            else:
                out.append(emitted)
        for owner, members in grouped.items():
            for start in range(0, len(members), _BATCH_EVENT):
                chunk = members[start : start + _BATCH_EVENT]
                batch = TxsConfirmed(
                    owner=owner, confirmations=[cast(TxConfirmed, e.event) for e in chunk]
                )
                out.append(Emitted(event_id("batch", *(e.event_id for e in chunk)), batch))
        return out

    async def _save_tip(self, session: AsyncSession, work: _Round) -> None:
        keep = self._settings.max_reorg_depth + 1
        tip = work.tip
        if work.reorg is not None:
            start = work.reorg.fork_height + 1
        elif work.cursor is not None:
            start = work.cursor.height + 1
        else:
            start = 0
        start = max(start, tip.height - keep + 1, 0)
        blocks = {}
        for height in range(start, tip.height + 1):
            found = await self._hash_at(height)
            if found is not None:
                blocks[height] = found
        await repository.save_seen_blocks(session, blocks)
        await repository.delete_seen_below(session, tip.height - keep + 1)
        if work.reorg is not None and work.cursor is not None:
            await repository.delete_seen_above(session, tip.height)
        await repository.save_cursor(session, tip, existed=work.cursor is not None)
