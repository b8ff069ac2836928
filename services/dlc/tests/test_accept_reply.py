"""An accept_dlc's reply says what is true when verification outlasts the wait for it:
stored, being verified; sign_dlc or a reject follows on the protocol channel."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import time
from typing import Any

import pytest
from dlc_world import Start, Trader
from sqlalchemy import update

from tentenone.dlc.messages import OfferDlc, SignDlc
from tentenone.dlc.protocol.messages import Reject
from tentenone.dlc.protocol.opening import sign_accept
from tentenone_dlc import coordinator as coordinator_module
from tentenone_dlc.models import Contract


async def test_the_reply_comes_before_the_verification(start: Start) -> None:
    world = await start(accept_reply_s=0)
    trader = Trader(world, "ivy")
    await world.match(trader)
    position_id, offer = await trader.next_message("offer_dlc")
    assert isinstance(offer, OfferDlc)
    accept = await trader.accept(offer)
    reply = await trader.submit(position_id, accept, "accept_dlc")
    assert reply.state == "offered" and "verifying" in reply.note
    again = await trader.submit(position_id, accept, "accept_dlc")  # a resend joins it
    assert again.state in ("offered", "signed")
    _, sign = await trader.next_message("sign_dlc")
    assert isinstance(sign, SignDlc)
    await trader.wait_state(position_id, "signed")
    row = await world.contract(position_id)
    assert row.pending_accept_hex is None and row.accept_hex == accept.serialize().hex()


async def test_a_bad_accept_found_after_the_reply_is_rejected_and_released(
    start: Start,
) -> None:
    world = await start(accept_reply_s=0, watch=["dlc.released"])
    trader = Trader(world, "jay")
    await world.match(trader)
    position_id, offer = await trader.next_message("offer_dlc")
    assert isinstance(offer, OfferDlc)
    accept = await trader.accept(offer)
    sigs = list(accept.cet_adaptor_signatures)
    sigs[0], sigs[1] = sigs[1], sigs[0]
    bad = dataclasses.replace(accept, cet_adaptor_signatures=tuple(sigs))
    reply = await trader.submit(position_id, bad, "accept_dlc")
    assert reply.state == "offered"
    _, reject = await trader.next_message("reject")
    assert isinstance(reject, Reject) and reject.code == "dlc_invalid_adaptor_signature"
    released = await trader.wait_state(position_id, "cancelled")
    assert "dlc_invalid_adaptor_signature" in released.note
    assert not world.wallet.locked or all(v != position_id for v in world.wallet.locked.values())


async def test_a_stored_accept_is_verified_after_a_restart(start: Start) -> None:
    """As if killed at dlc.coordinator.accept.after_store: the accept is stored, no task
    verifies it; the poll resumes it and sign_dlc follows."""
    world = await start()
    trader = Trader(world, "kim")
    await world.match(trader)
    position_id, offer = await trader.next_message("offer_dlc")
    assert isinstance(offer, OfferDlc)
    accept = await trader.accept(offer)
    async with world.coordinator().ctx.transaction() as s:
        await s.exec(
            update(Contract)
            .where(Contract.id == position_id)  # type: ignore[arg-type]
            .values(
                pending_accept_hex=accept.serialize().hex(),
                deadline=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5),
            )
        )
    _, sign = await trader.next_message("sign_dlc")
    assert isinstance(sign, SignDlc)
    await trader.wait_state(position_id, "signed")


@pytest.mark.parametrize("slots", [1, 2])
async def test_accepts_are_verified_and_signed_signing_slots_at_a_time(
    start: Start, monkeypatch: pytest.MonkeyPatch, slots: int
) -> None:
    """Several accepts at once queue for ``signing_slots``: no more run together, and
    every one is signed."""
    running, most = 0, 0

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal running, most
        running += 1
        most = max(most, running)
        try:
            time.sleep(0.3)  # long enough for the others to arrive meanwhile
            return sign_accept(*args, **kwargs)
        finally:
            running -= 1

    monkeypatch.setattr(coordinator_module, "sign_accept", counted)
    world = await start(accept_reply_s=0, signing_slots=slots)
    traders = [Trader(world, f"slot{slots}-{n}") for n in range(3)]
    accepts = []
    for trader in traders:
        await world.match(trader)
        position_id, offer = await trader.next_message("offer_dlc")
        assert isinstance(offer, OfferDlc)
        accepts.append((trader, position_id, await trader.accept(offer)))
    await asyncio.gather(*(t.submit(p, a, "accept_dlc") for t, p, a in accepts))
    for trader, position_id, _ in accepts:
        await trader.wait_state(position_id, "signed")
    assert most == slots
