"""The oracle service on the real stack: RabbitMQ (a vhost per test) and PostgreSQL.

Expiries every 2 s so announcements and attestations happen within the test;
every one received is verified with the DLC library, as a client would.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tentenone.bus import Bus
from tentenone.bus.errors import BusUnavailable
from tentenone.dlc.oracle_messages import OracleAnnouncement, OracleAttestation
from tentenone.errors import InvalidInput
from tentenone.oracle.announcement import verify_announcement
from tentenone.oracle.attestation import verify_attestation
from tentenone.oracle.hashing import OracleHashing
from tentenone.service import ServiceRunner
from tentenone.testing import wait_until
from tentenone.wire import MalformedMessage
from tentenone.wire.oracle import (
    GET_ATTESTATION,
    GET_INDEX_PRICE,
    GET_PUBLIC_KEY,
    LIST_ANNOUNCEMENTS,
    EventIdRequest,
    ListAnnouncementsRequest,
    NoArguments,
    OracleAnnounced,
    OracleAttested,
    rpc_methods,
)
from tentenone_oracle.oracle import EventNotFound, NotMatured
from tentenone_oracle.service import make_service, service

Start = Callable[..., Awaitable[ServiceRunner]]


def oracle_settings(tmp_path: Path, name: str = "oracle", **overrides: Any) -> dict[str, Any]:
    return {
        "mode": "devnet",
        "key_file": tmp_path / f"{name}.key",
        "price_sources": ["simulated"],
        "min_sources": 1,
        "expiry_schedule": "every:2s",
        "announce_ahead": 3,
        "tick_s": 0.5,
        "index_price_interval_s": 0.5,
        "sim_seed": 7,
        **overrides,
    }


@pytest.fixture
async def start(amqp_url: str, pg_url: str) -> AsyncIterator[Start]:
    runners: list[ServiceRunner] = []

    async def go(svc: Any = service, **settings: Any) -> ServiceRunner:
        for attempt in range(3):  # the shared broker can refuse a connection under load
            runner = ServiceRunner(
                svc, svc.settings_cls(database_url=pg_url, amqp_url=amqp_url, **settings)
            )
            try:
                await runner.start()
            except BusUnavailable:
                if attempt == 2:
                    raise
                continue
            runners.append(runner)
            return runner
        raise AssertionError("unreachable")

    yield go
    for runner in reversed(runners):
        await runner.stop(grace_s=3)


def _verify(announced: OracleAnnounced, attested: OracleAttested | None = None) -> None:
    hashing = OracleHashing(announced.hashing)
    key = bytes.fromhex(announced.oracle_public_key)
    announcement = OracleAnnouncement.parse(bytes.fromhex(announced.announcement_tlv))
    assert announcement.oracle_public_key == key
    assert verify_announcement(
        key, announcement.announcement_signature, announcement.oracle_event.value_bytes(), hashing
    )
    if attested is None:
        return
    attestation = OracleAttestation.parse(bytes.fromhex(attested.attestation_tlv))
    assert attestation.event_id == announced.event_id
    nonces = announcement.oracle_event.oracle_nonces
    assert verify_attestation(key, nonces, attestation.signatures, attestation.outcomes, hashing)
    assert [s.hex() for s in attestation.signatures] == attested.signatures
    assert int("".join(attestation.outcomes), 2) == int(attested.outcome)


async def test_announces_attests_and_publishes(
    start: Start, client: tuple[Bus, Any], tmp_path: Path
) -> None:
    bus, seen = client
    runner = await start(**oracle_settings(tmp_path))
    await wait_until(lambda: len(seen.attested) >= 2, 30, what="two attestations on the bus")
    announced = {a.event_id: a for a in seen.announced}
    for attested in seen.attested:
        _verify(announced[attested.event_id], attested)
        # Attested shortly after maturity, with the simulated price at the expiry.
        assert dt.timedelta(0) <= attested.attested_at - attested.maturity < dt.timedelta(5)
        assert attested.price_cents is not None
        assert attested.outcome == str(round(attested.price_cents / 100))
    for a in seen.announced:
        _verify(a)
        assert a.oracle == "oracle" and a.kind == "numeric"
        assert a.descriptor == {
            "base": 2,
            "isSigned": False,
            "unit": "USD",
            "precision": 0,
            "nbDigits": 20,
        }
    await wait_until(lambda: seen.prices, 10, what="an index price event")
    assert seen.prices[0].price_cents > 0

    # RPC: the same records.
    identity = await bus.request(GET_PUBLIC_KEY, NoArguments())
    assert identity.public_key == seen.announced[0].oracle_public_key
    first = seen.attested[0]
    rpc_att = await bus.request(GET_ATTESTATION, EventIdRequest(event_id=first.event_id))
    assert rpc_att.model_dump() == {
        k: v for k, v in first.model_dump().items() if k in rpc_att.model_dump()
    }
    listing = await bus.request(LIST_ANNOUNCEMENTS, ListAnnouncementsRequest(limit=1000))
    assert {a.event_id for a in seen.announced} <= {a.event_id for a in listing.announcements}
    price = await bus.request(GET_INDEX_PRICE, NoArguments())
    assert price.quotes[0].source == "simulated"
    with pytest.raises(EventNotFound):
        await bus.request(GET_ATTESTATION, EventIdRequest(event_id="btcusd1"))
    with pytest.raises((InvalidInput, MalformedMessage)):
        await bus.call("oracle", "get_attestation", kwargs={"event_id": ""})

    # Metrics.
    assert runner.url is not None
    async with httpx.AsyncClient(base_url=runner.url, timeout=5) as http:
        text = (await http.get("/metrics")).text
        ready = (await http.get("/readyz")).json()
    assert ready["checks"] == {
        "broker": "ok",
        "database": "ok",
        "migrations": "ok",
        "clockwork": "ok",
    }
    assert 'tentenone_oracle_announced_total{kind="numeric",oracle="oracle"}' in text
    assert 'tentenone_oracle_attested_total{kind="numeric",oracle="oracle"}' in text
    assert "tentenone_oracle_attestation_delay_seconds_bucket" in text
    assert 'tentenone_oracle_price_age_seconds{source="simulated"}' in text


async def test_rest_api_shaped_like_p2pderivatives(
    start: Start, client: tuple[Bus, Any], tmp_path: Path
) -> None:
    _, seen = client
    runner = await start(**oracle_settings(tmp_path))
    await wait_until(lambda: seen.attested, 30, what="an attestation")
    attested = seen.attested[0]
    assert runner.url is not None
    async with httpx.AsyncClient(base_url=runner.url, timeout=5) as http:
        key = (await http.get("/oracle/publickey")).json()
        assert key == {
            "publicKey": attested.oracle_public_key,
            "hashing": "sha256",
            "instance": "oracle",
        }
        assert (await http.get("/asset")).json() == ["btcusd"]
        listing = (await http.get("/announcements", params={"limit": 1000})).json()
        one = (await http.get(f"/announcements/{attested.event_id}")).json()
        assert one in listing
        assert one["oracleEvent"]["eventId"] == attested.event_id
        assert len(one["oracleEvent"]["nonces"]) == 20
        assert one["status"] == "attested"
        att = (await http.get(f"/attestations/{attested.event_id}")).json()
        assert att["attestationTlv"] == attested.attestation_tlv
        assert att["values"] == attested.values and len(att["values"]) == 20
        maturity = attested.maturity.strftime("%Y-%m-%dT%H:%M:%SZ")
        by_time = (await http.get(f"/asset/btcusd/attestation/{maturity}")).json()
        assert by_time == att
        ann_by_time = (await http.get(f"/asset/btcusd/announcement/{maturity}")).json()
        assert ann_by_time == one
        price = (await http.get("/index-price")).json()
        assert float(price["price"]) > 0

        # Bad input: typed errors with stable codes, nothing changes.
        future = listing[-1]["oracleEvent"]["eventId"]
        r = await http.get(f"/attestations/{future}")
        assert (r.status_code, r.json()["code"]) == (409, NotMatured.code)
        r = await http.get("/attestations/btcusd1")
        assert (r.status_code, r.json()["code"]) == (404, EventNotFound.code)
        r = await http.get("/announcements/" + "x" * 101)
        assert (r.status_code, r.json()["code"]) == (422, "invalid_input")
        r = await http.get("/asset/btcusd/attestation/yesterday")
        assert (r.status_code, r.json()["code"]) == (422, "invalid_input")
        r = await http.get("/asset/ethusd/announcement/2025-11-28T08:00:00Z")
        assert r.status_code == 404
        r = await http.get("/asset/btcusd/announcement/2020-01-01T00:00:00Z")
        assert r.status_code == 404  # a past expiry never announced


async def test_two_oracles_side_by_side(
    start: Start, client: tuple[Bus, Any], tmp_path: Path
) -> None:
    bus, seen = client
    await start(**oracle_settings(tmp_path))
    oracle_b = make_service("oracle-b")
    await start(oracle_b, **oracle_settings(tmp_path, "oracle-b", sim_seed=8))
    await wait_until(lambda: len({a.oracle for a in seen.attested}) == 2, 30, what="both attest")
    keys = {a.oracle: a.oracle_public_key for a in seen.announced}
    assert set(keys) == {"oracle", "oracle-b"} and keys["oracle"] != keys["oracle-b"]
    a = await bus.request(GET_PUBLIC_KEY, NoArguments())
    b = await bus.request(rpc_methods("oracle-b")["get_public_key"], NoArguments())
    assert (a.public_key, b.public_key) == (keys["oracle"], keys["oracle-b"])
    # Same expiries, so the same event ids, each with its own key and nonces.
    both = {}
    for ann in seen.announced:
        both.setdefault(ann.event_id, {})[ann.oracle] = ann
    shared = [v for v in both.values() if len(v) == 2]
    assert shared
    assert shared[0]["oracle"].nonces != shared[0]["oracle-b"].nonces
    for attested in seen.attested:
        _verify(both[attested.event_id][attested.oracle], attested)


async def test_exchange_sources_through_the_service(
    start: Start, client: tuple[Bus, Any], tmp_path: Path, exchange_replay: Any
) -> None:
    """Real adapters against the replay server; one source out of range, two agree."""
    _, seen = client
    exchange_replay.answer(
        "/api/v2/ohlc/btcusd/",
        '{"data": {"ohlc": [{"timestamp": "1764316800", "open": "25000000"}]}}',
    )
    expiry = dt.datetime(2025, 11, 28, 8, 0, tzinfo=dt.UTC)  # the recorded responses' minute
    offset = (expiry - dt.timedelta(seconds=3) - dt.datetime.now(dt.UTC)).total_seconds()
    runner = await start(
        **oracle_settings(
            tmp_path,
            price_sources=["bitstamp", "kraken", "coinbase"],
            min_sources=2,
            source_urls={n: exchange_replay.url for n in ("bitstamp", "kraken", "coinbase")},
            expiry_schedule="every:60s",
            announce_ahead=1,
            clock_offset_s=offset,
            index_price_interval_s=60,
        )
    )
    await wait_until(lambda: seen.attested, 30, what="the recorded minute's attestation")
    [attested] = seen.attested
    assert attested.event_id == "btcusd1764316800"
    # Median of Kraken's 91211.5 and Coinbase's 91210.00; Bitstamp's print was rejected.
    assert attested.price_cents == 9121075
    assert attested.outcome == "91211"
    _verify(next(a for a in seen.announced if a.event_id == attested.event_id), attested)
    assert runner.url is not None
    async with httpx.AsyncClient(base_url=runner.url, timeout=5) as http:
        text = (await http.get("/metrics")).text
    assert re.search(
        r'^tentenone_oracle_price_rejected_total\{reason="out_of_range",source="bitstamp"\} '
        r"[1-9]",
        text,
        re.M,
    )
