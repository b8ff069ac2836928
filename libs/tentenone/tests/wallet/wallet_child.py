"""A wallet in its own process, for the kill -9 test: ``send`` or ``resume``.

python wallet_child.py send SERVER STATE_FILE ADDRESS SATS
python wallet_child.py resume SERVER STATE_FILE
"""

from __future__ import annotations

import asyncio
import sys

from tentenone.chain import ElectrumChainSource, Network
from tentenone.wallet import AddressKind, FilePersister, Wallet, WalletAccount

WORDS = "legal winner thank year wave sausage worth useful legal winner thank yellow"


async def main(argv: list[str]) -> int:
    mode, server, state_file = argv[:3]
    source = ElectrumChainSource([server], Network.REGTEST, call_timeout=120.0)
    await source.start()
    account = WalletAccount.from_mnemonic(WORDS, Network.REGTEST, AddressKind.P2WPKH, account=80)
    wallet = Wallet(account, source, FilePersister(state_file), gap_limit=5)
    await wallet.start()  # resume: the sync rebroadcasts what was saved but never seen
    if mode == "send":
        print("sending", flush=True)
        txid = await wallet.send([(argv[3], int(argv[4]))], fee_rate_kvb=2000)
        print(f"sent {txid}", flush=True)
    print("done", flush=True)
    await wallet.close()
    await source.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
