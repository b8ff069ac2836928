"""Fixtures of the bus tests: the same tests on the in-process bus and on RabbitMQ."""

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tentenone.bus import Bus, BusLimits, MemoryBroker

MakeBus = Callable[..., Awaitable[Bus]]


@pytest.fixture(params=["memory", "rabbitmq"])
def bus_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def make_bus(request: pytest.FixtureRequest, bus_kind: str) -> AsyncIterator[MakeBus]:
    """``await make_bus(service, limits=None)``: a started bus; all closed after the test.

    Every bus of one test shares one broker: one in-process broker, or one
    RabbitMQ vhost made for the test.
    """
    url = request.getfixturevalue("amqp_url") if bus_kind == "rabbitmq" else None
    broker = MemoryBroker()
    buses: list[Bus] = []

    async def make(service: str, limits: BusLimits | None = None) -> Bus:
        bus = Bus.for_url(service, url, broker=broker, limits=limits)
        await bus.start()
        buses.append(bus)
        return bus

    yield make
    for bus in reversed(buses):
        await bus.close(grace_s=2)
