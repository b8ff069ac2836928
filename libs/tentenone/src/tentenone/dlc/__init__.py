"""Discreet Log Contracts per dlcspecs (the copy in ``shared/specs/dlcspecs``).

Pure protocol code: values in, values out, no I/O. Modules, one concept each:

- ``tlv``: the wire primitives (BigSize, strings, script pubkeys, TLV streams)
- ``oracle_messages``: event descriptors, oracle events, announcements, attestations
- ``payout_curve``: payout functions (polynomial and hyperbola pieces), rounding
- ``decomposition``: digit decomposition and CET compression (digit prefixes)
- ``multi_oracle``: t-of-n oracle combinations, with and without allowed difference
- ``contract``: contract descriptors, oracle info, contract info
- ``cets``: the CET payouts and the adaptor signature plan of a contract
- ``curve``: the product's BTC/USD inverse-future payout curve
- ``messages``: offer_dlc, accept_dlc, sign_dlc
- ``adaptor``, ``transactions``: ECDSA adaptor signatures; funding, CETs, refund, fees
- ``adaptor_points``: the adaptor point of every CET signature (per-oracle hashing)
- ``signing``: a contract's transactions from its messages; CET and refund signatures
- ``validation``: every MUST of Protocol.md for a counterparty's message, attestations
- ``execution``: the CET an attestation unlocks and its adaptor secret
- ``errors``: the typed errors of this package
"""

__all__: list[str] = []
