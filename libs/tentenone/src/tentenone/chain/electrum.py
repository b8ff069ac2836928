"""``ChainSource`` over the Electrum protocol: several servers, failover, SPV.

One session is active at a time. A supervisor task keeps it: it connects to
the next server not currently banned, syncs and checks the header chain,
re-subscribes every watched script (reporting any status that changed while
we were away, so nothing is missed across a reconnection), then serves
notifications until the session drops. A server that sends a header failing
the proof-of-work rules, a merkle proof not leading to our header, or a
reply of the wrong shape is banned for ``ban_s`` and the next one is used.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from tentenone.chain import metrics
from tentenone.chain._embit import parse_tx, tx_outputs_scripts, txid_of
from tentenone.chain.electrum_session import (
    ConnectionLost,
    ElectrumSession,
    ServerAddress,
    ServerError,
)
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
from tentenone.chain.header_store import HeaderStore, MemoryHeaderStore
from tentenone.chain.headers import (
    HEADER_SIZE,
    BlockHeader,
    HeaderChain,
    LessWork,
    NotConnected,
)
from tentenone.chain.merkle import verify_merkle_proof
from tentenone.chain.network import Network
from tentenone.chain.source import (
    ChainEvent,
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
from tentenone.logging import get_logger

__all__ = ["ElectrumChainSource", "EventStream"]

_T = TypeVar("_T")
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
# Requests sent together: ElectrumX 2 pads and holds small replies up to a second,
# so round trips, not bytes, are what a sync costs.
_BATCH = 100
_log = get_logger(__name__)


_NotificationQueue = asyncio.Queue[tuple[str, list[Any]] | None]


class _Lagging(Exception):
    """The server is behind our chain (or on a stale branch): try another for now."""


class EventStream:
    """One listener's queue of chain events; iterate it, or ``await next(timeout)``."""

    def __init__(self, owner: set[EventStream]) -> None:
        self._owner = owner
        self._queue: asyncio.Queue[ChainEvent | None] = asyncio.Queue()
        owner.add(self)

    def put(self, event: ChainEvent | None) -> None:
        self._queue.put_nowait(event)

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> ChainEvent:
        event = await self._queue.get()
        if event is None:
            raise StopAsyncIteration
        return event

    async def next(self, within_s: float) -> ChainEvent:
        """The next event; ``TimeoutError`` if none comes within ``within_s`` seconds."""
        return await asyncio.wait_for(self.__anext__(), within_s)

    def close(self) -> None:
        self._owner.discard(self)
        self._queue.put_nowait(None)


class ElectrumChainSource:
    """A ``ChainSource`` on one or more Electrum servers (ElectrumX, electrs, Fulcrum)."""

    def __init__(
        self,
        servers: Sequence[str | ServerAddress],
        network: Network,
        *,
        header_store: HeaderStore | None = None,
        tls_context: ssl.SSLContext | None = None,
        checkpoint: tuple[int, str] | None = None,
        request_timeout: float = 10.0,
        connect_timeout: float = 5.0,
        call_timeout: float = 30.0,
        ban_s: float = 300.0,
        retry_s: float = 1.0,
        ping_interval_s: float = 30.0,
        max_reorg_depth: int = 100,
        name: str = "chain",
    ) -> None:
        if not servers:
            raise InvalidChainInput("an Electrum chain source needs at least one server")
        self.network = network
        self.name = name
        self._servers = [
            s if isinstance(s, ServerAddress) else ServerAddress.parse(s) for s in servers
        ]
        self._store = header_store or MemoryHeaderStore()
        self._tls_context = tls_context
        self._checkpoint = checkpoint
        self._request_timeout = request_timeout
        self._connect_timeout = connect_timeout
        self._call_timeout = call_timeout
        self._ban_s = ban_s
        self._retry_s = retry_s
        self._ping_interval_s = ping_interval_s
        self._max_reorg_depth = max_reorg_depth
        self._banned: dict[ServerAddress, float] = {}
        self._next_server = 0
        self._session: ElectrumSession | None = None
        self._ready = asyncio.Event()
        self._chain: HeaderChain | None = None
        self._sync_lock = asyncio.Lock()
        self._scripts: dict[str, bytes] = {}
        self._status: dict[str, str | None] = {}
        self._streams: set[EventStream] = set()
        self._supervisor: asyncio.Task[None] | None = None
        self._last_error = "not started"
        #: (server, reason) of every server dropped for misbehaving, oldest first.
        self.dropped: list[tuple[str, str]] = []

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        if self._supervisor is None:
            self._supervisor = asyncio.create_task(self._supervise(), name="electrum-supervisor")
        await self._wait_session(time.monotonic() + self._call_timeout)

    async def close(self) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        if self._session is not None:
            await self._session.close("chain source closed")
        for stream in list(self._streams):
            stream.close()

    @property
    def current_server(self) -> str | None:
        session = self._session
        return str(session.server) if session is not None and not session.closed else None

    def events(self) -> EventStream:
        return EventStream(self._streams)

    # -- queries ---------------------------------------------------------------------

    async def tip(self) -> Tip:
        chain = self._require_chain()
        return Tip(chain.tip_height, chain.tip)

    async def header(self, height: int) -> BlockHeader:
        chain = self._require_chain()
        header = chain.header_at(height)
        if header is None:
            raise InvalidChainInput(
                f"no header at height {height}: our chain spans {chain.base_height}.."
                f"{chain.tip_height}"
            )
        return header

    async def subscribe_script(self, script: bytes) -> str | None:
        sh = script_hash(script)
        self._scripts[sh] = script

        async def op(session: ElectrumSession) -> str | None:
            return _status(await session.request("blockchain.scripthash.subscribe", [sh]))

        status = await self._run(op)
        self._status[sh] = status
        return status

    async def unsubscribe_script(self, script: bytes) -> None:
        sh = script_hash(script)
        self._scripts.pop(sh, None)
        self._status.pop(sh, None)
        session = self._session
        if session is not None and not session.closed:
            with contextlib.suppress(ServerError, ConnectionLost):
                await session.request("blockchain.scripthash.unsubscribe", [sh])

    async def history(self, script: bytes) -> list[HistoryItem]:
        sh = script_hash(script)

        async def op(session: ElectrumSession) -> list[HistoryItem]:
            return _history(await session.request("blockchain.scripthash.get_history", [sh]))

        return await self._run(op)

    async def unspent(self, script: bytes) -> list[Utxo]:
        sh = script_hash(script)

        async def op(session: ElectrumSession) -> list[Utxo]:
            return _utxos(await session.request("blockchain.scripthash.listunspent", [sh]))

        return await self._run(op)

    async def get_transaction(self, txid: str, height: int | None = None) -> TxInfo:
        _check_txid(txid)
        return await self._run(lambda session: self._get_tx(session, txid, height))

    async def broadcast(self, raw_tx: bytes) -> str:
        try:
            txid = txid_of(raw_tx)
        except Exception as exc:
            raise InvalidChainInput(f"cannot broadcast: not a transaction ({exc})") from None

        async def op(session: ElectrumSession) -> str:
            try:
                reply = await session.request("blockchain.transaction.broadcast", [raw_tx.hex()])
            except ServerError as exc:
                # A retry after a lost connection finds our own earlier broadcast.
                text = exc.message
                if ("already" in text and "mempool" in text) or "known" in text:
                    return txid
                raise BroadcastRejected(f"transaction {txid} rejected: {exc.message}") from None
            if reply != txid:
                raise MalformedReply(f"broadcast of {txid} answered {reply!r}")
            return txid

        return await self._run(op)

    async def estimate_fee(self, target_blocks: int) -> int:
        if not 1 <= target_blocks <= 1008:
            raise InvalidChainInput(f"fee target must be 1..1008 blocks, got {target_blocks}")

        async def op(session: ElectrumSession) -> int:
            estimate = await session.request("blockchain.estimatefee", [target_blocks])
            relay = await session.request("blockchain.relayfee", [])
            for value in (estimate, relay):
                if not isinstance(value, int | float) or isinstance(value, bool):
                    raise MalformedReply(f"fee estimate is not a number: {value!r}")
            relay_sat = max(1000, round(float(relay) * 100_000_000))
            if estimate < 0:
                return relay_sat
            return max(relay_sat, round(float(estimate) * 100_000_000))

        return await self._run(op)

    async def find_spend(self, outpoint: OutPoint, script: bytes | None = None) -> Spend | None:
        _check_txid(outpoint.txid)
        if script is None:
            funding = await self.get_transaction(outpoint.txid)
            scripts = tx_outputs_scripts(funding.raw)
            if not 0 <= outpoint.vout < len(scripts):
                raise InvalidChainInput(f"{outpoint}: transaction has {len(scripts)} outputs")
            script = scripts[outpoint.vout]
        items = [i for i in await self.history(script) if i.txid != outpoint.txid]
        txs = await asyncio.gather(*(self.get_transaction(i.txid, i.height) for i in items))
        for item, tx in zip(items, txs, strict=True):
            for index, vin in enumerate(parse_tx(tx.raw).vin):
                if vin.txid.hex() == outpoint.txid and vin.vout == outpoint.vout:
                    return Spend(outpoint, item.txid, index, tx.height)
        return None

    # -- failover ---------------------------------------------------------------------

    async def _run(self, op: Callable[[ElectrumSession], Awaitable[_T]]) -> _T:
        """Run ``op`` on the active session; on failure or misbehaviour, on the next one."""
        deadline = time.monotonic() + self._call_timeout
        while True:
            session = await self._wait_session(deadline)
            try:
                return await op(session)
            except ServerMisbehaved as exc:
                self._drop(session.server, exc.message)
                await session.close(exc.message)
            except _Lagging as exc:
                self._ban(session.server, self._retry_s, str(exc))
                await session.close(str(exc))
            except ConnectionLost as exc:
                self._last_error = str(exc)
            if time.monotonic() >= deadline:
                raise ChainUnavailable(f"no Electrum server answered: {self._last_error}")

    async def _wait_session(self, deadline: float) -> ElectrumSession:
        if self._supervisor is None:
            raise ChainUnavailable("chain source not started")
        while True:
            session = self._session
            if session is not None and not session.closed:
                return session
            # A session closed by a caller stays in place until the supervisor notices:
            # clear the flag so we wait for the next session instead of spinning.
            self._ready.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ChainUnavailable(f"no Electrum server reachable: {self._last_error}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), remaining)

    def _pick_server(self) -> ServerAddress | None:
        now = time.monotonic()
        for i in range(len(self._servers)):
            server = self._servers[(self._next_server + i) % len(self._servers)]
            if self._banned.get(server, 0.0) <= now:
                self._next_server = (self._next_server + i + 1) % len(self._servers)
                return server
        return None

    def _ban(self, server: ServerAddress, seconds: float, reason: str) -> None:
        self._banned[server] = time.monotonic() + seconds
        self._last_error = f"{server}: {reason}"

    def _drop(self, server: ServerAddress, reason: str) -> None:
        _log.warning("electrum server dropped", extra={"server": str(server), "reason": reason})
        self.dropped.append((str(server), reason))
        metrics.DROPPED.labels(self.name).inc()
        self._ban(server, self._ban_s, reason)

    async def _supervise(self) -> None:
        previous: str | None = None
        while True:
            server = self._pick_server()
            if server is None:
                wake = min(self._banned.values()) - time.monotonic()
                await asyncio.sleep(min(max(wake, 0.05), 5.0))
                continue
            queue: asyncio.Queue[tuple[str, list[Any]] | None] = asyncio.Queue()

            def notify(method: str, params: list[Any], q: _NotificationQueue = queue) -> None:
                q.put_nowait((method, params))

            session = ElectrumSession(
                server,
                request_timeout=self._request_timeout,
                on_notification=notify,
                observe=self._observe,
            )
            try:
                await session.open(self._connect_timeout, self._tls_context)
                await self._prepare(session)
                if previous is not None:
                    metrics.SWITCHES.labels(self.name).inc()
                    self._emit(ServerSwitched(str(server), f"previous session ended: {previous}"))
                    previous = None
                await self._resubscribe(session)
            except ServerMisbehaved as exc:
                self._drop(server, exc.message)
                await session.close(exc.message)
                continue
            except (_Lagging, ConnectionLost) as exc:
                self._ban(server, self._retry_s, str(exc))
                await session.close(str(exc))
                continue
            self._session = session
            self._ready.set()
            try:
                await self._serve(session, queue)
            finally:
                self._ready.clear()
                self._session = None
                previous = session.close_reason or "closed"
                if session.misbehaved is not None and (
                    not self.dropped or self.dropped[-1] != (str(server), previous)
                ):
                    self._drop(server, previous)

    async def _serve(
        self, session: ElectrumSession, queue: asyncio.Queue[tuple[str, list[Any]] | None]
    ) -> None:
        watcher = asyncio.create_task(session.wait_closed())
        watcher.add_done_callback(lambda _: queue.put_nowait(None))
        try:
            while not session.closed:
                try:
                    item = await asyncio.wait_for(queue.get(), self._ping_interval_s)
                except TimeoutError:
                    with contextlib.suppress(ConnectionLost):
                        await session.request("server.ping", [])
                    continue
                if item is None:
                    break
                try:
                    await self._on_notification(session, *item)
                except ServerMisbehaved as exc:
                    self._drop(session.server, exc.message)
                    await session.close(exc.message)
                except _Lagging as exc:
                    self._ban(session.server, self._retry_s, str(exc))
                    await session.close(str(exc))
                except ConnectionLost:
                    break
        finally:
            watcher.cancel()
            await session.close(session.close_reason or "supervisor stopped")

    async def _prepare(self, session: ElectrumSession) -> None:
        tip = await session.request("blockchain.headers.subscribe", [])
        height, header_hex = _tip(tip)
        if self._chain is None:
            await self._init_chain(session)
        await self._sync_headers(session, height, header_hex)

    async def _resubscribe(self, session: ElectrumSession) -> None:
        """Subscribe every watched script again; report those that changed while away."""
        hashes = list(self._scripts)
        for i in range(0, len(hashes), _BATCH):
            chunk = hashes[i : i + _BATCH]
            replies = await asyncio.gather(
                *(session.request("blockchain.scripthash.subscribe", [sh]) for sh in chunk)
            )
            for sh, reply in zip(chunk, replies, strict=True):
                self._on_status(sh, _status(reply))

    async def _on_notification(
        self, session: ElectrumSession, method: str, params: list[Any]
    ) -> None:
        if method == "blockchain.headers.subscribe":
            if len(params) != 1:
                raise MalformedReply(f"headers notification with {len(params)} params")
            height, header_hex = _tip(params[0])
            await self._sync_headers(session, height, header_hex)
        elif method == "blockchain.scripthash.subscribe":
            if len(params) != 2 or not isinstance(params[0], str):
                raise MalformedReply(f"scripthash notification with params {params!r}")
            self._on_status(params[0], _status(params[1]))

    def _on_status(self, sh: str, status: str | None) -> None:
        script = self._scripts.get(sh)
        if script is None or self._status.get(sh, "") == status:
            return
        self._status[sh] = status
        self._emit(ScriptChanged(script, status))

    def _observe(self, method: str, seconds: float) -> None:
        metrics.REQUEST_LATENCY.labels(self.name, method).observe(seconds)

    def _emit(self, event: ChainEvent) -> None:
        for stream in list(self._streams):
            stream.put(event)

    # -- headers ---------------------------------------------------------------------

    def _require_chain(self) -> HeaderChain:
        if self._chain is None:
            raise ChainUnavailable("chain source has no headers yet: call start()")
        return self._chain

    async def _init_chain(self, session: ElectrumSession) -> None:
        params = self.network.params
        stored = self._store.load()
        if stored is not None:
            base, headers = stored
            self._chain = HeaderChain(params, base, headers, max_reorg_depth=self._max_reorg_depth)
            return
        if self._checkpoint is not None:
            base, header_hex = self._checkpoint
            if not params.no_retargeting and base % params.adjustment_interval:
                raise InvalidChainInput("a checkpoint must sit at a retarget height")
            header = BlockHeader.from_hex(header_hex)
        else:
            base = 0
            header = BlockHeader.from_hex(
                _hex(await session.request("blockchain.block.header", [0]))
            )
            if header.hash != params.genesis_hash:
                raise BadHeader(
                    f"{session.server} serves genesis {header.hash}, not the "
                    f"{self.network.value} genesis {params.genesis_hash}: wrong network"
                )
        self._chain = HeaderChain(params, base, [header], max_reorg_depth=self._max_reorg_depth)
        self._store.save(base, base, [header])

    async def _sync_headers(self, session: ElectrumSession, tip_height: int, tip_hex: str) -> None:
        async with self._sync_lock:
            chain = self._require_chain()
            tip_header = BlockHeader.from_hex(tip_hex)
            known = chain.height_of(tip_header.hash)
            if known is not None:
                if known != tip_height:
                    raise MalformedReply(
                        f"tip {tip_header.hash} announced at {tip_height}, is {known}"
                    )
                if known < chain.tip_height:
                    raise _Lagging(
                        f"{session.server} is at {known}, our chain at {chain.tip_height}"
                    )
                return
            if tip_height <= chain.base_height:
                raise _Lagging(f"{session.server} is at {tip_height}, below our base")
            start, back = min(chain.tip_height + 1, tip_height), 1
            # The next block's header is in the notification: no round trip (a small
            # reply ElectrumX may hold for a second).
            headers: list[BlockHeader] | None = None
            if tip_height == chain.tip_height + 1 and tip_header.prev_hash == chain.tip.hash:
                headers = [tip_header]
            while True:
                if headers is None:
                    headers = await self._fetch_headers(session, start, tip_height - start + 1)
                try:
                    update = chain.connect(start, headers)
                    break
                except NotConnected:
                    headers = None
                    if (
                        start <= chain.base_height + 1
                        or chain.tip_height - start >= self._max_reorg_depth
                    ):
                        raise ReorgTooDeep(
                            f"{session.server}'s chain does not meet ours within "
                            f"{self._max_reorg_depth} blocks"
                        ) from None
                    start, back = max(chain.base_height + 1, start - back), back * 2
                except LessWork as exc:
                    raise _Lagging(f"{session.server}: {exc}") from None
            if not update.connected:
                return
            self._store.save(
                chain.base_height,
                update.fork_height + 1,
                chain.headers_from(update.fork_height + 1),
            )
            metrics.TIP_HEIGHT.labels(self.name).set(chain.tip_height)
            if update.is_reorg:
                metrics.REORGS.labels(self.name).inc()
                _log.warning(
                    "chain reorganisation",
                    extra={"fork_height": update.fork_height, "depth": len(update.disconnected)},
                )
                self._emit(
                    Reorg(
                        update.fork_height, update.disconnected, update.connected, chain.tip_height
                    )
                )
            self._emit(NewTip(chain.tip_height, chain.tip.hash))

    async def _fetch_headers(
        self, session: ElectrumSession, start: int, count: int
    ) -> list[BlockHeader]:
        headers: list[BlockHeader] = []
        while len(headers) < count:
            height = start + len(headers)
            reply = await session.request(
                "blockchain.block.headers", [height, count - len(headers)]
            )
            if not isinstance(reply, dict) or not isinstance(reply.get("count"), int):
                raise MalformedReply(f"blockchain.block.headers replied {str(reply)[:200]!r}")
            raw = _hex(reply.get("hex"))
            got = reply["count"]
            if got <= 0 or len(raw) != got * HEADER_SIZE * 2 or got > count - len(headers):
                raise MalformedReply(
                    f"{session.server} announced height {start + count - 1} but sent "
                    f"{got} headers ({len(raw)} hex chars) from {height}"
                )
            data = bytes.fromhex(raw)
            headers.extend(
                BlockHeader(data[i : i + HEADER_SIZE]) for i in range(0, len(data), HEADER_SIZE)
            )
        return headers

    async def _server_tip(self, session: ElectrumSession) -> None:
        """Catch up with the server's current tip (it may be ahead of our last notification)."""
        height, header_hex = _tip(await session.request("blockchain.headers.subscribe", []))
        await self._sync_headers(session, height, header_hex)

    # -- transactions ------------------------------------------------------------------

    async def _get_tx(self, session: ElectrumSession, txid: str, height: int | None) -> TxInfo:
        # With a height hint the proof is asked for at once: one round trip, not two.
        proof_task = (
            asyncio.create_task(
                session.request("blockchain.transaction.get_merkle", [txid, height])
            )
            if height is not None and height > 0
            else None
        )
        try:
            raw = await self._fetch_raw(session, txid)
            if height is None:
                height = await self._find_height(session, txid, raw)
            if height is None or height <= 0:
                return TxInfo(txid, raw, None)
            return await self._prove(session, txid, raw, height, proof_task)
        finally:
            if proof_task is not None:
                if not proof_task.done():
                    proof_task.cancel()
                elif not proof_task.cancelled():
                    proof_task.exception()  # retrieved: an unused proof's error is no news

    async def _fetch_raw(self, session: ElectrumSession, txid: str) -> bytes:
        try:
            raw = bytes.fromhex(_hex(await session.request("blockchain.transaction.get", [txid])))
        except ServerError as exc:
            raise TransactionNotFound(f"transaction {txid} not found: {exc.message}") from None
        try:
            actual = txid_of(raw)
        except Exception:
            raise MalformedReply(
                f"{session.server} sent an unparsable transaction for {txid}"
            ) from None
        if actual != txid:
            raise MalformedReply(
                f"{session.server} sent transaction {actual} when asked for {txid}"
            )
        return raw

    async def _prove(
        self,
        session: ElectrumSession,
        txid: str,
        raw: bytes,
        height: int,
        proof_task: asyncio.Task[Any] | None,
    ) -> TxInfo:
        for attempt in range(2):
            chain = self._require_chain()
            header = chain.header_at(height)
            if header is None:
                await self._server_tip(session)
                header = chain.header_at(height)
                if header is None:
                    raise _Lagging(f"{txid} at height {height}, beyond our chain")
            try:
                if proof_task is not None:
                    proof, proof_task = await proof_task, None
                else:
                    proof = await session.request(
                        "blockchain.transaction.get_merkle", [txid, height]
                    )
            except ServerError:
                # The height hint may predate a reorg: ask where the server has it now.
                found = await self._find_height(session, txid, raw)
                if found is None:
                    return TxInfo(txid, raw, None)
                if found == height:
                    raise BadMerkleProof(
                        f"{session.server} lists {txid} at {height} but cannot prove it"
                    ) from None
                height = found
                continue
            branch, pos = _merkle(proof, height)
            try:
                verify_merkle_proof(txid, raw, branch, pos, header)
                return TxInfo(txid, raw, height, header.hash, pos)
            except BadMerkleProof:
                if attempt:
                    raise
                # Our header may be the one a reorg just replaced: catch up, then judge.
                await self._server_tip(session)
        raise BadMerkleProof(f"{session.server}: no proof for {txid} after a retry")

    async def _find_height(self, session: ElectrumSession, txid: str, raw: bytes) -> int | None:
        for script in tx_outputs_scripts(raw):
            if script[:1] == b"\x6a":
                continue
            reply = await session.request(
                "blockchain.scripthash.get_history", [script_hash(script)]
            )
            for item in _history(reply):
                if item.txid == txid:
                    return item.height
            return None
        return None


# -- reply parsing: anything unexpected is the server's fault ------------------------


def _check_txid(txid: str) -> None:
    if not isinstance(txid, str) or not _HEX64.match(txid):
        raise InvalidChainInput(f"txid must be 64 hex characters, got {txid!r}")


def _hex(value: Any) -> str:
    if not isinstance(value, str) or len(value) % 2:
        raise MalformedReply(f"expected a hex string, got {str(value)[:100]!r}")
    try:
        bytes.fromhex(value)
    except ValueError:
        raise MalformedReply(f"expected a hex string, got {value[:100]!r}") from None
    return value


def _tip(value: Any) -> tuple[int, str]:
    if not isinstance(value, dict) or not isinstance(value.get("height"), int):
        raise MalformedReply(f"header notification is not {{height, hex}}: {str(value)[:200]!r}")
    return value["height"], _hex(value.get("hex"))


def _status(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _HEX64.match(value):
        raise MalformedReply(f"script status is not a 32-byte hex hash: {str(value)[:100]!r}")
    return value


def _history(value: Any) -> list[HistoryItem]:
    if not isinstance(value, list):
        raise MalformedReply(f"history is not a list: {str(value)[:200]!r}")
    items = []
    for entry in value:
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("height"), int)
            or not isinstance(entry.get("tx_hash"), str)
            or not _HEX64.match(entry["tx_hash"])
        ):
            raise MalformedReply(f"history entry malformed: {str(entry)[:200]!r}")
        height = entry["height"]
        fee = entry.get("fee")
        items.append(
            HistoryItem(
                entry["tx_hash"],
                height if height > 0 else None,
                fee if isinstance(fee, int) else None,
            )
        )
    return items


def _utxos(value: Any) -> list[Utxo]:
    if not isinstance(value, list):
        raise MalformedReply(f"listunspent is not a list: {str(value)[:200]!r}")
    utxos = []
    for entry in value:
        ok = isinstance(entry, dict) and all(
            isinstance(entry.get(k), int) for k in ("height", "tx_pos", "value")
        )
        if (
            not ok
            or not isinstance(entry.get("tx_hash"), str)
            or not _HEX64.match(entry["tx_hash"])
        ):
            raise MalformedReply(f"unspent entry malformed: {str(entry)[:200]!r}")
        if entry["value"] < 0 or entry["tx_pos"] < 0:
            raise MalformedReply(f"unspent entry with a negative field: {entry!r}")
        height = entry["height"]
        utxos.append(
            Utxo(
                OutPoint(entry["tx_hash"], entry["tx_pos"]),
                entry["value"],
                height if height > 0 else None,
            )
        )
    return utxos


def _merkle(value: Any, height: int) -> tuple[list[str], int]:
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("merkle"), list)
        or not isinstance(value.get("pos"), int)
        or not all(isinstance(h, str) for h in value["merkle"])
    ):
        raise MalformedReply(f"merkle proof malformed: {str(value)[:200]!r}")
    if value.get("block_height", height) != height:
        raise BadMerkleProof(f"merkle proof for height {value.get('block_height')}, asked {height}")
    return list(value["merkle"]), value["pos"]
