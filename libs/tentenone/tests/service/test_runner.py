"""The service runner, in-process: RPC, outbox, idempotent consumers, HTTP probes, shutdown."""

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from sqlalchemy import func, select

from tentenone.bus import Bus, MemoryBroker
from tentenone.config import BaseServiceSettings
from tentenone.errors import ConfigError, InvalidInput
from tentenone.service import Context, RunnerState, Service, ServiceRunner
from tentenone.store.migrations import downgrade
from tentenone.testing import wait_until
from tentenone.wire import Event, RpcMethod

from .ledger import ADD_ENTRY, AUDITED, MIGRATIONS, AddEntry, EntryAdded, audit, ledger

Start = Callable[..., Awaitable[ServiceRunner]]


@pytest.fixture(params=["embedded", "rabbitmq+postgresql"])
def stack(request: pytest.FixtureRequest) -> tuple[str | None, str]:
    """The two ways services run: the embedded default, and the coordinator's stack."""
    if request.param == "embedded":
        tmp = request.getfixturevalue("tmp_path")
        return None, f"sqlite+aiosqlite:///{tmp}/{{service}}.db"
    return request.getfixturevalue("amqp_url"), request.getfixturevalue("pg_url")


@pytest.fixture
async def start(stack: tuple[str | None, str]) -> AsyncIterator[Start]:
    """``await start(service, **settings)``: a started runner; all stopped after the test."""
    amqp, url = stack
    broker = MemoryBroker()
    runners: list[ServiceRunner] = []

    async def go(service: Service, **overrides: Any) -> ServiceRunner:
        settings = service.settings_cls(database_url=url, amqp_url=amqp, **overrides)
        runner = ServiceRunner(service, settings, broker=broker)
        await runner.start()
        runners.append(runner)
        return runner

    go.broker = broker  # type: ignore[attr-defined]
    go.amqp = amqp  # type: ignore[attr-defined]
    yield go
    for runner in reversed(runners):
        await runner.stop(grace_s=2)


async def _client(start: Start) -> Bus:
    bus = Bus.for_url("tt-client", start.amqp, broker=start.broker)  # type: ignore[attr-defined]
    await bus.start()
    return bus


async def _audited(runner: ServiceRunner) -> list[tuple[str, int]]:
    assert runner.db is not None
    async with runner.db.transaction() as s:
        conn = await s.connection()
        rows = await conn.execute(select(AUDITED.c.event_id, AUDITED.c.amount_sat))
        return [(r[0], r[1]) for r in rows]


async def test_rpc_writes_publish_through_the_outbox_and_apply_once(start: Start) -> None:
    from prometheus_client import REGISTRY

    auditor = await start(audit)
    assert auditor.bus is not None
    queue = auditor.bus.consumer_queues[0]
    # The runner samples its consumer queues' depth for /metrics.
    labels = {"service": "tt-audit", "queue": queue}
    await wait_until(
        lambda: REGISTRY.get_sample_value("tentenone_bus_queue_depth", labels) is not None, 10
    )
    book = await start(ledger)
    client = await _client(start)
    try:
        views = [await client.request(ADD_ENTRY, AddEntry(amount_sat=n)) for n in (5, 7, 11)]
        await wait_until(lambda: _count(auditor, 3), 10)
        assert sorted(await _audited(auditor)) == sorted(
            (v.event_id, n) for v, n in zip(views, (5, 7, 11), strict=True)
        )
        # Redeliver one event by hand: the inbox absorbs it.
        assert book.bus is not None
        await book.bus.publish(
            EntryAdded(entry_id=views[0].entry_id, amount_sat=5), event_id=views[0].event_id
        )
        await client.request(ADD_ENTRY, AddEntry(amount_sat=13))
        await wait_until(lambda: _count(auditor, 4), 10)
        assert len(await _audited(auditor)) == 4
    finally:
        await client.close()


async def _count(runner: ServiceRunner, n: int) -> bool:
    return len(await _audited(runner)) >= n


async def test_http_probes_and_metrics(start: Start) -> None:
    book = await start(ledger)
    assert book.url is not None
    async with httpx.AsyncClient(base_url=book.url, timeout=5) as http:
        health = await http.get("/healthz", headers={"X-Correlation-Id": "abc-123"})
        assert health.status_code == 200
        assert health.headers["x-correlation-id"] == "abc-123"
        ready = await http.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"broker": "ok", "database": "ok", "migrations": "ok"}
        generated = (await http.get("/healthz", headers={"X-Correlation-Id": "bad id!"})).headers
        assert generated["x-correlation-id"] != "bad id!"
        metrics = (await http.get("/metrics")).text
        assert 'tentenone_http_requests_total{method="GET",route="/healthz"' in metrics
        assert 'tentenone_outbox_pending{service="tt-ledger"}' in metrics
        # Migrations behind head: not ready, and the failing check is named.
        assert book.db is not None
        await downgrade(book.db, "0001")
        unready = await http.get("/readyz")
        assert unready.status_code == 503
        assert unready.json()["checks"]["migrations"] != "ok"
        assert unready.json()["checks"]["database"] == "ok"


async def test_broker_failure_makes_readyz_fail(start: Start) -> None:
    book = await start(ledger)
    assert book.bus is not None and book.url is not None
    await book.bus.transport.close()
    async with httpx.AsyncClient(base_url=book.url, timeout=10) as http:
        unready = await http.get("/readyz")
    assert unready.status_code == 503
    assert unready.json()["checks"]["broker"] != "ok"


async def test_routes_get_the_context(start: Start) -> None:
    svc = Service("tt-routes", migrations=MIGRATIONS)
    router = APIRouter()

    @router.get("/whoami")
    async def whoami(ctx: Context) -> dict[str, str]:
        return {"service": ctx.name}

    svc.include_router(router)
    runner = await start(svc)
    assert runner.url is not None
    async with httpx.AsyncClient(base_url=runner.url, timeout=5) as http:
        assert (await http.get("/whoami")).json() == {"service": "tt-routes"}


async def test_app_hooks_probes_and_forwarded_headers(start: Start) -> None:
    svc = Service("tt-hooks", migrations=MIGRATIONS)
    router = APIRouter()
    failing = {"now": False}

    @router.get("/peer")
    async def peer(request: Request) -> dict[str, Any]:
        return {"client": request.client.host if request.client else None}

    def add_header(app: FastAPI, settings: BaseServiceSettings) -> None:
        assert settings.service_name == "tt-hooks"

        @app.middleware("http")
        async def tag(request: Request, call_next: Any) -> Any:
            response = await call_next(request)
            response.headers["x-hooked"] = "yes"
            return response

    @svc.probe("cache")
    async def cache(ctx: Any) -> None:
        assert ctx.name == "tt-hooks"
        if failing["now"]:
            raise ConnectionError("cache is down")

    svc.include_router(router)
    svc.configure_app(add_header)
    runner = await start(svc)
    assert runner.url is not None
    async with httpx.AsyncClient(base_url=runner.url, timeout=5) as http:
        spoofed = await http.get("/peer", headers={"X-Forwarded-For": "203.0.113.9"})
        # uvicorn does not take forwarded headers at their word (not even from loopback).
        assert spoofed.json() == {"client": "127.0.0.1"}
        assert spoofed.headers["x-hooked"] == "yes"
        assert "server" not in spoofed.headers
        assert (await http.get("/readyz")).json()["checks"]["cache"] == "ok"
        failing["now"] = True
        unready = await http.get("/readyz")
        assert unready.status_code == 503
        assert "cache is down" in unready.json()["checks"]["cache"]
    with pytest.raises(ConfigError):
        svc.probe("broker")


async def test_bus_message_limit_comes_from_settings(start: Start) -> None:
    runner = await start(ledger, bus_max_message_bytes=4 * 1024 * 1024)
    assert runner.bus is not None
    assert runner.bus.limits.max_message_bytes == 4 * 1024 * 1024


async def test_stop_flushes_the_outbox_and_refuses_requests(start: Start) -> None:
    auditor = await start(audit)
    book = await start(ledger)
    assert book.relay is not None and book.ctx is not None
    await book.relay.stop()  # events now wait in the outbox
    from .ledger import add_entry

    views = [await add_entry(book.ctx, n) for n in range(5)]
    assert await _audited(auditor) == []
    url = book.url
    await book.stop(grace_s=5)
    assert book.state is RunnerState.STOPPED
    await wait_until(lambda: _count(auditor, 5), 10)
    assert sorted(e for e, _ in await _audited(auditor)) == sorted(v.event_id for v in views)
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient(base_url=url or "", timeout=2) as http:
            await http.get("/healthz")


async def test_publish_refuses_events_of_other_sources(start: Start) -> None:
    class Foreign(Event):
        event_type = "runnertest.foreign"
        source = "someone-else"

    book = await start(ledger)
    assert book.ctx is not None
    async with book.ctx.transaction() as session:
        with pytest.raises(InvalidInput):
            await book.ctx.publish(session, Foreign())
        with pytest.raises(InvalidInput):
            await book.ctx.publish(session, "not an event")  # type: ignore[arg-type]
    assert book.db is not None
    from tentenone.store.tables import OUTBOX

    async with book.db.transaction() as s:
        conn = await s.connection()
        assert (await conn.execute(select(func.count()).select_from(OUTBOX))).scalar_one() == 0


def test_bad_service_declarations_are_refused() -> None:
    class WrongName(BaseServiceSettings):
        service_name = "other"

    with pytest.raises(ConfigError):
        Service("tt-x", settings=WrongName)
    with pytest.raises(ConfigError):
        Service("tt-x", settings=dict)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        Service("Bad Name")
    svc = Service("tt-x")
    with pytest.raises(ConfigError):
        svc.rpc(ADD_ENTRY)  # another service's method
    with pytest.raises(ConfigError):
        svc.consumer(AddEntry)  # type: ignore[type-var]

    async def h(ctx: Any, session: Any, event: Any) -> None:
        return None

    svc.consumer(EntryAdded, name="dup")(h)
    with pytest.raises(ConfigError):
        svc.consumer(EntryAdded, name="dup")(h)
    mine = RpcMethod("tt-x", "ping_me", AddEntry, AddEntry)

    async def ping(ctx: Any, req: AddEntry) -> AddEntry:
        return req

    svc.rpc(mine)(ping)
    with pytest.raises(ConfigError):
        svc.rpc(mine)(ping)
    with pytest.raises(ConfigError):
        svc.include_router("not a router")  # type: ignore[arg-type]
