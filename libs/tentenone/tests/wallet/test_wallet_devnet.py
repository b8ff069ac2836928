"""The wallet against the real devnet node (Bitcoin Core's script checks) and ElectrumX."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

pytest.importorskip("tentenone_devnet.testing")

from chainutil import account, next_event, start_source, wait_until

from tentenone.chain import ElectrumChainSource, Network, OutPoint, Reorg
from tentenone.wallet import (
    AddressKind,
    CannotBumpFee,
    FilePersister,
    InsufficientFunds,
    InvalidWalletInput,
    MemoryPersister,
    PsbtInput,
    UnknownTransaction,
    Wallet,
    WalletPersister,
    WrongNetwork,
    create_psbt,
    extract_transaction,
    psbt_fee,
    script_to_address,
    tx_weight,
)

pytestmark = pytest.mark.slow


async def _wallet(
    source: ElectrumChainSource,
    index: int,
    kind: AddressKind = AddressKind.P2WPKH,
    persister: WalletPersister | None = None,
) -> Wallet:
    wallet = Wallet(account(index, kind), source, persister or MemoryPersister(), gap_limit=5)
    await wallet.start()
    return wallet


def _mempool(net) -> set[str]:  # type: ignore[no-untyped-def]
    return set(net.rpc.call("getrawmempool"))


@pytest.mark.parametrize("kind", list(AddressKind))
async def test_receive_send_rbf_cpfp(devnet_electrum, kind: AddressKind) -> None:  # type: ignore[no-untyped-def]
    net = devnet_electrum
    source = await start_source(net.electrum_address)
    payer = await _wallet(source, 20 + (kind is AddressKind.P2TR), kind)
    payee = await _wallet(source, 30 + (kind is AddressKind.P2TR), kind)
    try:
        address = await payer.new_address()
        await asyncio.to_thread(net.fund, address, 1_000_000)
        await wait_until(
            lambda: payer.balance().unconfirmed == 1_000_000, 30, "unconfirmed receipt"
        )
        await asyncio.to_thread(net.mine, 1)
        await wait_until(lambda: payer.balance().confirmed == 1_000_000, 30, "confirmed receipt")

        before = payer.balance()
        target = await payee.new_address()
        with pytest.raises(InsufficientFunds):
            await payer.send([(target, 2_000_000)], fee_rate_kvb=2000)
        with pytest.raises(WrongNetwork, match="main address"):
            await payer.send(
                [("bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu", 10_000)], fee_rate_kvb=2000
            )
        with pytest.raises(InvalidWalletInput, match="dust"):
            await payer.send([(target, 100)], fee_rate_kvb=2000)
        with pytest.raises(InvalidWalletInput, match="fee rate"):
            await payer.send([(target, 10_000)], fee_rate_kvb=10)
        with pytest.raises(UnknownTransaction):
            await payer.bump_fee("00" * 32, 5000)
        assert payer.balance() == before and _mempool(net).isdisjoint(payer._state.txs)

        txid = await payer.send([(await payee.new_address(), 300_000)], fee_rate_kvb=2000)
        assert txid in _mempool(net)
        await wait_until(lambda: payee.balance().unconfirmed == 300_000, 30, "payee sees payment")
        fee1 = 1_000_000 - 300_000 - payer.balance().total
        assert fee1 > 0

        replacement = await payer.bump_fee(txid, 5000)
        mempool = _mempool(net)
        assert replacement in mempool and txid not in mempool
        await wait_until(lambda: txid not in payer._state.txs, 30, "replaced tx forgotten")
        fee2 = 1_000_000 - 300_000 - payer.balance().total
        vsize2 = (tx_weight(bytes.fromhex(payer.transaction(replacement).raw)) + 3) // 4
        assert fee2 >= fee1 + vsize2 and fee2 * 1000 >= 5000 * vsize2
        assert payee.balance().unconfirmed == 300_000

        child = await payer.cpfp(replacement, 20_000)
        assert {replacement, child} <= _mempool(net)
        parent_entry = net.rpc.call("getmempoolentry", replacement)
        child_entry = net.rpc.call("getmempoolentry", child)
        package_fee = parent_entry["fees"]["base"] + child_entry["fees"]["base"]
        package_vsize = parent_entry["vsize"] + child_entry["vsize"]
        assert round(package_fee * 100_000_000) * 1000 >= 20_000 * package_vsize - 1000

        await asyncio.to_thread(net.mine, 1)
        # The balance alone can settle before the wallet has read the parent's block: the
        # child (its change) may be refreshed first, and the parent pays no unspent output
        # of ours. Wait for the parent itself.
        await wait_until(
            lambda: (
                payer.transaction(replacement).height is not None
                and payer.balance().unconfirmed == 0
                and payer.balance().confirmed > 0
            ),
            30,
            "mined",
        )
        await wait_until(lambda: payee.balance().confirmed == 300_000, 30, "payee confirmed")
        with pytest.raises(CannotBumpFee, match="already confirmed"):
            await payer.bump_fee(replacement, 9000)
        spent = 1_000_000 - 300_000 - payer.balance().confirmed
        assert spent == fee2 + (
            child_entry["fees"]["base"] and round(child_entry["fees"]["base"] * 100_000_000)
        )
    finally:
        await payer.close()
        await payee.close()
        await source.close()


async def test_bumping_a_transaction_mined_behind_the_wallets_back(devnet_electrum) -> None:  # type: ignore[no-untyped-def]
    """The wallet's view lags the chain: the node's missing-inputs answer is CannotBumpFee."""
    net = devnet_electrum
    source = await start_source(net.electrum_address)
    payer = await _wallet(source, 22)
    try:
        await asyncio.to_thread(net.fund, await payer.new_address(), 300_000, True)
        await wait_until(lambda: payer.balance().confirmed == 300_000, 30, "funded")
        txid = await payer.send([(account(32).derive(0, 0).script, 100_000)], fee_rate_kvb=2000)
        await payer.close()  # stops following the chain: the block below stays unseen
        await asyncio.to_thread(net.mine, 1)
        with pytest.raises(CannotBumpFee, match="already spent in a block"):
            await payer.bump_fee(txid, 5000)
        assert payer.transaction(txid).height is None  # unchanged until the next refresh
    finally:
        await payer.close()
        await source.close()


async def test_dlc_style_funding_each_party_signs_its_input(devnet_electrum) -> None:  # type: ignore[no-untyped-def]
    net = devnet_electrum
    source = await start_source(net.electrum_address)
    alice = await _wallet(source, 40, AddressKind.P2WPKH)
    bob = await _wallet(source, 41, AddressKind.P2TR)
    try:
        for w in (alice, bob):
            await asyncio.to_thread(net.fund, await w.new_address(), 400_000)
        await asyncio.to_thread(net.mine, 1)
        for w in (alice, bob):
            await wait_until(lambda w=w: w.balance().confirmed == 400_000, 30, "funded")
        a_coins = await alice.reserve_coins(150_000, 2000, reason="dlc test")
        b_coins = await bob.reserve_coins(150_000, 2000, reason="dlc test")
        assert alice.balance().locked == 400_000
        assert alice.locked_coins() == {c.outpoint: "dlc test" for c in a_coins}
        with pytest.raises(InsufficientFunds):
            await alice.reserve_coins(150_000, 2000, reason="again")
        inputs = [PsbtInput(c.outpoint, c.value, c.script) for c in a_coins + b_coins]
        funding_script = bytes.fromhex("0020") + bytes(32)  # stands for the 2-of-2 output
        outputs = [
            (funding_script, 300_000),
            (alice.account.derive(1, 0).script, 400_000 - 150_000 - 1_000),
            (bob.account.derive(1, 0).script, 400_000 - 150_000 - 1_000),
        ]
        psbt = create_psbt(alice.account, inputs, outputs)
        assert psbt_fee(psbt) == 2_000
        signed = bob.sign_psbt(alice.sign_psbt(psbt, [0]), [1])
        raw = extract_transaction(signed)
        [verdict] = net.rpc.call("testmempoolaccept", [raw.hex()])
        assert verdict["allowed"], verdict
        await alice.release_coins([c.outpoint for c in a_coins])
        assert alice.balance().locked == 0
        assert alice.locked_coins() == {}
    finally:
        await alice.close()
        await bob.close()
        await source.close()


async def test_wallet_restarts_from_its_file(devnet_electrum, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    net = devnet_electrum
    persister = FilePersister(tmp_path / "wallet.json")
    source = await start_source(net.electrum_address)
    wallet = await _wallet(source, 50, persister=persister)
    address = await wallet.new_address()
    await asyncio.to_thread(net.fund, address, 123_456, True)
    await wait_until(lambda: wallet.balance().confirmed == 123_456, 30, "received")
    await wallet.close()
    # While the wallet is closed, a second payment arrives to the next address.
    second = script_to_address(wallet.account.derive(0, 1).script, Network.REGTEST)
    await asyncio.to_thread(net.fund, second, 10_000, True)
    again = Wallet(wallet.account, source, persister, gap_limit=5)
    await again.start()
    try:
        await wait_until(lambda: again.balance().confirmed == 133_456, 30, "caught up")
        assert (await again.new_address()) not in (address, second)
    finally:
        await again.close()
        await source.close()


async def test_three_block_reorg_replaces_a_confirmed_payment(devnet_factory) -> None:  # type: ignore[no-untyped-def]
    net = devnet_factory(electrum=True)
    source = await start_source(net.electrum_address)
    events = source.events()
    payer = await _wallet(source, 60)
    payee = await _wallet(source, 61)
    try:
        await asyncio.to_thread(net.fund, await payer.new_address(), 500_000, True)
        await wait_until(lambda: payer.balance().confirmed == 500_000, 30, "funded")
        txid = await payer.send([(await payee.new_address(), 200_000)], fee_rate_kvb=2000)
        [block_hash] = await asyncio.to_thread(net.mine, 1)
        height = net.rpc.call("getblockheader", block_hash)["height"]
        await asyncio.to_thread(net.mine, 2)
        await wait_until(lambda: payee.balance().confirmed == 200_000, 30, "payment confirmed")

        # The conflicting spend: the same coin, all of it back to the payer.
        [coin] = [(OutPoint(i.txid.hex(), i.vout)) for i in _vin(payer.transaction(txid).raw)]
        funded = _value_of(payer, coin)
        derived = payer._by_script[_script_of(payer, coin)]
        back = payer.account.derive(0, 3).script
        psbt = create_psbt(
            payer.account,
            [PsbtInput(coin, funded, derived.script, derived)],
            [(back, funded - 500)],
        )
        conflict = extract_transaction(payer.sign_psbt(psbt))
        await asyncio.to_thread(net.reorg, height, 4, [conflict.hex()])

        reorg = await next_event(events, Reorg, within_s=60)
        assert reorg.fork_height == height - 1 and len(reorg.disconnected) == 3
        assert block_hash in reorg.disconnected
        await wait_until(lambda: payee.balance().total == 0, 60, "payee's payment gone")
        await wait_until(lambda: payer.balance().confirmed == funded - 500, 60, "payer's balance")
        assert txid not in payer._state.txs and txid not in _mempool(net)
    finally:
        await payer.close()
        await payee.close()
        await source.close()


def _vin(raw_hex: str):  # type: ignore[no-untyped-def]
    from tentenone.wallet._embit import transaction

    return transaction.Transaction.parse(bytes.fromhex(raw_hex)).vin


def _script_of(wallet: Wallet, outpoint: OutPoint) -> bytes:
    from tentenone.wallet._embit import transaction

    tx = transaction.Transaction.parse(bytes.fromhex(wallet.transaction(outpoint.txid).raw))
    return bytes(tx.vout[outpoint.vout].script_pubkey.data)


def _value_of(wallet: Wallet, outpoint: OutPoint) -> int:
    from tentenone.wallet._embit import transaction

    tx = transaction.Transaction.parse(bytes.fromhex(wallet.transaction(outpoint.txid).raw))
    return int(tx.vout[outpoint.vout].value)


async def test_restore_from_words_finds_coins_past_the_gap(devnet_electrum) -> None:  # type: ignore[no-untyped-def]
    """Gap limit 5: a coin at index 3 makes the wallet look up to 8, where index 7 is found."""
    net = devnet_electrum
    acct = account(70, AddressKind.P2TR)
    for index, sats in ((3, 30_000), (7, 70_000)):
        address = script_to_address(acct.derive(0, index).script, Network.REGTEST)
        await asyncio.to_thread(net.fund, address, sats)
    change = script_to_address(acct.derive(1, 2).script, Network.REGTEST)
    await asyncio.to_thread(net.fund, change, 5_000)
    await asyncio.to_thread(net.mine, 1)
    beyond = script_to_address(acct.derive(0, 14).script, Network.REGTEST)  # past 7 + 5: lost
    await asyncio.to_thread(net.fund, beyond, 1_000, True)
    source = await start_source(net.electrum_address)
    restored = Wallet(account(70, AddressKind.P2TR), source, MemoryPersister(), gap_limit=5)
    try:
        await restored.start()
        await wait_until(lambda: restored.balance().confirmed == 105_000, 30, "restored balance")
        assert len(restored._derived[0]) == 13 and len(restored._derived[1]) == 8
        # The next address handed out is the first unused one, not past the used ones.
        assert await restored.new_address() == script_to_address(
            acct.derive(0, 0).script, Network.REGTEST
        )
    finally:
        await restored.close()
        await source.close()


async def test_wallet_killed_between_saving_and_broadcasting_resends(
    devnet_electrum, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """Persist before send: a wallet process SIGKILLed after saving its signed transaction,
    before any server saw it (a proxy swallows the broadcast), sends it on restart."""
    import json
    import os
    import signal
    import subprocess
    import sys

    from electrum_proxy import RewritingProxy

    net = devnet_electrum
    child = str(Path(__file__).parent / "wallet_child.py")
    state = tmp_path / "wallet.json"
    acct = account(80)
    funded = script_to_address(acct.derive(0, 0).script, Network.REGTEST)
    await asyncio.to_thread(net.fund, funded, 80_000, True)
    dest = script_to_address(account(81).derive(0, 0).script, Network.REGTEST)
    proxy = RewritingProxy(net.electrum_address)
    proxy.corrupt.add("swallow_broadcast")
    swallowing = await proxy.start()
    cmd = [sys.executable, child, "send", swallowing, str(state), dest, "30000"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)  # noqa: ASYNC220

    def pending() -> list[str]:
        try:
            saved = json.loads(state.read_text())
        except (OSError, ValueError):
            return []
        return [txid for txid, tx in saved["txs"].items() if not tx["seen"]]

    try:
        await wait_until(lambda: bool(pending()) and bool(proxy.rewritten), 60, "tx saved")
        [txid] = pending()
        os.kill(proc.pid, signal.SIGKILL)
        assert await asyncio.to_thread(proc.wait, 10) == -signal.SIGKILL
        assert txid not in _mempool(net)
        resumed = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, child, "resume", f"tcp://{net.electrum_address}", str(state)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        assert txid in _mempool(net)
    finally:
        if proc.poll() is None:
            proc.kill()
        await proxy.close()
