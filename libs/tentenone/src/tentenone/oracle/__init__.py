"""Oracle maths per dlcspecs Oracle.md: BIP-340 signatures with the oracle tags,
announcements and attestations, outcome hashing, attestation (adaptor) points.

Pure functions and values, no I/O. Modules:

- ``schnorr``: BIP-340 sign / sign with a fixed nonce / verify / signature points
- ``hashing``: ``OracleHashing`` (per-oracle setting: plain SHA256 as rust-dlc and
  the vectors, or the tagged hashes of Oracle.md) and outcome normalization
- ``announcement``: signing and verifying an oracle event
- ``attestation``: attesting outcomes, verifying attestations, attestation points,
  and ``DigitPointTable`` for the batch computation of a contract's adaptor points
"""

__all__: list[str] = []
