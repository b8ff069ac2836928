"""The oracle as a tentenone service: REST, RPC, events, and the announce/attest clockwork.

``tentenone-oracle`` runs the instance named by ``TENTENONE_ORACLE_INSTANCE``
(default ``oracle``). Each instance is a service of its own name: settings
``TENTENONE_<NAME>_<FIELD>`` (then ``TENTENONE_<FIELD>``), schema ``<name>``,
RPC ``<name>.<method>``, and its own key. All instances publish on
``oracle.events``; ``oracle_public_key`` in every event tells them apart.
So a t-of-n setup is ``oracle``, ``oracle-b``, ``oracle-c`` side by side.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

from tentenone.errors import Unavailable
from tentenone.oracle.hashing import OracleHashing
from tentenone.service import Context, Service, ServiceContext
from tentenone.wire.oracle import (
    AnnounceEnumRequest,
    Announcement,
    AnnouncementList,
    Attestation,
    AttestEnumRequest,
    EventIdRequest,
    IndexPrice,
    IndexPriceUpdated,
    ListAnnouncementsRequest,
    NoArguments,
    OracleIdentity,
    rpc_methods,
)
from tentenone_oracle import metrics
from tentenone_oracle.api import build_router
from tentenone_oracle.clock import offset_clock, utc_now
from tentenone_oracle.keys import KeyMode, load_oracle_key
from tentenone_oracle.models import OracleTable
from tentenone_oracle.oracle import Oracle, OracleConfig
from tentenone_oracle.payloads import announcement_view, attestation_view, index_price_view
from tentenone_oracle.scheduler import Scheduler
from tentenone_oracle.settings import OracleSettings
from tentenone_oracle.signer import OracleSigner
from tentenone_oracle.sources import build_index_feed

__all__ = ["INSTANCE_ENV", "main", "make_service", "service"]

INSTANCE_ENV = "TENTENONE_ORACLE_INSTANCE"
_ORACLE = "oracle"
_SCHEDULER = "scheduler"


def _settings_class(name: str) -> type[OracleSettings]:
    if name == _ORACLE:
        return OracleSettings
    title = "".join(part.capitalize() for part in name.split("-"))
    return type(f"{title}Settings", (OracleSettings,), {"service_name": name})


def demo_settings(data_dir: Path) -> dict[str, Any]:
    """The embedded demo: a devnet key in the demo dir, the simulated feed at 60x.

    Expiries every few minutes come from the demo's ``TENTENONE_EXPIRY_SCHEDULE``.
    """
    return {
        "mode": KeyMode.DEVNET,
        "key_file": data_dir / "oracle.key",
        "price_sources": ["simulated"],
        "min_sources": 1,
        "sim_speedup": 60.0,
        "tick_s": 1.0,
    }


def _oracle(ctx: ServiceContext) -> Oracle:
    oracle = ctx.extras.get(_ORACLE)
    if not isinstance(oracle, Oracle):
        raise Unavailable("the oracle is not started")
    return oracle


def get_oracle(ctx: Context) -> Oracle:
    """FastAPI dependency: the running oracle."""
    return _oracle(ctx)


async def _start(ctx: ServiceContext) -> None:
    settings = ctx.settings
    assert isinstance(settings, OracleSettings)
    secret = settings.secret_key.get_secret_value() if settings.secret_key else None
    key = load_oracle_key(settings.mode, secret, settings.key_file)
    clock = offset_clock(settings.clock_offset, utc_now)
    signer = OracleSigner(key, OracleHashing(settings.outcome_hashing))
    config = OracleConfig(
        name=ctx.name,
        announce_ahead=settings.announce_ahead,
        nb_digits=settings.nb_digits,
        unit=settings.unit,
        attest_after=dt.timedelta(seconds=settings.attest_after_s),
    )
    feed = build_index_feed(settings, clock)
    ctx.extras[_ORACLE] = Oracle(ctx.db, signer, feed, settings.schedule, clock, config)


async def _stop(ctx: ServiceContext) -> None:
    oracle = ctx.extras.pop(_ORACLE, None)
    if isinstance(oracle, Oracle):
        await oracle.prices.aclose()


async def _clockwork(ctx: ServiceContext) -> None:
    oracle = _oracle(ctx)
    settings = ctx.settings
    assert isinstance(settings, OracleSettings)

    async def publish_index_price() -> None:
        index = await oracle.prices.latest()
        metrics.INDEX_PRICE.labels(ctx.name).set(float(index.price))
        await ctx.bus.publish(IndexPriceUpdated(**dict(index_price_view(ctx.name, index))))

    scheduler = Scheduler(
        oracle, settings.tick_s, publish_index_price, settings.index_price_interval_s
    )
    ctx.extras[_SCHEDULER] = scheduler
    await scheduler.run()


async def _clockwork_turning(ctx: ServiceContext) -> None:
    scheduler = ctx.extras.get(_SCHEDULER)
    if not isinstance(scheduler, Scheduler):
        raise Unavailable("the oracle's scheduler has not started")
    scheduler.check_alive()


def make_service(name: str = _ORACLE) -> Service:
    """The oracle instance ``name`` as a service."""
    service = Service(
        name,
        settings=_settings_class(name),
        metadata=OracleTable.metadata,
        migrations="tentenone_oracle",
        description="dlcspecs oracle: BTC/USD price announcements and attestations",
        demo_settings=demo_settings,
    )
    service.on_startup(_start)
    service.on_shutdown(_stop)
    service.background(_clockwork)
    service.probe("clockwork")(_clockwork_turning)
    service.include_router(build_router(get_oracle))
    _serve_rpc(service, name)
    return service


def _serve_rpc(service: Service, name: str) -> None:
    methods = rpc_methods(name)

    @service.rpc(methods["get_public_key"])
    async def get_public_key(ctx: ServiceContext, req: NoArguments) -> OracleIdentity:
        signer = _oracle(ctx).signer
        return OracleIdentity(
            oracle=name, public_key=signer.public_key.hex(), hashing=signer.hashing.value
        )

    @service.rpc(methods["list_announcements"])
    async def list_announcements(
        ctx: ServiceContext, req: ListAnnouncementsRequest
    ) -> AnnouncementList:
        oracle = _oracle(ctx)
        found = await oracle.list_announced(req.limit, req.after)
        hashing = oracle.signer.hashing.value
        return AnnouncementList(announcements=[announcement_view(name, hashing, a) for a in found])

    @service.rpc(methods["get_announcement"])
    async def get_announcement(ctx: ServiceContext, req: EventIdRequest) -> Announcement:
        oracle = _oracle(ctx)
        found = await oracle.get_announced(req.event_id)
        assert found is not None
        return announcement_view(name, oracle.signer.hashing.value, found)

    @service.rpc(methods["get_attestation"])
    async def get_attestation(ctx: ServiceContext, req: EventIdRequest) -> Attestation:
        found = await _oracle(ctx).get_attested(req.event_id)
        assert found is not None
        return attestation_view(name, found)

    @service.rpc(methods["get_index_price"])
    async def get_index_price(ctx: ServiceContext, req: NoArguments) -> IndexPrice:
        return index_price_view(name, await _oracle(ctx).prices.latest())

    @service.rpc(methods["announce_enum"])
    async def announce_enum(ctx: ServiceContext, req: AnnounceEnumRequest) -> Announcement:
        oracle = _oracle(ctx)
        found = await oracle.announce_enum(req.event_id, req.maturity, req.outcomes)
        return announcement_view(name, oracle.signer.hashing.value, found)

    @service.rpc(methods["attest_enum"])
    async def attest_enum(ctx: ServiceContext, req: AttestEnumRequest) -> Attestation:
        return attestation_view(name, await _oracle(ctx).attest_enum(req.event_id, req.outcome))


#: The default instance, for ``tentenone demo`` (entry point ``tentenone.services``).
service = make_service()


def main(argv: list[str] | None = None) -> int:
    """``tentenone-oracle``: run the instance ``TENTENONE_ORACLE_INSTANCE`` (default oracle)."""
    name = os.environ.get(INSTANCE_ENV, _ORACLE)
    return (service if name == _ORACLE else make_service(name)).main(argv)
