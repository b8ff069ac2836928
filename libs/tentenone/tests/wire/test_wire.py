"""Wire models: registry, validation, and the generated AsyncAPI document."""

from pathlib import Path

import pytest
import yaml

from tentenone.wire import (
    REGISTRY,
    DuplicateWireName,
    Event,
    InvalidWireName,
    MalformedMessage,
    RpcMethod,
    UnknownEventType,
    WireModel,
    WireRegistry,
    asyncapi,
)


class PriceTicked(Event):
    """The price moved."""

    event_type = "wiretest.price_ticked"
    source = "wiretest"
    price: int


class QuoteRequest(WireModel):
    symbol: str


class QuoteReply(WireModel):
    price: int


QUOTE = RpcMethod("wiretest", "quote", QuoteRequest, QuoteReply, summary="the last price")


def test_event_subclasses_register_by_type() -> None:
    assert REGISTRY.event_class("wiretest.price_ticked") is PriceTicked
    with pytest.raises(UnknownEventType):
        REGISTRY.event_class("wiretest.nothing")
    assert REGISTRY.rpc_method("wiretest", "quote") is QUOTE


def test_two_models_cannot_claim_one_event_type() -> None:
    with pytest.raises(DuplicateWireName):

        class Impostor(Event):
            event_type = "wiretest.price_ticked"
            source = "wiretest"

    with pytest.raises(DuplicateWireName):
        RpcMethod("wiretest", "quote", QuoteReply, QuoteRequest)


@pytest.mark.parametrize(
    "bad", ["Upper.case", "a..b", "has space", "star.*", "hash.#", "", "x" * 300]
)
def test_malformed_event_types_are_refused(bad: str) -> None:
    with pytest.raises(InvalidWireName):

        class Bad(Event):
            event_type = bad
            source = "wiretest"


def test_bad_rpc_declarations_are_refused() -> None:
    with pytest.raises(InvalidWireName):
        RpcMethod("Bad Service", "quote", QuoteRequest, QuoteReply)
    with pytest.raises(InvalidWireName):
        RpcMethod("wiretest", "no-dash", QuoteRequest, QuoteReply)
    with pytest.raises(DuplicateWireName):
        RpcMethod("wiretest", "raw", dict, QuoteReply)  # type: ignore[type-var]


def test_models_are_strict_and_frozen() -> None:
    with pytest.raises(MalformedMessage):
        PriceTicked.from_json_bytes(b'{"price": 1, "extra": 2}')
    with pytest.raises(MalformedMessage):
        PriceTicked.from_json_bytes(b"not json")
    tick = PriceTicked.from_json_bytes(b'{"price": 5}')
    with pytest.raises(ValueError):
        tick.price = 6  # type: ignore[misc]
    assert PriceTicked.from_json_bytes(tick.to_json_bytes()) == tick


def test_asyncapi_document_describes_events_and_rpc() -> None:
    registry = WireRegistry()
    registry.register_event(PriceTicked)
    registry.register_rpc(QUOTE)
    doc = asyncapi.build_document(registry, include=lambda model: True)
    assert doc["asyncapi"] == "3.0.0"
    channel = doc["channels"]["wiretest_events-wiretest_price_ticked"]
    assert channel["address"] == "wiretest.price_ticked"
    assert channel["bindings"]["amqp"]["exchange"]["name"] == "wiretest.events"
    rpc = doc["channels"]["rpc-wiretest_quote"]
    assert rpc["address"] == "wiretest.quote"
    assert rpc["bindings"]["amqp"]["exchange"]["name"] == "nameko-rpc"
    op = doc["operations"]["wiretest-serves-quote"]
    assert op["action"] == "receive" and "reply" in op
    schemas = doc["components"]["schemas"]
    assert schemas["PriceTicked"]["properties"]["price"]["type"] == "integer"
    assert "QuoteRequest" in schemas and "QuoteReply" in schemas
    # Round-trips through YAML.
    assert yaml.safe_load(yaml.safe_dump(doc)) == doc


def test_models_outside_tentenone_wire_are_not_published() -> None:
    doc = asyncapi.build_document()
    assert "wiretest_events-wiretest_price_ticked" not in doc["channels"]


def test_docs_asyncapi_yaml_is_up_to_date() -> None:
    root = next(p for p in Path(__file__).resolve().parents if (p / "uv.lock").exists())
    path = root / "docs" / "asyncapi.yaml"
    assert path.exists(), "docs/asyncapi.yaml is missing: run python -m tentenone.wire.asyncapi"
    assert path.read_text() == asyncapi.render(), (
        "docs/asyncapi.yaml is stale: run python -m tentenone.wire.asyncapi"
    )
