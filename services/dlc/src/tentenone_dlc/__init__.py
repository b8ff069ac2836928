"""The coordinator's DLC service: every matched trade becomes a DLC with the trader.

Modules: ``settings``, ``models`` (tables and the contract state machine),
``keys`` (per-contract funding keys), ``ports`` (wallet, chain, oracle
interfaces and their production implementations), ``coordinator`` (the
flows), ``views`` (wire views of positions), ``service`` (RPC, consumers,
background tasks).
"""

__all__: list[str] = []
