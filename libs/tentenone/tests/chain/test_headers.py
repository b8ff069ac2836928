from __future__ import annotations

import pytest
from headerutil import REGTEST_GENESIS, chain_on, mine, unmined

from tentenone.chain.errors import BadHeader, ReorgTooDeep
from tentenone.chain.headers import (
    BlockHeader,
    HeaderChain,
    LessWork,
    NotConnected,
    bits_to_target,
    target_to_bits,
    work_of,
)
from tentenone.chain.network import ChainParams, Network

T0 = 1_700_000_000


def test_regtest_genesis_hash_matches_network_params() -> None:
    assert REGTEST_GENESIS.hash == Network.REGTEST.params.genesis_hash


def test_mainnet_headers_from_the_protocol_docs_parse_and_link() -> None:
    genesis = BlockHeader.from_hex(
        "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd"
        "7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c"
    )
    block1 = BlockHeader.from_hex(
        "010000006fe28c0ab6f1b372c1a6a246ae63f74f931e8365e15a089c68d6190000000000982051fd"
        "1e4ba744bbbe680e1fee14677ba1a3c3540bf7b1cdb606e857233e0e61bc6649ffff001d01e36299"
    )
    assert genesis.hash == Network.MAINNET.params.genesis_hash
    chain = HeaderChain(Network.MAINNET.params, 0, [genesis])
    update = chain.connect(1, [block1])
    assert update.connected == (block1.hash,) and not update.is_reorg
    assert chain.tip_height == 1


@pytest.mark.parametrize("bits", [0x1D00FFFF, 0x207FFFFF, 0x1B0404CB, 0x03123456, 0x05009234])
def test_compact_round_trip(bits: int) -> None:
    assert target_to_bits(bits_to_target(bits)) == bits


@pytest.mark.parametrize("bits", [0x04923456, 0x01003456, 0xFF123456, 0x00000000])
def test_bad_compact_targets_are_refused(bits: int) -> None:
    with pytest.raises(BadHeader):
        bits_to_target(bits)


def test_extends_and_rejects_headers_without_enough_work() -> None:
    chain = HeaderChain(Network.REGTEST.params, 0, [REGTEST_GENESIS])
    headers = chain_on(REGTEST_GENESIS, 5, T0)
    chain.connect(1, headers)
    assert chain.tip_height == 5 and chain.height_of(headers[-1].hash) == 5
    weak = unmined(headers[-1], T0 + 10)
    with pytest.raises(BadHeader, match="not enough work"):
        chain.connect(6, [weak])
    assert chain.tip_height == 5


def test_rejects_wrong_bits_and_target_above_limit() -> None:
    chain = HeaderChain(Network.REGTEST.params, 0, [REGTEST_GENESIS])
    harder = mine(REGTEST_GENESIS, T0, bits=0x1F7FFFFF)
    with pytest.raises(BadHeader, match="requires"):
        chain.connect(1, [harder])
    main = HeaderChain(Network.MAINNET.params, 0, [REGTEST_GENESIS])
    with pytest.raises(BadHeader, match="pow limit"):
        main.connect(1, [mine(REGTEST_GENESIS, T0)])


def test_not_connected_and_broken_continuity() -> None:
    chain = HeaderChain(Network.REGTEST.params, 0, [REGTEST_GENESIS])
    a = chain_on(REGTEST_GENESIS, 3, T0)
    with pytest.raises(NotConnected):
        chain.connect(2, a[1:])
    other = chain_on(REGTEST_GENESIS, 2, T0, salt=b"x")
    with pytest.raises(BadHeader, match="does not build"):
        chain.connect(1, [a[0], other[1]])
    assert chain.tip_height == 0


def test_reorg_needs_more_work_and_reports_what_changed() -> None:
    chain = HeaderChain(Network.REGTEST.params, 0, [REGTEST_GENESIS])
    main = chain_on(REGTEST_GENESIS, 6, T0)
    chain.connect(1, main)
    fork_parent = main[2]  # height 3
    same_length = chain_on(fork_parent, 3, T0 + 100, salt=b"b")
    with pytest.raises(LessWork):
        chain.connect(4, same_length)
    longer = chain_on(fork_parent, 4, T0 + 100, salt=b"b")
    update = chain.connect(4, longer)
    assert update.is_reorg and update.fork_height == 3
    assert update.disconnected == tuple(h.hash for h in main[3:])
    assert update.connected == tuple(h.hash for h in longer)
    assert chain.tip_height == 7 and chain.height_of(main[-1].hash) is None
    # Resending headers we hold changes nothing.
    assert not chain.connect(1, main[:3] + longer).connected


def test_reorg_deeper_than_the_limit_is_refused() -> None:
    chain = HeaderChain(Network.REGTEST.params, 0, [REGTEST_GENESIS], max_reorg_depth=2)
    main = chain_on(REGTEST_GENESIS, 5, T0)
    chain.connect(1, main)
    with pytest.raises(ReorgTooDeep):
        chain.connect(2, chain_on(main[0], 6, T0, salt=b"c"))


def test_retargeting_follows_the_timespan() -> None:
    """A mainnet-like network with a 4-block interval: the target moves with the block times."""
    params = ChainParams(
        genesis_hash=REGTEST_GENESIS.hash,
        pow_limit=Network.REGTEST.params.pow_limit,
        target_spacing_s=600,
        target_timespan_s=2400,
    )
    chain = HeaderChain(params, 0, [REGTEST_GENESIS])
    prev, time = REGTEST_GENESIS, REGTEST_GENESIS.time
    for _ in range(3):
        time += 300  # twice as fast as planned
        prev = mine(prev, time, bits=0x207FFFFF)
        chain.connect(chain.tip_height + 1, [prev])
    expected = target_to_bits(bits_to_target(0x207FFFFF) * 900 // 2400)
    with pytest.raises(BadHeader, match="requires"):
        chain.connect(4, [mine(prev, time + 300, bits=0x207FFFFF)])
    chain.connect(4, [mine(prev, time + 300, bits=expected)])
    assert chain.tip.bits == expected
    assert work_of(expected) > work_of(0x207FFFFF)


def test_min_difficulty_rule_on_testnet_like_params() -> None:
    limit = target_to_bits(Network.REGTEST.params.pow_limit)
    params = ChainParams(
        genesis_hash=REGTEST_GENESIS.hash,
        pow_limit=Network.REGTEST.params.pow_limit,
        allow_min_difficulty=True,
        no_retargeting=True,
    )
    chain = HeaderChain(params, 0, [REGTEST_GENESIS])
    # Regtest genesis is itself at the limit, so every later header must be too.
    chain.connect(1, chain_on(REGTEST_GENESIS, 3, T0))
    with pytest.raises(BadHeader):
        chain.connect(4, [mine(chain.tip, T0 + 5, bits=0x1F7FFFFF)])
    assert chain.tip.bits == limit
