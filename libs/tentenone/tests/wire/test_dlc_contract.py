"""The DLC service's wire contract: names, shapes and limits the gateway relies on."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import pytest

from tentenone.errors import ConflictError, error_class_for_code
from tentenone.wire import REGISTRY, MalformedMessage, dlc

KEY = "ab" * 32
NOW = dt.datetime(2025, 1, 3, 8, tzinfo=dt.UTC)


def _position(**overrides: Any) -> dict[str, Any]:
    return {
        "position_id": "p-1",
        "trader_pubkey": KEY,
        "market": "btcusd1735891200",
        "expiry": NOW,
        "side": "long",
        "quantity": 100,
        "entry_price_cents": 9_000_000,
        "leverage": 5,
        "trader_margin_sat": 22_222,
        "coordinator_margin_sat": 111_111,
        "state": "offered",
        "version": 1,
        "trade_id": "7",
        "order_id": "12",
        "pnl": {},
        "created_at": NOW,
        "updated_at": NOW,
        **overrides,
    }


def test_every_method_is_registered_under_dlc() -> None:
    names = {m.routing_key for m in REGISTRY.rpc_methods() if m.service == "dlc"}
    assert names >= {
        "dlc.list_positions",
        "dlc.get_position",
        "dlc.list_protocol_messages",
        "dlc.submit_protocol_message",
        "dlc.request_close_quote",
        "dlc.accept_close_quote",
        "dlc.request_rollover",
        "dlc.put_backup",
        "dlc.get_backup",
        "dlc.get_state_number",
        "dlc.get_node_info",
    }


def test_events_are_registered_on_the_dlc_exchange() -> None:
    for event_type in (
        "position.created",
        "position.updated",
        "position.opened",
        "position.closed",
        "dlc.protocol_message",
    ):
        assert REGISTRY.event_class(event_type).source == "dlc"


def test_every_trader_request_needs_a_well_formed_key() -> None:
    for key in ("", "AB" * 32, "ab" * 31, "ab" * 33, "zz" * 32):
        with pytest.raises(MalformedMessage):
            dlc.TraderRequest.from_data({"trader_pubkey": key})
    with pytest.raises(MalformedMessage):
        dlc.PositionRequest.from_data({"position_id": "p-1"})


def test_position_round_trips_and_rejects_unknown_states() -> None:
    pos = dlc.Position.from_data(_position())
    assert dlc.Position.from_json_bytes(pos.to_json_bytes()) == pos
    with pytest.raises(MalformedMessage):
        dlc.Position.from_data(_position(state="lost"))
    with pytest.raises(MalformedMessage):
        dlc.Position.from_data(_position(leverage=11))
    changed = dlc.PositionOpened(state_number=3, position=pos)
    assert changed.position.position_id == "p-1"


def test_protocol_messages_are_hex_with_a_bounded_size() -> None:
    ok = {"trader_pubkey": KEY, "position_id": "p-1", "message_type": "accept_dlc"}
    dlc.SubmitProtocolMessage.from_data({**ok, "payload_hex": "a71c00"})
    for bad in ("A71C", "a71", "xyz0"):
        with pytest.raises(MalformedMessage):
            dlc.SubmitProtocolMessage.from_data({**ok, "payload_hex": bad})
    too_long = "00" * (dlc.MAX_PROTOCOL_MESSAGE_BYTES + 1)
    with pytest.raises(MalformedMessage):
        dlc.SubmitProtocolMessage.from_data({**ok, "payload_hex": too_long})
    with pytest.raises(MalformedMessage):
        dlc.SubmitProtocolMessage.from_data({**ok, "message_type": "Accept", "payload_hex": ""})


def test_backups_are_padded_base64_with_a_positive_version() -> None:
    blob = base64.b64encode(b"\x00\x01secret").decode()
    dlc.PutBackup.from_data({"trader_pubkey": KEY, "version": 1, "data_b64": blob})
    for data in ("abc", "ab=c", "YWJj\n", "-_=="):
        with pytest.raises(MalformedMessage):
            dlc.PutBackup.from_data({"trader_pubkey": KEY, "version": 1, "data_b64": data})
    with pytest.raises(MalformedMessage):
        dlc.PutBackup.from_data({"trader_pubkey": KEY, "version": 0, "data_b64": blob})
    assert dlc.BUS_MESSAGE_BYTES > dlc.MAX_BACKUP_BYTES * 4 // 3


def test_stale_backup_is_a_conflict_found_by_code() -> None:
    assert error_class_for_code("stale_backup") is dlc.StaleBackup
    assert issubclass(dlc.StaleBackup, ConflictError)
    assert dlc.StaleBackup.http_status == 409


def test_node_info_is_a_compressed_node_id() -> None:
    info = {"node_pubkey": "02" + "11" * 32, "host": "ln.example", "port": 9735}
    dlc.NodeInfo.from_data({**info, "network": "regtest"})
    with pytest.raises(MalformedMessage):
        dlc.NodeInfo.from_data({**info, "node_pubkey": "04" + "11" * 32, "network": "regtest"})
