"""Addresses to output scripts and back, checked against the wallet's network."""

from __future__ import annotations

from tentenone.chain.network import Network
from tentenone.wallet._embit import networks, script
from tentenone.wallet.errors import InvalidAddress, WrongNetwork

__all__ = ["address_to_script", "dust_limit", "script_to_address"]

_HRPS = {"bc": Network.MAINNET, "tb": Network.TESTNET, "bcrt": Network.REGTEST}


def address_to_script(address: str, network: Network) -> bytes:
    """The output script paying ``address``; ``WrongNetwork`` if it belongs to another network."""
    if not isinstance(address, str) or not address or len(address) > 120:
        raise InvalidAddress("an address is a non-empty string of at most 120 characters")
    try:
        sc = script.Script.from_address(address)
    except Exception:
        raise InvalidAddress(f"{address!r} is not a valid Bitcoin address") from None
    data = bytes(sc.data)
    if script_to_address(data, network) != address and (
        address.lower() != script_to_address(data, network)
    ):
        other = _network_of(address)
        where = f"a {other.value} address" if other else "an address of another network"
        raise WrongNetwork(f"{address!r} is {where}; this wallet is on {network.value}")
    return data


def script_to_address(output_script: bytes, network: Network) -> str:
    return str(script.Script(output_script).address(networks.NETWORKS[network.value]))


def dust_limit(output_script: bytes) -> int:
    """Bitcoin Core's dust threshold at its default 3 sat/vB dust relay fee."""
    size = 8 + 1 + len(output_script)
    witness = len(output_script) >= 4 and output_script[0] in (0x00, *range(0x51, 0x61))
    spend = 32 + 4 + 1 + 107 // 4 + 4 if witness else 32 + 4 + 1 + 107 + 4
    return 3 * (size + spend)


def _network_of(address: str) -> Network | None:
    if "1" in address:
        hrp = address.lower().rsplit("1", 1)[0]
        if hrp in _HRPS:
            return _HRPS[hrp]
    return None
