"""The gateway's public models: exact price conversion, WebSocket operations, AsyncAPI part."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import TypeAdapter, ValidationError

from tentenone.wire import gateway as g

OPS: TypeAdapter[g.ClientMessage] = TypeAdapter(g.ClientMessage)


def test_cents_become_exact_two_decimal_dollars() -> None:
    assert g.cents_to_usd(9_000_050) == Decimal("90000.50")
    assert str(g.cents_to_usd(1)) == "0.01"
    assert g.cents_to_usd(123_456_789_012_345).as_tuple().exponent == -2


def test_client_operations_parse_strictly() -> None:
    op = OPS.validate_json(
        '{"op":"subscribe","channels":["book:btcusd1","price"],"resume":{"price":3}}'
    )
    assert isinstance(op, g.SubscribeOp) and op.resume == {"price": 3}
    assert isinstance(OPS.validate_json('{"op":"ping"}'), g.PingOp)
    for bad in (
        '{"op":"subscribe","channels":[]}',
        '{"op":"subscribe","channels":["positions:' + "ab" * 32 + '"]}',
        '{"op":"subscribe","channels":["book"]}',
        '{"op":"subscribe","channels":["price"],"resume":{"price":-1}}',
        '{"op":"subscribe","channels":["price"],"resume":{"price":"3"}}',
        '{"op":"subscribe","channels":["price"],"resume":{"price":true}}',
        '{"op":"ping","extra":1}',
        '{"op":"auth","token":""}',
        '{"op":"dance"}',
        "[]",
    ):
        with pytest.raises(ValidationError):
            OPS.validate_json(bad)


def test_the_asyncapi_part_names_every_channel_and_operation() -> None:
    part = g.asyncapi_extension()
    assert part["channels"]["ws"]["address"] == g.WS_PATH
    messages = part["messages"]
    for channel in g.WS_CHANNELS:
        update = messages[f"ws-update-{channel.name}"]["payload"]
        assert update["properties"]["data"] == {
            "$ref": f"#/components/schemas/{channel.update.__name__}"
        }
        assert (f"ws-snapshot-{channel.name}" in messages) == (channel.snapshot is not None)
    for op in ("AuthOp", "SubscribeOp", "UnsubscribeOp", "PingOp"):
        assert f"ws-client-{op}" in messages
    assert "PositionPublic" in part["schemas"]
    sends = part["operations"]["ws-gateway-sends"]["messages"]
    assert {"$ref": "#/channels/ws/messages/ws-server-ErrorMessage"} in sends
