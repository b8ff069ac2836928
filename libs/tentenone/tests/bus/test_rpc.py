"""RPC: typed calls, typed errors, timeouts and malformed replies, on both buses."""

import asyncio
from typing import Any

import pytest

from tentenone.bus import (
    Bus,
    MalformedReply,
    MethodNotFound,
    RpcCall,
    RpcTimeout,
    UnknownService,
)
from tentenone.bus.message import Delivery, Envelope
from tentenone.bus.rpc import decode_error, encode_error
from tentenone.bus.transport import ExchangeKind, QueueSpec
from tentenone.errors import ConflictError, InvalidInput, RemoteError
from tentenone.logging import bind_correlation_id, get_correlation_id
from tentenone.wire import MalformedMessage, RpcMethod, WireModel

from .conftest import MakeBus


class AddRequest(WireModel):
    a: int
    b: int


class AddReply(WireModel):
    total: int
    seen_correlation_id: str | None = None


class TooBig(ConflictError):
    code = "rpctest_too_big"


ADD = RpcMethod("rpctest-calc", "add", AddRequest, AddReply, summary="add two integers")


async def _calc(make_bus: MakeBus) -> Bus:
    server = await make_bus("rpctest-calc")

    async def add(req: AddRequest, call: RpcCall) -> AddReply:
        if req.a + req.b > 1000:
            raise TooBig("sum above 1000", limit=1000)
        return AddReply(total=req.a + req.b, seen_correlation_id=get_correlation_id())

    async def boom(call: RpcCall) -> Any:
        raise ZeroDivisionError("division by zero")

    async def hang(call: RpcCall) -> Any:
        await asyncio.sleep(30)

    async def echo(call: RpcCall) -> Any:
        return {"args": call.args, "kwargs": call.kwargs}

    await server.serve_typed(ADD, add)
    await server.serve("boom", boom)
    await server.serve("hang", hang)
    await server.serve("echo", echo)
    return server


async def test_typed_call_returns_the_response_model_and_carries_the_trace(
    make_bus: MakeBus,
) -> None:
    await _calc(make_bus)
    client = await make_bus("rpctest-client")
    with bind_correlation_id("trace-rpc-1"):
        reply = await client.request(ADD, AddRequest(a=2, b=3), timeout_s=5)
    assert reply == AddReply(total=5, seen_correlation_id="trace-rpc-1")
    raw = await client.call("rpctest-calc", "echo", args=[1, "x"], kwargs={"k": None})
    assert raw == {"args": [1, "x"], "kwargs": {"k": None}}


async def test_concurrent_calls_get_their_own_replies(make_bus: MakeBus) -> None:
    await _calc(make_bus)
    client = await make_bus("rpctest-client")
    replies = await asyncio.gather(
        *(client.request(ADD, AddRequest(a=i, b=i), timeout_s=5) for i in range(50))
    )
    assert [r.total for r in replies] == [2 * i for i in range(50)]


async def test_remote_tentenone_error_comes_back_as_its_class(make_bus: MakeBus) -> None:
    await _calc(make_bus)
    client = await make_bus("rpctest-client")
    with pytest.raises(TooBig) as err:
        await client.request(ADD, AddRequest(a=999, b=2), timeout_s=5)
    assert err.value.message == "sum above 1000"
    assert err.value.details == {"limit": 1000}


async def test_remote_bug_comes_back_as_remote_error(make_bus: MakeBus) -> None:
    await _calc(make_bus)
    client = await make_bus("rpctest-client")
    with pytest.raises(RemoteError) as err:
        await client.call("rpctest-calc", "boom", timeout_s=5)
    assert err.value.remote_code == "internal"
    assert "ZeroDivisionError" in err.value.message


def test_an_unknown_code_keeps_the_remote_http_status() -> None:
    class Unlisted(ConflictError):
        code = "rpctest_unlisted"

    encoded = encode_error(Unlisted("taken"))
    assert encoded["http_status"] == 409
    encoded["code"] = "rpctest_never_declared"
    decoded = decode_error(encoded)
    assert isinstance(decoded, RemoteError)
    assert (decoded.remote_code, decoded.remote_status) == ("rpctest_never_declared", 409)
    # A status that is not an HTTP error status is dropped, not trusted.
    for odd in (200, 999, "409", True):
        decoded = decode_error({**encoded, "http_status": odd})
        assert isinstance(decoded, RemoteError) and decoded.remote_status is None
    assert encode_error(ValueError("bug"))["http_status"] == 500


async def test_bad_request_is_rejected_by_the_server_model(make_bus: MakeBus) -> None:
    await _calc(make_bus)
    client = await make_bus("rpctest-client")
    with pytest.raises(MalformedMessage):
        await client.call("rpctest-calc", "add", kwargs={"a": 1, "b": "two"}, timeout_s=5)
    with pytest.raises(MalformedMessage):
        await client.call("rpctest-calc", "add", args=[1, 2], timeout_s=5)


async def test_unknown_method_and_unknown_service(make_bus: MakeBus) -> None:
    await _calc(make_bus)
    client = await make_bus("rpctest-client")
    with pytest.raises(MethodNotFound):
        await client.call("rpctest-calc", "nope", timeout_s=5)
    with pytest.raises(UnknownService):
        await client.call("rpctest-nobody", "add", timeout_s=5)


async def test_timeout_is_rpc_timeout(make_bus: MakeBus) -> None:
    await _calc(make_bus)
    client = await make_bus("rpctest-client")
    with pytest.raises(RpcTimeout) as err:
        await client.call("rpctest-calc", "hang", timeout_s=0.3)
    assert err.value.code == "rpc_timeout"
    # The client is still usable after a timeout.
    assert (await client.request(ADD, AddRequest(a=1, b=1), timeout_s=5)).total == 2


async def _odd_server(make_bus: MakeBus, replies: list[bytes]) -> None:
    """A service answering with raw bodies: what a broken or hostile peer could send."""
    odd = await make_bus("rpctest-odd")
    transport, names = odd.transport, odd.names
    await transport.declare_exchange(names.rpc_exchange(), ExchangeKind.TOPIC)
    await transport.declare_queue(QueueSpec(names.rpc_queue("rpctest-odd")))
    await transport.bind(names.rpc_queue("rpctest-odd"), names.rpc_exchange(), "rpctest-odd.*")

    async def answer(delivery: Delivery) -> None:
        body = replies.pop(0)
        await transport.publish(
            names.rpc_exchange(),
            delivery.reply_to or "",
            Envelope(body=body, correlation_id=delivery.correlation_id, persistent=False),
        )
        await delivery.ack()

    await transport.consume(names.rpc_queue("rpctest-odd"), answer, 10)


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1, 2]", b'{"neither": 1}', b'{"result": null, "error": "oops"}'],
)
async def test_malformed_reply_is_malformed_reply(make_bus: MakeBus, body: bytes) -> None:
    await _odd_server(make_bus, [body])
    client = await make_bus("rpctest-client")
    with pytest.raises(MalformedReply):
        await client.call("rpctest-odd", "anything", timeout_s=5)


async def test_reply_not_matching_the_response_model_is_malformed(make_bus: MakeBus) -> None:
    await _odd_server(make_bus, [b'{"result": {"total": "many"}, "error": null}'])
    client = await make_bus("rpctest-client")
    odd = RpcMethod("rpctest-odd", "add", AddRequest, AddReply)
    with pytest.raises(MalformedReply):
        await client.request(odd, AddRequest(a=1, b=2), timeout_s=5)


async def test_nameko_shaped_error_without_code_is_remote_error(make_bus: MakeBus) -> None:
    error = (
        b'{"result": null, "error": {"exc_type": "ValueError", '
        b'"exc_path": "builtins.ValueError", "exc_args": ["bad"], "value": "bad"}}'
    )
    await _odd_server(make_bus, [error])
    client = await make_bus("rpctest-client")
    with pytest.raises(RemoteError) as err:
        await client.call("rpctest-odd", "anything", timeout_s=5)
    assert err.value.remote_code == "ValueError"


async def test_bad_arguments_to_call_change_nothing(make_bus: MakeBus) -> None:
    await _calc(make_bus)
    client = await make_bus("rpctest-client")
    with pytest.raises(InvalidInput):
        await client.call("Not A Service", "add")
    with pytest.raises(InvalidInput):
        await client.call("rpctest-calc", "add-with-dash")
    with pytest.raises(InvalidInput):
        await client.call("rpctest-calc", "echo", timeout_s=-1)
    with pytest.raises(InvalidInput):
        await client.call("rpctest-calc", "echo", args="abc")
    with pytest.raises(InvalidInput):
        await client.call("rpctest-calc", "echo", kwargs=[("a", 1)])  # type: ignore[arg-type]
    with pytest.raises(MalformedMessage):
        await client.call("rpctest-calc", "echo", kwargs={"x": object()})
    with pytest.raises(InvalidInput):
        await client.request(ADD, AddReply(total=1), timeout_s=5)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        await client.serve("echo", "not callable")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        await client.serve_typed(ADD, lambda r, c: r)  # type: ignore[arg-type,return-value]
    # The client still works.
    assert (await client.request(ADD, AddRequest(a=1, b=2), timeout_s=5)).total == 3


async def test_oversize_request_is_refused_before_sending(make_bus: MakeBus) -> None:
    from tentenone.bus import BusLimits, MessageTooLarge

    await _calc(make_bus)
    client = await make_bus("rpctest-client", BusLimits(max_message_bytes=1000))
    with pytest.raises(MessageTooLarge):
        await client.call("rpctest-calc", "echo", kwargs={"x": "y" * 2000}, timeout_s=5)
