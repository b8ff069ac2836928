"""Helpers for tests against the devnet: waiting, scripts, building spends."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from tentenone.chain import ChainEvent, ElectrumChainSource, EventStream, Network, OutPoint
from tentenone.wallet import (
    AddressKind,
    PsbtInput,
    WalletAccount,
    create_psbt,
    extract_transaction,
    sign_inputs,
)

WORDS = "legal winner thank year wave sausage worth useful legal winner thank yellow"


async def wait_until(
    predicate: Callable[[], Awaitable[bool]] | Callable[[], bool], within_s: float, what: str
) -> None:
    deadline = time.monotonic() + within_s
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within_s}s waiting for {what}")
        await asyncio.sleep(0.05)


async def next_event(
    stream: EventStream,
    kind: type,
    within_s: float = 30.0,
    where: Callable[[ChainEvent], bool] | None = None,
) -> ChainEvent:
    """The next event of ``kind`` (skipping others) within ``within_s`` seconds."""
    deadline = time.monotonic() + within_s
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no {kind.__name__} event within {within_s}s")
        event = await stream.next(remaining)
        if isinstance(event, kind) and (where is None or where(event)):
            return event


async def start_source(*servers: str, **kwargs: float) -> ElectrumChainSource:
    source = ElectrumChainSource(
        [s if "://" in s else f"tcp://{s}" for s in servers],
        Network.REGTEST,
        request_timeout=kwargs.pop("request_timeout", 10.0),
        connect_timeout=2.0,
        retry_s=0.2,
        **kwargs,  # type: ignore[arg-type]
    )
    await source.start()
    return source


def account(index: int = 0, kind: AddressKind = AddressKind.P2WPKH) -> WalletAccount:
    return WalletAccount.from_mnemonic(WORDS, Network.REGTEST, kind, account=index)


def spend(
    acct: WalletAccount, branch_index: int, outpoint: OutPoint, value: int, to: bytes, fee: int
) -> bytes:
    """A signed transaction spending ``outpoint`` (ours at receive index ``branch_index``)."""
    derived = acct.derive(0, branch_index)
    psbt = create_psbt(
        acct, [PsbtInput(outpoint, value, derived.script, derived)], [(to, value - fee)]
    )
    return extract_transaction(sign_inputs(psbt, acct, {0: derived}))
