"""tentenone devnet: a regtest node on libbitcoinkernel, bitcoind JSON-RPC, ElectrumX."""

__all__: list[str] = []
