"""The gateway client's reading of error replies: a 5xx is "try again", a 4xx a refusal.

The gateway is stood in for by httpx's MockTransport: what is tested is the
mapping of problem details to errors (the end-to-end tests run the real one,
with the DLC service killed behind it).
"""

from __future__ import annotations

import httpx
import pytest

from tentenone.errors import RemoteError, TentenoneError
from tentenone.trader.errors import GatewayUnavailable
from tentenone.trader.gateway import HttpGateway


def _gateway(status: int, code: str) -> HttpGateway:
    def reply(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/auth/challenge") or request.url.path.endswith("/session"):
            return httpx.Response(500, json={"code": "unused", "detail": "no sign-in here"})
        body = {"code": code, "detail": f"{code} from behind the gateway", "status": status}
        return httpx.Response(status, json=body)

    gateway = HttpGateway("http://gateway.test", b"\x02" * 33, lambda digest: b"\x00" * 64)
    gateway._http = httpx.AsyncClient(
        base_url="http://gateway.test", transport=httpx.MockTransport(reply)
    )
    return gateway


@pytest.mark.parametrize(
    ("status", "code"),
    [(504, "rpc_timeout"), (503, "bus_unavailable"), (502, "upstream"), (500, "internal")],
)
async def test_a_5xx_of_any_code_is_gateway_unavailable(status: int, code: str) -> None:
    gateway = _gateway(status, code)
    try:
        with pytest.raises(GatewayUnavailable, match=code):
            await gateway.markets()
    finally:
        await gateway.close()


async def test_a_4xx_stays_the_refusal_it_names() -> None:
    gateway = _gateway(409, "some_conflict_code")
    try:
        with pytest.raises(TentenoneError) as raised:
            await gateway.markets()
        assert not isinstance(raised.value, GatewayUnavailable)
        assert isinstance(raised.value, RemoteError)
    finally:
        await gateway.close()
