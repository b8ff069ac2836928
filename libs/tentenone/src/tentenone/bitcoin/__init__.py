"""Bitcoin primitives the DLC code builds on, on coincurve (libsecp256k1).

Pure functions and values, no I/O. Modules, one concept each:

- ``curve``: secp256k1 points and scalars, parsers with typed errors
- ``keys``: secret keys, compressed and x-only public keys
- ``hashes``: SHA256, HASH256, HASH160, BIP-340 tagged hashes
- ``tx``: typed transactions, BIP-144 serialization, a strict parser
- ``script``: the 2-of-2 funding script, standard script pubkeys, addresses
- ``sighash``: BIP-143 digests (and a sighasher shared by many CETs)
- ``ecdsa``: RFC 6979 low-R/low-S signatures, strict DER, compact form
- ``errors``: the typed errors of this package
"""

__all__: list[str] = []
