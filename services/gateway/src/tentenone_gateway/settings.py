"""The gateway's settings: ``TENTENONE_GATEWAY_<FIELD>``, then ``TENTENONE_<FIELD>``.

``redis_url`` (``TENTENONE_REDIS_URL``) holds sessions, challenges, rate
limits and the WebSocket channels' recent history, shared by every replica;
without it (the embedded demo) they live in this process's memory.
"""

from __future__ import annotations

import ipaddress
from typing import ClassVar

from pydantic import Field, field_validator

from tentenone.config import BaseServiceSettings
from tentenone.market.schedule import DEFAULT_SPEC, ExpirySchedule, InvalidSchedule
from tentenone.wire.dlc import BUS_MESSAGE_BYTES

__all__ = ["GatewaySettings"]

type _Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class GatewaySettings(BaseServiceSettings):
    service_name: ClassVar[str] = "gateway"

    # The DLC service's protocol messages and backups are large (wire.dlc).
    bus_max_message_bytes: int = Field(default=BUS_MESSAGE_BYTES, ge=1024)
    rpc_timeout_s: float = Field(default=10.0, gt=0, le=120)

    redis_max_connections: int = Field(
        default=200, ge=2, le=10_000, description="connections to Redis; a burst waits for one"
    )
    redis_prefix: str = Field(
        default="tentenone:gw:", min_length=1, max_length=64, description="Redis key prefix"
    )

    # -- authentication ------------------------------------------------------
    auth_domain: str = Field(
        default="tentenone",
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9.:_-]+$",
        description="who the app signs in to (e.g. the coordinator's host); in every challenge",
    )
    challenge_ttl_s: int = Field(default=60, ge=5, le=600)
    session_ttl_s: int = Field(default=24 * 3600, ge=60, le=30 * 24 * 3600)
    max_sessions_per_key: int = Field(default=20, ge=1, le=1000)

    # -- rate limits (token buckets: burst, then refill per second) ------------
    ip_burst: int = Field(default=120, ge=1)
    ip_per_s: float = Field(default=20.0, gt=0)
    key_burst: int = Field(default=60, ge=1)
    key_per_s: float = Field(default=10.0, gt=0)
    auth_burst: int = Field(default=10, ge=1, description="challenges and sign-ins per IP")
    auth_per_s: float = Field(default=0.5, gt=0)

    # -- HTTP -------------------------------------------------------------------
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    max_protocol_body_bytes: int = Field(default=11 * 1024 * 1024, ge=1024)
    max_backup_body_bytes: int = Field(default=12 * 1024 * 1024, ge=1024)
    cors_origins: list[str] = Field(
        default_factory=list, description="origins of the app's web build, e.g. https://app.example"
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="addresses or networks (CIDR) whose X-Forwarded-For/-Proto are believed",
    )

    # -- WebSocket ------------------------------------------------------------
    ws_heartbeat_s: float = Field(default=15.0, gt=0, le=300)
    ws_send_queue: int = Field(
        default=1000, ge=10, description="messages waiting for a slow client before it is cut"
    )
    ws_max_subscriptions: int = Field(default=64, ge=1, le=10_000)
    ws_max_message_bytes: int = Field(default=16 * 1024, ge=256)
    ws_messages_per_s: float = Field(default=20.0, gt=0)
    ws_message_burst: int = Field(default=50, ge=1)
    book_history: int = Field(default=2000, ge=10, description="book deltas kept per market")
    channel_history: int = Field(default=200, ge=10, description="updates kept per channel")
    channel_ttl_s: int = Field(default=24 * 3600, ge=60)

    # -- markets --------------------------------------------------------------
    expiry_schedule: str = Field(default=DEFAULT_SPEC, description="weekly:fri@08:00 | every:300s")
    symbol: str = "btcusd"

    @field_validator("expiry_schedule")
    @classmethod
    def _schedule_parses(cls, value: str) -> str:
        try:
            ExpirySchedule.parse(value)
        except InvalidSchedule as exc:
            raise ValueError(exc.message) from None
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_parse(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"trusted proxy {item!r} is not an address or CIDR") from None
        return value

    @property
    def schedule(self) -> ExpirySchedule:
        return ExpirySchedule.parse(self.expiry_schedule, self.symbol)

    @property
    def proxy_networks(self) -> list[_Network]:
        return [ipaddress.ip_network(item, strict=False) for item in self.trusted_proxies]
