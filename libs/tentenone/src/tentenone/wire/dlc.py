"""The DLC service on the bus, as the gateway (and so the app) uses it.

This module is the contract between the gateway and the DLC service
(``services/dlc``): the gateway calls exactly these RPC methods and relays
exactly these events; the DLC service serves and publishes them.

**Who is asking.** Every request about a trader carries ``trader_pubkey``:
the x-only BIP-340 public key (64 lower-case hex characters) the gateway
authenticated with a signed challenge. The DLC service scopes every read and
every write to that key and takes a trader's identity from nowhere else (not
from a message body, not from a position). A position, quote or backup of
another key is reported as not found (``NotFound``), never as forbidden, so
that ids reveal nothing about other traders.

**RPC methods** of the service ``dlc`` (``dlc.<method>``; errors are
``tentenone.errors`` classes, the gateway maps their codes to HTTP):

- ``list_positions`` (``ListPositionsRequest`` -> ``PositionList``): the
  trader's positions, newest first, with their P&L and the trader's state
  number at the time of reading;
- ``get_position`` (``PositionRequest`` -> ``Position``);
- ``list_protocol_messages`` (``ListProtocolMessagesRequest`` ->
  ``ProtocolMessageList``): the messages the coordinator sent the trader
  (``offer_dlc``, ``sign_dlc``, close and renewal messages) with a sequence
  number per trader, after a given one: how a reconnecting app resumes;
- ``submit_protocol_message`` (``SubmitProtocolMessage`` -> ``Position``):
  the trader's ``accept_dlc``, ``sign_dlc``, close and renewal messages;
- ``request_close_quote`` (``PositionRequest`` -> ``CloseQuote``): a price
  to close early, valid until ``expires_at``;
- ``accept_close_quote`` (``AcceptCloseQuote`` -> ``Position``): take it;
  the closing messages follow on the protocol channel;
- ``request_rollover`` (``PositionRequest`` -> ``Position``): renew into
  the next expiry; the renewal messages follow on the protocol channel;
- ``put_backup`` (``PutBackup`` -> ``BackupInfo``) and ``get_backup``
  (``TraderRequest`` -> ``Backup``): the trader's encrypted backup, one per
  trader, an opaque blob with a monotonic version;
- ``get_state_number`` (``TraderRequest`` -> ``StateNumber``): the current
  state number of the trader's positions (a restored app refuses to resume
  from a backup older than it);
- ``get_node_info`` (``NodeInfoRequest`` -> ``NodeInfo``): the coordinator's
  Lightning node, for the app to open a channel. The DLC service owns this
  method (it may ask the lightning service); while no service serves it the
  gateway answers 503.

**Events** on the exchange ``dlc.events``:

- ``position.created``, ``position.updated``, ``position.opened``,
  ``position.closed`` (``PositionChanged``): every change of a position
  publishes exactly one of them, in the transaction that makes the change:
  ``created`` when the position first exists (trade matched, offer made),
  ``opened`` when its funding reaches the configured depth, ``closed`` when
  it reaches a final state (settled, closed, refunded, cancelled),
  ``updated`` for every other change. Each carries the whole position and the
  trader's new ``state_number``;
- ``dlc.protocol_message`` (``ProtocolMessageSent``): the coordinator stored
  a message for the trader (published in the transaction that stores it,
  so before anything can depend on the trader having it).

**Sequence numbers.** ``state_number`` is per trader: it starts at 0 and
increases by exactly one with every ``position.*`` event of that trader, so
a consumer sees a gap when it missed one. ``ProtocolMessage.seq`` is per
trader too: 1 for the first message the coordinator sends a trader, then
exactly one more per message, over all that trader's positions. Both are
what the gateway's WebSocket channels ``positions`` and ``protocol`` use as
their sequence numbers.

**Idempotency.** Submitting the same message (same position, type and bytes)
again returns the current position and changes nothing; a different message
where one was already accepted is a ``ConflictError``. ``put_backup`` with
the stored version and the same bytes is a no-op; an older version, or the
same version with other bytes, is refused (``StaleBackup``, 409) and the
stored backup is kept.

**Sizes.** A protocol message is at most ``MAX_PROTOCOL_MESSAGE_BYTES`` and a
backup at most ``MAX_BACKUP_BYTES``; both services therefore need a bus
message limit of at least ``BUS_MESSAGE_BYTES`` (setting
``bus_max_message_bytes``). Amounts are integer satoshis, prices integer US
cents, quantities whole USD contracts; keys, ids and payloads lower-case hex,
backups standard base64 (RFC 4648 section 4, padded, no line breaks).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Final, Literal

from pydantic import Field

from tentenone.errors import ConflictError
from tentenone.wire.base import Event, RpcMethod, WireModel

__all__ = [
    "ACCEPT_CLOSE_QUOTE",
    "BACKUP_B64_PATTERN",
    "BUS_MESSAGE_BYTES",
    "FINAL_POSITION_STATES",
    "GET_BACKUP",
    "GET_NODE_INFO",
    "GET_POSITION",
    "GET_STATE_NUMBER",
    "LIST_POSITIONS",
    "LIST_PROTOCOL_MESSAGES",
    "MAX_BACKUP_BYTES",
    "MAX_PROTOCOL_MESSAGE_BYTES",
    "PUT_BACKUP",
    "REQUEST_CLOSE_QUOTE",
    "REQUEST_ROLLOVER",
    "SUBMIT_PROTOCOL_MESSAGE",
    "AcceptCloseQuote",
    "Backup",
    "BackupInfo",
    "CloseQuote",
    "ListPositionsRequest",
    "ListProtocolMessagesRequest",
    "NodeInfo",
    "NodeInfoRequest",
    "PnL",
    "Position",
    "PositionChanged",
    "PositionClosed",
    "PositionCreated",
    "PositionList",
    "PositionOpened",
    "PositionRequest",
    "PositionState",
    "PositionUpdated",
    "ProtocolMessage",
    "ProtocolMessageList",
    "ProtocolMessageSent",
    "PutBackup",
    "StaleBackup",
    "StateNumber",
    "SubmitProtocolMessage",
    "TraderKey",
    "TraderRequest",
]

#: Largest protocol message (serialized TLV bytes). One adaptor signature is 162
#: bytes per digit prefix of a CET's outcome range: a 2,000-CET contract with a 1x
#: side has over 13,000 of them (more than 2 MiB); 5 MiB holds 32,000.
MAX_PROTOCOL_MESSAGE_BYTES: Final = 5 * 1024 * 1024
#: Largest backup blob (bytes before base64): it holds the CET signatures of
#: every open position, which the app needs if the coordinator disappears.
MAX_BACKUP_BYTES: Final = 8 * 1024 * 1024
#: Bus message limit the gateway and the DLC service need for the above.
BUS_MESSAGE_BYTES: Final = 16 * 1024 * 1024

_HEX = r"^([0-9a-f]{2})*$"
BACKUP_B64_PATTERN: Final = r"^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
_B64_MAX = (MAX_BACKUP_BYTES + 2) // 3 * 4

#: A trader's identity: its node key, x-only (BIP-340), lower-case hex.
TraderKey = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="x-only public key")]
_PositionId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
_MessageType = Annotated[
    str,
    Field(
        pattern=r"^[a-z][a-z0-9_]{0,39}$",
        description="dlcspecs name where dlcspecs has the message (offer_dlc, accept_dlc, "
        "sign_dlc); otherwise the DLC service's name (e.g. close_offer, renew_offer)",
    ),
]

#: What a position is, as the trader sees it:
#: offered -> accepted -> signed -> funding -> open -> (closing | rolling_over) -> final.
#: ``rolling_over`` returns to ``open`` (the renewed contract) or stays open on failure.
PositionState = Literal[
    "offered",
    "accepted",
    "signed",
    "funding",
    "open",
    "closing",
    "rolling_over",
    "settled",
    "closed",
    "refunded",
    "cancelled",
]
FINAL_POSITION_STATES: Final = frozenset({"settled", "closed", "refunded", "cancelled"})


class StaleBackup(ConflictError):
    """A backup older than (or conflicting with) the stored one; the stored one is kept."""

    code = "stale_backup"


# -- requests ---------------------------------------------------------------


class TraderRequest(WireModel):
    """A request about one trader, whose key the gateway authenticated."""

    trader_pubkey: TraderKey


class PositionRequest(TraderRequest):
    position_id: _PositionId


class ListPositionsRequest(TraderRequest):
    #: active: not in a final state; closed: in one; all: both
    status: Literal["active", "closed", "all"] = "all"
    limit: int = Field(default=100, ge=1, le=500)


class ListProtocolMessagesRequest(TraderRequest):
    #: only messages with a sequence number above this (0: from the first)
    after_seq: int = Field(default=0, ge=0)
    #: only the messages of this position
    position_id: _PositionId | None = None
    limit: int = Field(default=50, ge=1, le=200)


class SubmitProtocolMessage(PositionRequest):
    """A message from the trader for one of its positions (accept_dlc, sign_dlc, ...)."""

    message_type: _MessageType
    payload_hex: str = Field(pattern=_HEX, max_length=2 * MAX_PROTOCOL_MESSAGE_BYTES)


class AcceptCloseQuote(PositionRequest):
    quote_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")


class PutBackup(TraderRequest):
    #: must be above the stored version (the same version and bytes again is a no-op)
    version: int = Field(ge=1, le=2**63 - 1)
    data_b64: str = Field(pattern=BACKUP_B64_PATTERN, max_length=_B64_MAX)


class NodeInfoRequest(WireModel):
    pass


# -- replies and event payloads -------------------------------------------


class PnL(WireModel):
    """A position's profit and loss for the trader, in satoshis (negative: a loss)."""

    #: the index price the unrealized P&L was marked at
    mark_price_cents: int | None = Field(default=None, ge=0)
    unrealized_pnl_sat: int | None = None
    #: set once the position is in a final state
    realized_pnl_sat: int | None = None
    #: fees the trader paid on this position so far
    fees_sat: int = Field(default=0, ge=0)


class Position(WireModel):
    """One position: a DLC between the trader and the coordinator."""

    position_id: _PositionId
    trader_pubkey: TraderKey
    #: the order book's market (the oracle event id of the expiry, e.g. btcusd1764316800)
    market: str = Field(min_length=1, max_length=64)
    expiry: dt.datetime
    #: the trader's side
    side: Literal["long", "short"]
    quantity: int = Field(ge=1)
    entry_price_cents: int = Field(ge=1)
    leverage: int = Field(ge=1, le=10)
    trader_margin_sat: int = Field(ge=0)
    coordinator_margin_sat: int = Field(ge=0)
    #: below (long) / above (short) this price the payout is clamped at the margin
    liquidation_price_cents: int | None = Field(default=None, ge=0)
    state: PositionState
    #: increases by one with every change of this position
    version: int = Field(ge=1)
    #: the order book trade and order this position came from
    trade_id: str = Field(min_length=1, max_length=64)
    order_id: str = Field(min_length=1, max_length=64)
    #: dlcspecs ids: temporary until sign_dlc, then the contract id
    temporary_contract_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    contract_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    funding_txid: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    #: the CET, closing, renewal or refund transaction that spent the funding output
    closing_txid: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    pnl: PnL
    #: why the position is where it is, for a person (e.g. "waiting for accept_dlc")
    note: str = Field(default="", max_length=500)
    created_at: dt.datetime
    updated_at: dt.datetime


class PositionList(WireModel):
    positions: list[Position]
    #: the trader's state number when the list was read
    state_number: int = Field(ge=0)


class ProtocolMessage(WireModel):
    """A protocol message the coordinator sent a trader."""

    #: per trader: 1, 2, 3... over all the trader's positions
    seq: int = Field(ge=1)
    position_id: _PositionId
    message_type: _MessageType
    #: the serialized message (dlcspecs: u16 type then fields), lower-case hex
    payload_hex: str = Field(pattern=_HEX, max_length=2 * MAX_PROTOCOL_MESSAGE_BYTES)
    #: the message's fields as JSON for people and tools; long arrays (signatures)
    #: may be summarized (e.g. {"count": 3000}); payload_hex is what counts
    view: dict[str, Any] = Field(default_factory=dict)
    created_at: dt.datetime


class ProtocolMessageList(WireModel):
    messages: list[ProtocolMessage]
    #: the trader's latest sequence number (0: none yet)
    last_seq: int = Field(ge=0)


class CloseQuote(WireModel):
    """An offer to close a position now; valid until ``expires_at``."""

    quote_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    position_id: _PositionId
    price_cents: int = Field(ge=1)
    trader_payout_sat: int = Field(ge=0)
    coordinator_payout_sat: int = Field(ge=0)
    fee_sat: int = Field(ge=0)
    realized_pnl_sat: int
    expires_at: dt.datetime


class BackupInfo(WireModel):
    version: int = Field(ge=1)
    size_bytes: int = Field(ge=0, le=MAX_BACKUP_BYTES)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    stored_at: dt.datetime


class Backup(BackupInfo):
    data_b64: str = Field(pattern=BACKUP_B64_PATTERN, max_length=_B64_MAX)


class StateNumber(WireModel):
    trader_pubkey: TraderKey
    #: see the module: +1 per position.* event of this trader; 0 before the first
    state_number: int = Field(ge=0)


class NodeInfo(WireModel):
    """The coordinator's Lightning node, as the app needs it to open a channel."""

    #: the node id: a compressed secp256k1 public key, 66 hex characters
    node_pubkey: str = Field(pattern=r"^0[23][0-9a-f]{64}$")
    host: str = Field(min_length=1, max_length=253)
    port: int = Field(ge=1, le=65535)
    network: Literal["mainnet", "testnet", "signet", "regtest"]
    alias: str = Field(default="", max_length=32)


# -- events -----------------------------------------------------------------


class PositionChanged(WireModel):
    """A position after a change, and the trader's state number after it."""

    state_number: int = Field(ge=1)
    position: Position


class PositionCreated(PositionChanged, Event):
    """A position exists: a trade matched and the coordinator made its offer."""

    event_type = "position.created"
    source = "dlc"


class PositionUpdated(PositionChanged, Event):
    """A position changed state (and is neither new, newly open nor final)."""

    event_type = "position.updated"
    source = "dlc"


class PositionOpened(PositionChanged, Event):
    """A position's funding transaction reached the configured depth."""

    event_type = "position.opened"
    source = "dlc"


class PositionClosed(PositionChanged, Event):
    """A position reached a final state: settled, closed, refunded or cancelled."""

    event_type = "position.closed"
    source = "dlc"


class ProtocolMessageSent(ProtocolMessage, Event):
    """The coordinator stored a protocol message for a trader (push it to the app)."""

    event_type = "dlc.protocol_message"
    source = "dlc"

    trader_pubkey: TraderKey


# -- RPC methods --------------------------------------------------------------

LIST_POSITIONS = RpcMethod(
    "dlc",
    "list_positions",
    ListPositionsRequest,
    PositionList,
    "a trader's positions, newest first, with P&L and the trader's state number",
)
GET_POSITION = RpcMethod("dlc", "get_position", PositionRequest, Position, "one position")
LIST_PROTOCOL_MESSAGES = RpcMethod(
    "dlc",
    "list_protocol_messages",
    ListProtocolMessagesRequest,
    ProtocolMessageList,
    "the coordinator's messages to a trader after a sequence number",
)
SUBMIT_PROTOCOL_MESSAGE = RpcMethod(
    "dlc",
    "submit_protocol_message",
    SubmitProtocolMessage,
    Position,
    "a trader's protocol message for one of its positions (idempotent)",
)
REQUEST_CLOSE_QUOTE = RpcMethod(
    "dlc", "request_close_quote", PositionRequest, CloseQuote, "a quote to close a position now"
)
ACCEPT_CLOSE_QUOTE = RpcMethod(
    "dlc",
    "accept_close_quote",
    AcceptCloseQuote,
    Position,
    "take a close quote before it expires; closing messages follow",
)
REQUEST_ROLLOVER = RpcMethod(
    "dlc",
    "request_rollover",
    PositionRequest,
    Position,
    "renew a position into the next expiry; renewal messages follow",
)
PUT_BACKUP = RpcMethod(
    "dlc",
    "put_backup",
    PutBackup,
    BackupInfo,
    "store a trader's encrypted backup; an older version never replaces a newer one",
)
GET_BACKUP = RpcMethod("dlc", "get_backup", TraderRequest, Backup, "a trader's latest backup")
GET_STATE_NUMBER = RpcMethod(
    "dlc",
    "get_state_number",
    TraderRequest,
    StateNumber,
    "the current state number of a trader's positions",
)
GET_NODE_INFO = RpcMethod(
    "dlc",
    "get_node_info",
    NodeInfoRequest,
    NodeInfo,
    "the coordinator's Lightning node (id, host, port) for opening a channel",
)
