"""The chain monitor: other services' watched scripts and outpoints, followed on chain.

``service`` (RPC and events: ``tentenone.wire.chain``), ``monitor`` (the
rounds), ``reconcile`` (what changed and which events that makes),
``watches`` (registration), ``queries`` (broadcast, transaction and outpoint
status), ``repository`` and ``models`` (its tables).
"""
