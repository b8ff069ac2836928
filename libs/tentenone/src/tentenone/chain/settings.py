"""Settings types shared by everything that talks to Electrum servers."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator
from pydantic_settings import NoDecode

from tentenone.chain.electrum_session import ServerAddress
from tentenone.chain.errors import InvalidChainInput

__all__ = ["ElectrumServers"]


def _split(value: Any) -> Any:
    # TENTENONE_ELECTRUM_SERVERS is "tcp://a:1,tcp://b:2", as the devnet exports it;
    # a JSON list is accepted too.
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


def _check(value: list[str]) -> list[str]:
    for server in value:
        try:
            ServerAddress.parse(server)
        except InvalidChainInput as exc:
            raise ValueError(exc.message) from None
    return value


#: Electrum servers tried in turn: ``tcp://host:port`` or ``ssl://host:port``,
#: comma-separated (or a JSON list) in the environment.
type ElectrumServers = Annotated[
    list[str], NoDecode, BeforeValidator(_split), AfterValidator(_check)
]
