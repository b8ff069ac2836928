"""Bitcoin networks and the consensus parameters a header chain checks."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["ChainParams", "Network"]


@dataclass(frozen=True, slots=True)
class ChainParams:
    """The proof-of-work rules of one network (Bitcoin Core's ``Consensus::Params``)."""

    genesis_hash: str
    pow_limit: int
    target_spacing_s: int = 600
    target_timespan_s: int = 14 * 24 * 60 * 60
    allow_min_difficulty: bool = False
    no_retargeting: bool = False

    @property
    def adjustment_interval(self) -> int:
        return self.target_timespan_s // self.target_spacing_s


_MAIN_LIMIT = 0x00000000FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF
_SIGNET_LIMIT = 0x00000377AE000000000000000000000000000000000000000000000000000000
_REGTEST_LIMIT = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF


class Network(enum.StrEnum):
    """A Bitcoin network; its value is the name embit and the config use."""

    MAINNET = "main"
    TESTNET = "test"
    SIGNET = "signet"
    REGTEST = "regtest"

    @property
    def params(self) -> ChainParams:
        return _PARAMS[self]

    @property
    def bech32_hrp(self) -> str:
        return {"main": "bc", "test": "tb", "signet": "tb", "regtest": "bcrt"}[self.value]

    @property
    def coin_type(self) -> int:
        """BIP-44 coin type: 0 on mainnet, 1 on every test network."""
        return 0 if self is Network.MAINNET else 1

    @classmethod
    def parse(cls, name: str) -> Network:
        aliases = {"mainnet": "main", "bitcoin": "main", "testnet": "test"}
        key = aliases.get(name.lower(), name.lower())
        try:
            return cls(key)
        except ValueError:
            from tentenone.chain.errors import InvalidChainInput

            names = ", ".join(n.value for n in cls)
            raise InvalidChainInput(f"unknown network {name!r}; expected one of {names}") from None


_PARAMS: dict[Network, ChainParams] = {
    Network.MAINNET: ChainParams(
        genesis_hash="000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f",
        pow_limit=_MAIN_LIMIT,
    ),
    Network.TESTNET: ChainParams(
        genesis_hash="000000000933ea01ad0ee984209779baaec3ced90fa3f408719526f8d77f4943",
        pow_limit=_MAIN_LIMIT,
        allow_min_difficulty=True,
    ),
    Network.SIGNET: ChainParams(
        genesis_hash="00000008819873e925422c1ff0f99f7cc9bbb232af63a077a480a3633bee1ef6",
        pow_limit=_SIGNET_LIMIT,
    ),
    Network.REGTEST: ChainParams(
        genesis_hash="0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206",
        pow_limit=_REGTEST_LIMIT,
        allow_min_difficulty=True,
        no_retargeting=True,
    ),
}
