"""What changed for a watch and which events it makes: the pure rules, case by case."""

from __future__ import annotations

from dataclasses import replace

from tentenone.wire.chain import BlockRef, OutpointSpent, TxConfirmed
from tentenone_chain_monitor.reconcile import (
    ROLE_CREATES,
    ROLE_HISTORY,
    ROLE_SPENDS,
    Seen,
    TxState,
    WatchSpec,
    disconnect,
    event_id,
    progress,
    reconcile,
)

TX = "aa" * 32
SPEND = "bb" * 32
B100, B100_OTHER, B101 = "10" * 32, "1f" * 32, "11" * 32

SCRIPT = WatchSpec(
    id="w1",
    owner="dlc",
    ref="c1/funding",
    kind="script",
    script=b"\x00\x14" + b"\x01" * 20,
    script_hash="00" * 32,
    outpoint_txid=None,
    outpoint_vout=None,
    depths=(1, 3, 6),
)
OUTPOINT = replace(SCRIPT, id="w2", kind="outpoint", outpoint_txid=TX, outpoint_vout=1)


def tip(height: int) -> BlockRef:
    return BlockRef(height=height, hash=f"{height:064x}")


def confirmed(events: list) -> list[tuple[str, int, str]]:  # type: ignore[type-arg]
    return [
        (e.event.txid, e.event.depth, e.event.block_hash)
        for e in events
        if isinstance(e.event, TxConfirmed)
    ]


def test_mempool_then_each_depth_once() -> None:
    states, events = reconcile(SCRIPT, {}, [Seen(TX, ROLE_HISTORY, None, None)], tip(99))
    assert events == [] and states[TX].height is None and not states[TX].awaiting

    states, events = reconcile(SCRIPT, states, [Seen(TX, ROLE_HISTORY, 100, B100)], tip(100))
    assert confirmed(events) == [(TX, 1, B100)]
    assert states[TX].depth_done == 1 and states[TX].awaiting

    # Nothing new in the history, two more blocks: depth 3 only.
    state, events = progress(SCRIPT, states[TX], tip(102))
    assert confirmed(events) == [(TX, 3, B100)]
    assert events[0].event.confirmations == 3
    again, events = progress(SCRIPT, state, tip(102))
    assert events == [] and again == state

    state, events = progress(SCRIPT, state, tip(110))
    assert confirmed(events) == [(TX, 6, B100)] and not state.awaiting
    assert events[0].event.confirmations == 11


def test_catching_up_reports_every_depth_passed() -> None:
    states, events = reconcile(SCRIPT, {}, [Seen(TX, ROLE_HISTORY, 100, B100)], tip(104))
    assert confirmed(events) == [(TX, 1, B100), (TX, 3, B100)]
    assert {e.event.confirmations for e in events} == {5}
    assert states[TX].depth_done == 3


def test_same_facts_change_nothing_and_ids_are_stable() -> None:
    states, first = reconcile(SCRIPT, {}, [Seen(TX, ROLE_HISTORY, 100, B100)], tip(100))
    changed, events = reconcile(SCRIPT, states, [Seen(TX, ROLE_HISTORY, 100, B100)], tip(100))
    assert changed == {} and events == []
    # Were the same round computed again (a crash before commit), the ids repeat.
    _, repeat = reconcile(SCRIPT, {}, [Seen(TX, ROLE_HISTORY, 100, B100)], tip(100))
    assert [e.event_id for e in repeat] == [e.event_id for e in first]


def test_reorg_into_another_block_confirms_again_with_new_ids() -> None:
    states, first = reconcile(SCRIPT, {}, [Seen(TX, ROLE_HISTORY, 100, B100)], tip(102))
    reset = {TX: disconnect(states[TX])}
    assert reset[TX].generation == 1 and reset[TX].depth_done == 0
    states, events = reconcile(SCRIPT, reset, [Seen(TX, ROLE_HISTORY, 100, B100_OTHER)], tip(103))
    assert confirmed(events) == [(TX, 1, B100_OTHER), (TX, 3, B100_OTHER)]
    assert not {e.event_id for e in events} & {e.event_id for e in first}


def test_flip_back_to_the_same_block_is_reported_again() -> None:
    states, first = reconcile(SCRIPT, {}, [Seen(TX, ROLE_HISTORY, 100, B100)], tip(100))
    back, events = reconcile(SCRIPT, {TX: disconnect(states[TX])}, [], tip(100))
    assert back[TX].listed is False and events == []
    states, events = reconcile(SCRIPT, back, [Seen(TX, ROLE_HISTORY, 100, B100)], tip(100))
    assert confirmed(events) == [(TX, 1, B100)]
    assert events[0].event_id != first[0].event_id


def test_moved_block_without_a_reorg_mark_is_a_new_confirmation() -> None:
    states, _ = reconcile(SCRIPT, {}, [Seen(TX, ROLE_HISTORY, 100, B100)], tip(100))
    states, events = reconcile(SCRIPT, states, [Seen(TX, ROLE_HISTORY, 101, B101)], tip(101))
    assert confirmed(events) == [(TX, 1, B101)] and states[TX].generation == 1


def test_evicted_from_the_mempool() -> None:
    states, _ = reconcile(SCRIPT, {}, [Seen(TX, ROLE_HISTORY, None, None)], tip(99))
    states, events = reconcile(SCRIPT, states, [], tip(99))
    assert events == [] and states[TX].listed is False and states[TX].generation == 1
    unchanged, events = reconcile(SCRIPT, states, [], tip(99))
    assert unchanged == {} and events == []


def test_outpoint_spent_in_mempool_then_in_a_block() -> None:
    facts = [Seen(TX, ROLE_CREATES, 100, B100), Seen(SPEND, ROLE_SPENDS, None, None, 0)]
    states, events = reconcile(OUTPOINT, {}, facts, tip(100))
    spent = [e.event for e in events if isinstance(e.event, OutpointSpent)]
    assert len(spent) == 1 and not spent[0].confirmed and spent[0].spending_txid == SPEND
    assert spent[0].outpoint.txid == TX and spent[0].outpoint.vout == 1
    assert confirmed(events) == [(TX, 1, B100)]
    assert states[SPEND].spent_reported == "mempool"

    facts = [Seen(TX, ROLE_CREATES, 100, B100), Seen(SPEND, ROLE_SPENDS, 101, B101, 0)]
    changed, events = reconcile(OUTPOINT, states, facts, tip(101))
    assert set(changed) == {SPEND}  # only what changed comes back
    states = {**states, **changed}
    spent = [e.event for e in events if isinstance(e.event, OutpointSpent)]
    assert [(s.confirmed, s.block_hash, s.block_height) for s in spent] == [(True, B101, 101)]
    assert confirmed(events) == [(SPEND, 1, B101)]
    _, events = reconcile(OUTPOINT, states, facts, tip(101))
    assert events == []


def test_spend_first_seen_in_a_block_reports_once() -> None:
    facts = [Seen(SPEND, ROLE_SPENDS, 101, B101, 2)]
    _, events = reconcile(OUTPOINT, {}, facts, tip(101))
    spent = [e.event for e in events if isinstance(e.event, OutpointSpent)]
    assert [(s.confirmed, s.input_index) for s in spent] == [(True, 2)]


def test_other_transactions_of_the_script_have_no_events() -> None:
    states, events = reconcile(OUTPOINT, {}, [Seen(SPEND, "other", 100, B100)], tip(120))
    assert events == [] and states[SPEND].awaiting is False


def test_event_ids_are_uuids_that_name_their_parts() -> None:
    import uuid

    a = event_id("confirmed", "w", TX, 1, B100, 0)
    assert uuid.UUID(a).version == 5
    assert a == event_id("confirmed", "w", TX, 1, B100, 0)
    assert a != event_id("confirmed", "w", TX, 1, B100, 1)


def test_tx_state_defaults() -> None:
    state = TxState(TX, ROLE_HISTORY)
    assert state.listed and state.generation == 0 and state.depth_done == 0
