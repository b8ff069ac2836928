"""The two-party trade protocol between the coordinator and a trader.

Pure: values in, values out, no I/O. Both sides use the same functions, so
what one side builds is exactly what the other checks. The coordinator is
always the dlcspecs *offerer*, the trader the *accepter*.

Modules, one concept each:

- ``states``: the contract states of each role and their allowed transitions
- ``terms``: the trade a contract implements (from the fill) and the contract
  it gives; the trader's check that an offer matches the trade it placed
- ``signer``: the ``InputSigner`` interface for wallet funding inputs
- ``messages``: the private TLV messages (close, renewal, reject) and a parser
  for every message of the protocol
- ``signed``: ``SignedContract``, everything a side keeps once a DLC is signed
- ``opening``: offer_dlc → accept_dlc → sign_dlc → the funding transaction
- ``settlement``: the CET an attestation unlocks, the refund transaction
- ``closing``: collaborative close (early close and liquidation)
- ``renewal``: rollover into the next expiry (a renewal transaction)
- ``errors``: the typed errors of the protocol
"""

__all__: list[str] = []
