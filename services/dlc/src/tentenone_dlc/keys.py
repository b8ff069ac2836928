"""The coordinator's funding key of each contract, derived from one seed.

``secret = HMAC-SHA256(seed, "tentenone/dlc/funding/" || position id)``: one
key per contract, nothing to store but the seed, the same after a restart.
(ADR 0103.)
"""

from __future__ import annotations

import hashlib
import hmac

from tentenone.bitcoin.curve import base_mult, scalar_from_bytes
from tentenone.errors import ConfigError

__all__ = ["FundingKeys"]


class FundingKeys:
    def __init__(self, seed: bytes) -> None:
        if len(seed) < 32:
            raise ConfigError("the funding seed must be at least 32 bytes")
        self._seed = seed

    def secret(self, label: str) -> bytes:
        digest = hmac.new(self._seed, f"tentenone/dlc/funding/{label}".encode(), hashlib.sha256)
        secret = digest.digest()
        scalar_from_bytes(secret, "funding secret")  # below the curve order
        return secret

    def pubkey(self, label: str) -> bytes:
        return bytes(base_mult(scalar_from_bytes(self.secret(label), "secret")).format())
