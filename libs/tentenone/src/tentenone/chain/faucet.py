"""The devnet faucet: the devnet node pays a test amount to an address (regtest only).

A devnet tool, not a wallet: it asks the node (``devnet_fund``, the devnet's
own RPC method) to pay from its faucet and returns the transaction id.
"""

from __future__ import annotations

from decimal import Decimal

import httpx

from tentenone.errors import ConfigError, RemoteError, Unavailable

__all__ = ["Faucet"]


class Faucet:
    def __init__(self, rpc_url: str, user: str, password: str, *, timeout_s: float = 30.0) -> None:
        self._url = rpc_url
        self._auth = (user, password)
        self._timeout = timeout_s

    async def fund(self, address: str, amount_btc: Decimal, *, confirm: bool = True) -> str:
        body = {
            "jsonrpc": "1.0",
            "id": "faucet",
            "method": "devnet_fund",
            "params": [address, str(amount_btc), confirm],
        }
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as http:
                reply = await http.post(self._url, json=body, auth=self._auth)
        except httpx.HTTPError as exc:
            raise Unavailable(f"the devnet node at {self._url} cannot be reached: {exc}") from None
        if reply.status_code == 401:
            raise ConfigError("the devnet node refused the RPC credentials")
        try:
            answer = reply.json()
        except ValueError:
            raise Unavailable(f"the devnet node answered {reply.status_code}, not JSON") from None
        error = answer.get("error")
        if error:
            raise RemoteError(
                f"the faucet refused: {error.get('message')}", remote_code=str(error.get("code"))
            )
        return str(answer["result"]["txid"])
