"""Encrypted backups of the trader's DLC state (ARCHITECTURE §3 "Backup and restore", ADR 0112).

The words restore the keys; a backup restores everything else needed to
settle, refund, close or roll over every position: each contract's protocol
messages, its funding key number, its state, the orders, and the cursors.

A blob is ``b"TTBK" | u8 format | u64 version | 12-byte nonce | ciphertext``;
the ciphertext is ChaCha20-Poly1305 (key from the seed, ``TraderKeys.backup_key``)
over the zlib-compressed JSON payload, with the first 13 bytes as associated
data. The version is readable without the key (so a store can refuse an older
one) and authenticated (so nobody can relabel an old backup as new).

Versions only grow: ``LocalBackupFile`` never replaces a newer blob with an
older one, nor does the coordinator (``StaleBackup``). The payload also carries
the coordinator's ``state_number`` and the protocol ``last_seq`` the trader had
applied when it wrote it; :func:`check_fresh` compares them with the
coordinator's on restore (see ADR 0112 for what "stale" means here).

A contract goes into the backup as :func:`settle_only` keeps it (ADR 0113):
without the trader's own CET adaptor signatures (only the coordinator ever
uses them) and with the coordinator's cut to what completing a CET needs, so
that a backup holds a dozen open 3,000-CET positions, not one.
"""

from __future__ import annotations

import datetime as dt
import secrets
import struct
import zlib
from collections.abc import Collection, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tentenone.atomic_file import write_atomic
from tentenone.dlc.adaptor import ADAPTOR_SIGNATURE_SIZE
from tentenone.dlc.messages import AcceptDlc, SignDlc
from tentenone.dlc.protocol.messages import RenewAccept, RenewSign, parse_protocol_message
from tentenone.dlc.protocol.states import TRADER_FINAL, TraderState
from tentenone.trader.errors import BackupCorrupt, BackupStale

__all__ = [
    "BACKUP_FORMAT",
    "BackupPayload",
    "ContractRecord",
    "LocalBackupFile",
    "OrderRecord",
    "StaleReport",
    "blob_version",
    "check_fresh",
    "decrypt_backup",
    "encrypt_backup",
    "record_of",
    "settle_only",
    "settle_only_signature",
]

_MAGIC = b"TTBK"
BACKUP_FORMAT = 1
_HEADER = struct.Struct(">4sBQ")
_NONCE = 12
#: refuse to inflate more than this (a crafted blob must not exhaust memory)
_MAX_PLAIN = 64 * 1024 * 1024
#: the generator (compressed): the R_a of a settle-only adaptor signature (any valid point
#: would do; a constant compresses to nothing)
_G = bytes.fromhex("0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ContractRecord(_Model):
    """A ``trader_contracts`` row as the backup keeps it (see ``tentenone.trader.models``)."""

    id: str
    state: int
    version: int
    position_id: str
    order_id: str | None = None
    trade_id: str = ""
    market: str
    side: str
    quantity: int
    price_cents: int
    leverage: int
    fee_sat: int = 0
    renews: str | None = None
    renewed_by: str | None = None
    funding_key: int | None = None
    temporary_contract_id: str
    contract_id: str | None = None
    offer_hex: str
    accept_hex: str | None = None
    sign_hex: str | None = None
    funding_tx_hex: str | None = None
    funding_txid: str | None = None
    reserved: str = ""
    trader_margin_sat: int = 0
    total_collateral: int = 0
    maturity: dt.datetime
    refund_locktime: int = 0
    close_offer_hex: str | None = None
    close_accept_hex: str | None = None
    spend_tx_hex: str | None = None
    spend_txid: str | None = None
    realized_pnl_sat: int | None = None
    note: str = ""
    created_at: dt.datetime
    updated_at: dt.datetime


class OrderRecord(_Model):
    id: str
    state: int
    version: int
    remote_id: str | None = None
    market: str
    side: str
    order_type: str
    time_in_force: str
    quantity: int
    price_cents: int | None = None
    leverage: int
    filled_quantity: int = 0
    note: str = ""
    created_at: dt.datetime
    updated_at: dt.datetime


class BackupPayload(_Model):
    format: int = BACKUP_FORMAT
    version: int = Field(ge=1)
    created_at: dt.datetime
    network: str
    #: the node key (x-only hex) the backup belongs to
    node_pubkey: str
    #: the coordinator's state number for this trader, as last applied
    state_number: int = Field(ge=0)
    #: the last protocol message (coordinator to trader) applied
    last_seq: int = Field(ge=0)
    #: the next funding key number to hand out
    funding_key_next: int = Field(ge=0)
    contracts: list[ContractRecord]
    orders: list[OrderRecord]
    #: messages for the coordinator not yet delivered (contract id, type, hex)
    undelivered: list[tuple[str, str, str, str]] = Field(default_factory=list)


def encrypt_backup(payload: BackupPayload, key: bytes) -> bytes:
    header = _HEADER.pack(_MAGIC, BACKUP_FORMAT, payload.version)
    nonce = secrets.token_bytes(_NONCE)
    # Z_FILTERED: the payload is mostly random hex, where deflate's short matches cost
    # more than the literals (about 14% smaller than the default strategy here)
    deflate = zlib.compressobj(6, zlib.DEFLATED, 15, 8, zlib.Z_FILTERED)
    plain = deflate.compress(payload.model_dump_json().encode()) + deflate.flush()
    return header + nonce + ChaCha20Poly1305(key).encrypt(nonce, plain, header)


def blob_version(blob: bytes) -> int:
    """The version a blob claims (authenticated only by :func:`decrypt_backup`)."""
    if len(blob) < _HEADER.size + _NONCE + 16:
        raise BackupCorrupt(f"a backup has at least {_HEADER.size + _NONCE + 16} bytes")
    magic, fmt, version = _HEADER.unpack_from(blob)
    if magic != _MAGIC:
        raise BackupCorrupt("this is not a tentenone backup")
    if fmt != BACKUP_FORMAT:
        raise BackupCorrupt(
            f"backup format {fmt} is not supported (this app reads {BACKUP_FORMAT})"
        )
    return int(version)


def decrypt_backup(blob: bytes, key: bytes) -> BackupPayload:
    """The payload of ``blob``; ``BackupCorrupt`` if it is not this seed's or is damaged."""
    version = blob_version(blob)
    header, nonce = blob[: _HEADER.size], blob[_HEADER.size : _HEADER.size + _NONCE]
    try:
        packed = ChaCha20Poly1305(key).decrypt(nonce, blob[_HEADER.size + _NONCE :], header)
    except InvalidTag:
        raise BackupCorrupt(
            "the backup does not decrypt with this seed's key: another wallet's, or damaged"
        ) from None
    inflate = zlib.decompressobj()
    plain = inflate.decompress(packed, _MAX_PLAIN)
    if inflate.unconsumed_tail:
        raise BackupCorrupt(f"the backup inflates beyond {_MAX_PLAIN} bytes")
    try:
        payload = BackupPayload.model_validate_json(plain)
    except ValidationError as exc:
        raise BackupCorrupt(
            f"the backup's content is not valid: {exc.error_count()} errors"
        ) from None
    if payload.version != version:
        raise BackupCorrupt("the backup's header and content disagree on its version")
    return payload


def settle_only_signature(sig: bytes) -> bytes:
    """What decrypting an adaptor signature reads of it: ``R`` and ``s_a``.

    ``R_a`` and the DLEQ proof (97 of the 162 bytes) only serve to verify it,
    which the trader did before it stored the message; they become constants
    that still parse (``R_a`` the generator, ``b`` = ``c`` = 0), so the message
    keeps its format and ``complete_cet`` works unchanged, but the signature no
    longer verifies: a settle-only copy is for settling, never for checking.
    """
    if len(sig) != ADAPTOR_SIGNATURE_SIZE:
        raise ValueError(f"an adaptor signature has {ADAPTOR_SIGNATURE_SIZE} bytes")
    return sig[:33] + _G + sig[66:98] + bytes(64)


def settle_only(record: ContractRecord) -> ContractRecord:
    """``record`` with what resuming it needs of its messages, and no more (ADR 0113).

    - accept: without its CET adaptor signatures (the trader's own: the coordinator
      completes CETs with them, the trader never does); the refund signature and
      every other field stay (they rebuild the CETs and the refund);
    - sign: the coordinator's adaptor signatures as :func:`settle_only_signature`
      keeps them, or none once the contract is final (nothing of it is settled again);
    - the offer and everything else as is.

    Idempotent. A message still to be sent is in ``undelivered``, whole.
    """
    final = TraderState(record.state) in TRADER_FINAL
    update: dict[str, str] = {}
    if record.accept_hex:
        accept = parse_protocol_message(bytes.fromhex(record.accept_hex))
        if isinstance(accept, AcceptDlc | RenewAccept):
            update["accept_hex"] = replace(accept, cet_adaptor_signatures=()).serialize().hex()
    if record.sign_hex:
        sign = parse_protocol_message(bytes.fromhex(record.sign_hex))
        if isinstance(sign, SignDlc | RenewSign):
            sigs = () if final else tuple(map(settle_only_signature, sign.cet_adaptor_signatures))
            update["sign_hex"] = replace(sign, cet_adaptor_signatures=sigs).serialize().hex()
    return record.model_copy(update=update)


class StaleReport(_Model):
    """What the coordinator knows that a backup does not."""

    backup_state_number: int
    coordinator_state_number: int
    #: positions the coordinator holds our signatures for that the backup lacks
    missing_positions: list[str]

    @property
    def behind(self) -> bool:
        return self.coordinator_state_number > self.backup_state_number


def check_fresh(
    payload: BackupPayload,
    coordinator_state_number: int,
    coordinator_positions: dict[str, str],
    contract_ids: Mapping[str, Collection[str]] | None = None,
) -> StaleReport:
    """Refuse a backup that lacks a position the trader signed (``BackupStale``).

    ``coordinator_positions`` maps each of the trader's positions the
    coordinator knows to its state (``tentenone.wire.dlc.PositionState``). A
    position past ``offered`` that the backup does not hold means the trader
    signed something after this backup was written: resuming from it could
    leave that position unsettleable, and would broadcast nothing that knows
    of it, so the backup is refused. A backup that is only behind in the
    state number (the coordinator saw the funding confirm, or settled while
    the app was closed) is resumed; the engine then catches up from the
    coordinator's messages and the chain before it broadcasts anything.

    ``contract_ids`` maps a position to its temporary and final contract ids: a
    renewal the backup holds under its own stand-in id (a backup written between
    renew_accept and renew_sign; the coordinator's id comes with renew_sign) is
    found by them.
    """
    known = {c.position_id for c in payload.contracts}
    known_contracts = {c.temporary_contract_id for c in payload.contracts} | {
        c.contract_id for c in payload.contracts if c.contract_id
    }
    ids = contract_ids or {}

    def held(pid: str) -> bool:
        return pid in known or not known_contracts.isdisjoint(ids.get(pid, ()))

    missing = sorted(
        pid
        for pid, state in coordinator_positions.items()
        if not held(pid) and state not in ("offered", "cancelled")
    )
    report = StaleReport(
        backup_state_number=payload.state_number,
        coordinator_state_number=coordinator_state_number,
        missing_positions=missing,
    )
    if missing:
        raise BackupStale(
            f"this backup (version {payload.version}, state {payload.state_number}) is older "
            f"than the coordinator's state {coordinator_state_number}: it lacks position(s) "
            f"{', '.join(missing)} that this wallet signed later; restore a newer backup",
            missing=missing,
        )
    return report


class LocalBackupFile:
    """The backup as a local file, replaced atomically and only by a newer version."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"LocalBackupFile({str(self.path)!r})"

    def read(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None

    def version(self) -> int:
        """The stored blob's version (0: none)."""
        blob = self.read()
        return 0 if blob is None else blob_version(blob)

    def write(self, blob: bytes) -> bool:
        """Store ``blob`` if it is newer than the stored one; False if it is not."""
        new = blob_version(blob)
        try:
            current = self.version()
        except BackupCorrupt:
            current = 0  # a damaged file is worth less than any backup
        if new < current:
            return False
        if new == current:
            return self.read() == blob
        self._replace(blob)
        return True

    def _replace(self, blob: bytes) -> None:
        write_atomic(self.path, blob)


def _record_fields(model: type[_Model]) -> list[str]:
    return list(model.model_fields)


def record_of(row: Any, model: type[_Model]) -> Any:
    """A ``ContractRecord``/``OrderRecord`` from a table row with the same fields."""
    return model.model_validate({name: getattr(row, name) for name in _record_fields(model)})
