"""The gateway's public API: REST bodies and WebSocket messages, for the gateway and its clients.

REST: ``*Create`` (what a client sends; unknown fields refused), ``*Public``
(what it gets back). WebSocket (``/api/v1/ws``): client operations
(``AuthOp``, ``SubscribeOp``, ``UnsubscribeOp``, ``PingOp``), server messages
(``UpdateMessage``, ``SnapshotMessage``, ``SubscribedMessage``...), and per
channel the ``data`` of its updates and snapshots (``WS_CHANNELS``), from
which ``asyncapi_extension`` writes the WebSocket part of docs/asyncapi.yaml.

Amounts are integer satoshis; prices are decimal US dollars with at most
two decimals (strings in JSON, e.g. ``"90123.50"``), converted exactly to
and from the integer cents the services use.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator
from pydantic.json_schema import models_json_schema

from tentenone.wire import dlc as wdlc
from tentenone.wire import oracle as woracle
from tentenone.wire import orderbook as wob

__all__ = [
    "WS_CHANNELS",
    "WS_PATH",
    "AnnouncementList",
    "AnnouncementPublic",
    "AttestationPublic",
    "AuthOp",
    "AuthenticatedMessage",
    "BackupCreate",
    "BackupInfoPublic",
    "BackupPublic",
    "BookDeltaPublic",
    "BookLevelPublic",
    "BookPublic",
    "ChallengeCreate",
    "ChallengePublic",
    "ChannelName",
    "ClientMessage",
    "CloseQuoteAccept",
    "CloseQuotePublic",
    "ErrorMessage",
    "FillList",
    "FillPublic",
    "HeartbeatMessage",
    "IndexPricePublic",
    "MarketIdPath",
    "MarketList",
    "MarketPublic",
    "MarketTradeList",
    "MarketTradePublic",
    "NodeInfoPublic",
    "OrderAmend",
    "OrderCreate",
    "OrderList",
    "OrderPlaced",
    "OrderRejectedPublic",
    "OrderUpdate",
    "OrdersSnapshot",
    "PingOp",
    "PnLPublic",
    "PongMessage",
    "PositionList",
    "PositionPublic",
    "PositionUpdate",
    "PositionsSnapshot",
    "PriceCreate",
    "PricePublic",
    "ProtocolMessageCreate",
    "ProtocolMessageList",
    "ProtocolMessagePublic",
    "PublicKeyHex",
    "RevokedPublic",
    "SessionCreate",
    "SessionInfo",
    "SessionPublic",
    "SnapshotMessage",
    "StateNumberPublic",
    "SubscribeOp",
    "SubscribedMessage",
    "TraderFillPublic",
    "TraderOrderPublic",
    "UnsubscribeOp",
    "UnsubscribedMessage",
    "UpdateMessage",
    "WsChannel",
    "asyncapi_extension",
    "cents_to_usd",
    "usd_to_cents",
]

PublicKeyHex = Annotated[
    str,
    Field(
        pattern=r"^[0-9a-f]{64}$",
        description="x-only BIP-340 public key (the app's node key), lower-case hex",
        examples=["79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"],
    ),
]
PositionIdPath = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
#: a price as the API shows it: decimal USD, two decimals at most
PricePublic = Annotated[Decimal, Field(decimal_places=2, ge=0)]
#: a price as a client sends it: a decimal USD string (never a JSON number: no float rounding)
PriceCreate = Annotated[str, Field(pattern=r"^[0-9]{1,10}(\.[0-9]{1,2})?$", examples=["90123.50"])]
#: a market: the oracle event id of its expiry
MarketIdPath = Annotated[
    str, Field(pattern=r"^[a-z]{2,16}[0-9]{1,10}$", examples=["btcusd1764316800"])
]


def cents_to_usd(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


def usd_to_cents(price: str) -> int:
    """Exact: a ``PriceCreate`` has at most two decimals."""
    return int(Decimal(price).scaleb(2))


def _optional_usd(cents: int | None) -> Decimal | None:
    return None if cents is None else cents_to_usd(cents)


class _Create(BaseModel):
    """A request body: unknown fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class _Public(BaseModel):
    model_config = ConfigDict(frozen=True)


# -- authentication ---------------------------------------------------------


class ChallengeCreate(_Create):
    public_key: PublicKeyHex


class ChallengePublic(_Public):
    public_key: PublicKeyHex
    nonce: str = Field(pattern=r"^[0-9a-f]{64}$")
    domain: str
    expires_at: dt.datetime
    #: the text to sign (build it yourself from the fields and compare)
    message: str
    #: BIP-340 tagged hash "tentenone/auth" of the message: the 32 bytes to sign
    digest: str = Field(pattern=r"^[0-9a-f]{64}$")


class SessionCreate(_Create):
    public_key: PublicKeyHex
    nonce: str = Field(pattern=r"^[0-9a-f]{64}$")
    #: BIP-340 signature of the challenge's digest, 64 bytes hex
    signature: str = Field(pattern=r"^[0-9a-f]{128}$")


class SessionPublic(_Public):
    token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the scheme's name
    public_key: PublicKeyHex
    expires_at: dt.datetime


class SessionInfo(_Public):
    public_key: PublicKeyHex
    created_at: dt.datetime
    expires_at: dt.datetime


class RevokedPublic(_Public):
    revoked: int = Field(ge=0)


# -- markets and prices --------------------------------------------------------


class MarketPublic(_Public):
    #: the market id: the oracle event id of its expiry
    market: str
    symbol: str
    expiry: dt.datetime
    oracle_event_id: str


class MarketList(_Public):
    markets: list[MarketPublic]
    #: the expiry schedule every service follows
    schedule: str


class QuotePublic(_Public):
    source: str
    price: PricePublic
    observed_at: dt.datetime


class IndexPricePublic(_Public):
    oracle: str
    price: PricePublic
    at: dt.datetime
    quotes: list[QuotePublic]

    @classmethod
    def of(cls, index: woracle.IndexPrice) -> IndexPricePublic:
        return cls(
            oracle=index.oracle,
            price=cents_to_usd(index.price_cents),
            at=index.at,
            quotes=[
                QuotePublic(
                    source=q.source, price=cents_to_usd(q.price_cents), observed_at=q.observed_at
                )
                for q in index.quotes
            ],
        )


class AnnouncementPublic(_Public):
    oracle: str
    event_id: str
    oracle_public_key: str
    hashing: str
    maturity: dt.datetime
    kind: str
    descriptor: dict[str, Any]
    nonces: list[str]
    announcement_signature: str
    #: the dlcspecs oracle_announcement TLV, hex
    announcement_tlv: str
    state: str

    @classmethod
    def of(cls, a: woracle.Announcement) -> AnnouncementPublic:
        return cls.model_validate(a.model_dump())


class AnnouncementList(_Public):
    announcements: list[AnnouncementPublic]


class AttestationPublic(_Public):
    oracle: str
    event_id: str
    oracle_public_key: str
    maturity: dt.datetime
    outcome: str
    values: list[str]
    signatures: list[str]
    price: PricePublic | None
    attested_at: dt.datetime
    #: the dlcspecs oracle_attestation TLV, hex
    attestation_tlv: str

    @classmethod
    def of(cls, a: woracle.Attestation) -> AttestationPublic:
        data = a.model_dump(exclude={"price_cents"})
        return cls(**data, price=_optional_usd(a.price_cents))


# -- orders, the book and trades ---------------------------------------------------

Side = Literal["buy", "sell"]
#: contracts (1 USD each); the market's limits apply on top
Quantity = Annotated[StrictInt, Field(ge=1, le=1_000_000_000)]


class OrderCreate(_Create):
    market: MarketIdPath
    side: Side
    quantity: Quantity
    leverage: StrictInt = Field(ge=1, le=100)
    order_type: Literal["limit", "market"] = "limit"
    #: the limit price; none for a market order
    price: PriceCreate | None = None
    time_in_force: Literal["gtc", "ioc", "fok", "post_only"] = "gtc"
    #: placing again with the same id answers with that order, never places a second one
    client_order_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    #: your free collateral now (sat); your fills from here on count against it
    available_margin_sat: StrictInt | None = Field(default=None, ge=0, le=21 * 10**14)


class OrderAmend(_Create):
    """A new total quantity and/or price. Only a pure size reduction keeps priority."""

    quantity: Quantity | None = None
    price: PriceCreate | None = None

    @model_validator(mode="after")
    def _something(self) -> OrderAmend:
        if self.quantity is None and self.price is None:
            raise ValueError("give a new quantity, a new price or both")
        return self


class TraderOrderPublic(_Public):
    market: str
    order_id: int
    client_order_id: str | None
    side: Side
    order_type: Literal["limit", "market"]
    time_in_force: Literal["gtc", "ioc", "fok", "post_only"]
    price: PricePublic | None
    quantity: int
    filled: int
    #: open while the order lives; what was cancelled once it is cancelled
    remaining: int
    leverage: int
    status: Literal["open", "partially_filled", "filled", "cancelled"]
    reserved_margin_sat: int
    cancel_reason: str | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, o: wob.OrderPublic) -> TraderOrderPublic:
        data = o.model_dump(exclude={"trader_id", "price"})
        return cls(**data, price=_optional_usd(o.price))


class FillPublic(_Public):
    trade_id: str
    price: PricePublic
    quantity: int
    liquidity: Literal["maker", "taker"]
    fee_sat: int
    margin_sat: int

    @classmethod
    def of(cls, f: wob.FillPublic) -> FillPublic:
        return cls(**f.model_dump(exclude={"price"}), price=cents_to_usd(f.price))


class OrderPlaced(_Public):
    order: TraderOrderPublic
    #: the fills of the order as it was placed
    fills: list[FillPublic]
    #: true when ``client_order_id`` named an order placed before: that order, as it is now
    duplicate: bool

    @classmethod
    def of(cls, r: wob.PlaceOrderReply) -> OrderPlaced:
        return cls(
            order=TraderOrderPublic.of(r.order),
            fills=[FillPublic.of(f) for f in r.fills],
            duplicate=r.duplicate,
        )


class OrderList(_Public):
    orders: list[TraderOrderPublic]


class OrderRejectedPublic(_Public):
    market: str
    client_order_id: str | None
    #: the order an amend was for; none for a place
    order_id: int | None
    #: the error code, e.g. insufficient_margin
    reason: str
    message: str


class OrderUpdate(_Public):
    """``orders`` update: one of your orders after a change, or a refused place or amend."""

    event: Literal[
        "order.accepted",
        "order.amended",
        "order.partially_filled",
        "order.filled",
        "order.cancelled",
        "order.rejected",
    ]
    order: TraderOrderPublic | None = None
    rejected: OrderRejectedPublic | None = None


class OrdersSnapshot(_Public):
    """``orders`` snapshot: your open orders (updates after ``seq`` follow)."""

    orders: list[TraderOrderPublic]


class BookLevelPublic(_Public):
    price: PricePublic
    quantity: int
    orders: int


class BookPublic(_Public):
    """The top levels per side, best first, as of the book's sequence number ``seq``."""

    market: str
    seq: int
    bids: list[BookLevelPublic]
    asks: list[BookLevelPublic]

    @classmethod
    def of(cls, b: wob.BookSnapshot) -> BookPublic:
        def levels(side: list[wob.BookLevel]) -> list[BookLevelPublic]:
            return [
                BookLevelPublic(
                    price=cents_to_usd(lv.price), quantity=lv.quantity, orders=lv.orders
                )
                for lv in side
            ]

        return cls(market=b.market, seq=b.seq, bids=levels(b.bids), asks=levels(b.asks))


class BookDeltaPublic(_Public):
    """``book:<market>`` update: a price level after a change (quantity 0: gone)."""

    side: Side
    price: PricePublic
    quantity: int
    orders: int

    @classmethod
    def of(cls, d: wob.BookDeltaEvent) -> BookDeltaPublic:
        return cls(side=d.side, price=cents_to_usd(d.price), quantity=d.quantity, orders=d.orders)


class MarketTradePublic(_Public):
    """A trade: no trader, no order. ``taker_side``: the incoming order's side."""

    trade_id: str
    market: str
    price: PricePublic
    quantity: int
    taker_side: Side
    created_at: dt.datetime

    @classmethod
    def of(cls, t: wob.TradePublic) -> MarketTradePublic:
        return cls(**t.model_dump(exclude={"price"}), price=cents_to_usd(t.price))


class MarketTradeList(_Public):
    trades: list[MarketTradePublic]


class TraderFillPublic(_Public):
    """One of your trades: your order, side, role, fee and margin."""

    trade_id: str
    market: str
    order_id: int
    side: Side
    price: PricePublic
    quantity: int
    liquidity: Literal["maker", "taker"]
    fee_sat: int
    margin_sat: int
    created_at: dt.datetime

    @classmethod
    def of(cls, f: wob.TraderFill) -> TraderFillPublic:
        return cls(**f.model_dump(exclude={"price"}), price=cents_to_usd(f.price))


class FillList(_Public):
    fills: list[TraderFillPublic]


# -- positions and the DLC protocol ---------------------------------------------


class PnLPublic(_Public):
    mark_price: PricePublic | None
    unrealized_pnl_sat: int | None
    realized_pnl_sat: int | None
    fees_sat: int


class PositionPublic(_Public):
    position_id: str
    market: str
    expiry: dt.datetime
    side: Literal["long", "short"]
    quantity: int
    entry_price: PricePublic
    leverage: int
    trader_margin_sat: int
    coordinator_margin_sat: int
    liquidation_price: PricePublic | None
    state: wdlc.PositionState
    version: int
    trade_id: str
    order_id: str
    temporary_contract_id: str | None
    contract_id: str | None
    funding_txid: str | None
    closing_txid: str | None
    pnl: PnLPublic
    note: str
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, p: wdlc.Position) -> PositionPublic:
        data = p.model_dump(
            exclude={"trader_pubkey", "entry_price_cents", "liquidation_price_cents", "pnl"}
        )
        pnl = PnLPublic(
            mark_price=_optional_usd(p.pnl.mark_price_cents),
            unrealized_pnl_sat=p.pnl.unrealized_pnl_sat,
            realized_pnl_sat=p.pnl.realized_pnl_sat,
            fees_sat=p.pnl.fees_sat,
        )
        return cls(
            **data,
            entry_price=cents_to_usd(p.entry_price_cents),
            liquidation_price=_optional_usd(p.liquidation_price_cents),
            pnl=pnl,
        )


class PositionList(_Public):
    positions: list[PositionPublic]
    #: the state number of your positions when this list was read
    state_number: int


class ProtocolMessageCreate(_Create):
    message_type: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$", examples=["accept_dlc"])
    #: the serialized message (dlcspecs: u16 type then fields), lower-case hex
    payload_hex: str = Field(
        pattern=r"^([0-9a-f]{2})*$", max_length=2 * wdlc.MAX_PROTOCOL_MESSAGE_BYTES
    )


class ProtocolMessagePublic(_Public):
    seq: int
    position_id: str
    message_type: str
    payload_hex: str
    view: dict[str, Any]
    created_at: dt.datetime

    @classmethod
    def of(cls, m: wdlc.ProtocolMessage) -> ProtocolMessagePublic:
        return cls(
            seq=m.seq,
            position_id=m.position_id,
            message_type=m.message_type,
            payload_hex=m.payload_hex,
            view=m.view,
            created_at=m.created_at,
        )


class ProtocolMessageList(_Public):
    messages: list[ProtocolMessagePublic]
    last_seq: int


class CloseQuotePublic(_Public):
    quote_id: str
    position_id: str
    price: PricePublic
    trader_payout_sat: int
    coordinator_payout_sat: int
    fee_sat: int
    realized_pnl_sat: int
    expires_at: dt.datetime

    @classmethod
    def of(cls, q: wdlc.CloseQuote) -> CloseQuotePublic:
        data = q.model_dump(exclude={"price_cents"})
        return cls(**data, price=cents_to_usd(q.price_cents))


class CloseQuoteAccept(_Create):
    quote_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")


class BackupCreate(_Create):
    #: above the stored version; the same version and bytes again is a no-op
    version: int = Field(ge=1, le=2**63 - 1)
    #: the encrypted backup, standard base64 with padding
    data_b64: str = Field(
        pattern=wdlc.BACKUP_B64_PATTERN, max_length=(wdlc.MAX_BACKUP_BYTES + 2) // 3 * 4
    )


class BackupInfoPublic(_Public):
    version: int
    size_bytes: int
    sha256: str
    stored_at: dt.datetime


class BackupPublic(BackupInfoPublic):
    data_b64: str


class StateNumberPublic(_Public):
    #: +1 with every change of any of your positions; 0 before the first
    state_number: int


class NodeInfoPublic(_Public):
    node_pubkey: str
    host: str
    port: int
    network: str
    alias: str
    #: node_pubkey@host:port, as Lightning wallets take it
    uri: str

    @classmethod
    def of(cls, n: wdlc.NodeInfo) -> NodeInfoPublic:
        host = f"[{n.host}]" if ":" in n.host else n.host
        return cls(**n.model_dump(), uri=f"{n.node_pubkey}@{host}:{n.port}")


# -- the WebSocket ----------------------------------------------------------------

WS_PATH = "/api/v1/ws"
_CHANNEL = r"^(book:[a-z0-9_-]{1,64}|trades:[a-z0-9_-]{1,64}|price|orders|positions|protocol)$"
ChannelName = Annotated[str, Field(pattern=_CHANNEL, examples=["price", "positions"])]
Seq = Annotated[StrictInt, Field(ge=0, le=2**63 - 1)]


class AuthOp(_Create):
    """Sign this connection in with a session token (for the private channels)."""

    op: Literal["auth"]
    token: str = Field(min_length=1, max_length=200)


class SubscribeOp(_Create):
    """Subscribe; ``resume`` gives, per channel, the last ``seq`` the client saw."""

    op: Literal["subscribe"]
    channels: list[ChannelName] = Field(min_length=1, max_length=100)
    resume: dict[ChannelName, Seq] = Field(default_factory=dict)


class UnsubscribeOp(_Create):
    op: Literal["unsubscribe"]
    channels: list[ChannelName] = Field(min_length=1, max_length=100)


class PingOp(_Create):
    op: Literal["ping"]


ClientMessage = Annotated[AuthOp | SubscribeOp | UnsubscribeOp | PingOp, Field(discriminator="op")]


class UpdateMessage(_Public):
    """One update of a channel: ``seq`` is exactly one more than the previous one's."""

    type: Literal["update"]
    channel: str
    seq: int
    data: dict[str, Any]


class SnapshotMessage(_Public):
    """The channel's state at ``seq``; the updates after it follow."""

    type: Literal["snapshot"]
    channel: str
    seq: int
    data: dict[str, Any]


class SubscribedMessage(_Public):
    """Caught up: the client is at ``seq``; live updates follow."""

    type: Literal["subscribed"]
    channel: str
    seq: int


class UnsubscribedMessage(_Public):
    type: Literal["unsubscribed"]
    channel: str


class AuthenticatedMessage(_Public):
    type: Literal["authenticated"]
    public_key: str
    expires_at: dt.datetime


class HeartbeatMessage(_Public):
    """Sent every few seconds (``ws_heartbeat_s``) so clients can tell a dead link."""

    type: Literal["heartbeat"]
    at: dt.datetime


class PongMessage(_Public):
    type: Literal["pong"]


class ErrorMessage(_Public):
    """An operation refused (the connection stays open); ``channel`` if it was about one."""

    type: Literal["error"]
    code: str
    message: str
    channel: str | None = None


class PositionUpdate(_Public):
    """``positions`` update: a position after a change (seq: your state number)."""

    event: Literal["position.created", "position.updated", "position.opened", "position.closed"]
    position: PositionPublic


class PositionsSnapshot(_Public):
    """``positions`` snapshot: your active positions at the state number ``seq``."""

    positions: list[PositionPublic]


@dataclass(frozen=True)
class WsChannel:
    """A WebSocket channel: its name, who may read it, where its ``seq`` comes from."""

    name: str
    private: bool
    seq: str
    update: type[BaseModel]
    snapshot: type[BaseModel] | None


WS_CHANNELS: list[WsChannel] = [
    WsChannel(
        "book",
        False,
        "the order book's own per-market sequence number (gapless); snapshot: the top levels",
        BookDeltaPublic,
        BookPublic,
    ),
    WsChannel(
        "trades",
        False,
        "numbered by the gateway per market; snapshot: the recent trades",
        MarketTradePublic,
        MarketTradeList,
    ),
    WsChannel(
        "orders",
        True,
        "numbered by the gateway per key; snapshot: your open orders",
        OrderUpdate,
        OrdersSnapshot,
    ),
    WsChannel(
        "price",
        False,
        "numbered by the gateway; snapshot: the latest price",
        IndexPricePublic,
        IndexPricePublic,
    ),
    WsChannel(
        "positions",
        True,
        "the DLC service's state number of your positions; snapshot: the active ones",
        PositionUpdate,
        PositionsSnapshot,
    ),
    WsChannel(
        "protocol",
        True,
        "the DLC service's message number; every missed message is sent again, never a snapshot",
        ProtocolMessagePublic,
        None,
    ),
]

_CLIENT_OPS: list[type[BaseModel]] = [AuthOp, SubscribeOp, UnsubscribeOp, PingOp]
_SERVER_CONTROL: list[type[BaseModel]] = [
    SubscribedMessage,
    UnsubscribedMessage,
    AuthenticatedMessage,
    HeartbeatMessage,
    PongMessage,
    ErrorMessage,
]


def _ws_id(*parts: str) -> str:
    return "ws-" + "-".join(p.replace(":", "_").replace(".", "_") for p in parts)


def _envelope(kind: str, channel: WsChannel, data_ref: dict[str, Any]) -> dict[str, Any]:
    pattern = f"^{channel.name}:[a-z0-9_-]+$" if channel.name in ("book", "trades") else None
    name = {"type": "string", "pattern": pattern} if pattern else {"const": channel.name}
    return {
        "type": "object",
        "required": ["type", "channel", "seq", "data"],
        "properties": {
            "type": {"const": kind},
            "channel": name,
            "seq": {"type": "integer", "minimum": 0},
            "data": data_ref,
        },
    }


def asyncapi_extension() -> dict[str, Any]:
    """The WebSocket part of docs/asyncapi.yaml (merged by ``tentenone.wire.asyncapi``)."""
    ref = "#/components/schemas/{model}"
    models: list[type[BaseModel]] = [*_CLIENT_OPS, *_SERVER_CONTROL]
    for channel in WS_CHANNELS:
        models += [channel.update] + ([channel.snapshot] if channel.snapshot else [])
    keyed, top = models_json_schema([(m, "serialization") for m in models], ref_template=ref)
    refs = {model: dict(schema) for (model, _), schema in keyed.items()}
    messages: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for model in _CLIENT_OPS:
        mid = _ws_id("client", model.__name__)
        messages[mid] = {"name": model.__name__, "summary": _doc(model), "payload": refs[model]}
        operations[_ws_id("gateway-receives", model.__name__)] = {
            "action": "receive",
            "channel": {"$ref": "#/channels/ws"},
            "messages": [{"$ref": f"#/channels/ws/messages/{mid}"}],
        }
    sent: list[str] = []
    for model in _SERVER_CONTROL:
        mid = _ws_id("server", model.__name__)
        messages[mid] = {"name": model.__name__, "summary": _doc(model), "payload": refs[model]}
        sent.append(mid)
    for channel in WS_CHANNELS:
        kinds = [("update", channel.update)]
        if channel.snapshot is not None:
            kinds.append(("snapshot", channel.snapshot))
        for kind, data in kinds:
            mid = _ws_id(kind, channel.name)
            messages[mid] = {
                "name": f"{channel.name} {kind}",
                "summary": f"{'private' if channel.private else 'public'}; seq: {channel.seq}",
                "payload": _envelope(kind, channel, refs[data]),
            }
            sent.append(mid)
    operations[_ws_id("gateway-sends")] = {
        "action": "send",
        "channel": {"$ref": "#/channels/ws"},
        "messages": [{"$ref": f"#/channels/ws/messages/{m}"} for m in sent],
    }
    return {
        "servers": {
            "gateway": {
                "host": "gateway:8000",
                "pathname": WS_PATH,
                "protocol": "wss",
                "description": "the app's WebSocket (TLS ends at the ingress)",
            }
        },
        "channels": {
            "ws": {
                "address": WS_PATH,
                "description": (
                    "One WebSocket for every subscription: JSON text frames, one message each. "
                    "Per channel, updates come in seq order with no gap and no repeat; resume "
                    "with the last seq seen. Close codes: 1003 binary frame, 1008 too many "
                    "messages, 1009 message too large, 1013 not ready, 4001 session expired "
                    "or revoked, 4008 slow consumer."
                ),
                "servers": [{"$ref": "#/servers/gateway"}],
                "messages": {m: {"$ref": f"#/components/messages/{m}"} for m in messages},
            }
        },
        "operations": operations,
        "messages": messages,
        "schemas": top.get("$defs", {}),
    }


def _doc(model: type[BaseModel]) -> str:
    return (model.__doc__ or "").strip().split("\n")[0]
