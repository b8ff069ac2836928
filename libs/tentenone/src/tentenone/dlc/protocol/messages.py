"""The protocol's own messages: collaborative close, renewal (rollover), reject.

dlcspecs has no close or renewal messages in the version we implement, so
these are ours (ADR 0100): framed exactly like offer_dlc (a ``u16`` type,
the fields with the dlcspecs codec, a trailing TLV stream), with even types
in a private range 43008..43022 that no dlcspecs message uses.

:func:`parse_protocol_message` reads any message of the protocol (the three
dlcspecs ones and these); :func:`message_json` gives the JSON view that the
gateway shows next to the hex.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Self

from tentenone.dlc.contract import ContractInfo, read_contract_info
from tentenone.dlc.errors import DecodeError
from tentenone.dlc.messages import (
    AcceptDlc,
    FramedMessage,
    FundingInput,
    OfferDlc,
    SignDlc,
    read_adaptor_signatures,
    read_witness_stacks,
    write_adaptor_signatures,
    write_witness_stacks,
)
from tentenone.dlc.tlv import Reader, TlvRecord, Writer, read_tlv_stream, write_tlv_stream

__all__ = [
    "PROTOCOL_VERSION",
    "CloseAccept",
    "CloseConfirm",
    "CloseOffer",
    "CloseReason",
    "ProtocolMessage",
    "Reject",
    "RenewAccept",
    "RenewFinalize",
    "RenewOffer",
    "RenewSign",
    "message_json",
    "message_name",
    "parse_protocol_message",
]

PROTOCOL_VERSION = 1
_ID = 32
_POINT = 33
_SIG = 64


class CloseReason:
    """Why a close is offered (``CloseOffer.reason``)."""

    EARLY_CLOSE = 0
    LIQUIDATION = 1


@dataclass(frozen=True, slots=True)
class CloseOffer(FramedMessage):
    """Coordinator → trader: close the contract paying these amounts (a quote).

    ``expires_at`` (UNIX seconds): the coordinator refuses a ``close_accept``
    received later. ``price`` is the USD price the payouts were computed at.
    """

    MESSAGE_TYPE = 43008
    protocol_version: int
    contract_id: bytes
    close_id: bytes
    offer_payout: int
    accept_payout: int
    price: int
    expires_at: int
    reason: int = CloseReason.EARLY_CLOSE
    tlvs: tuple[TlvRecord, ...] = field(default=())

    def write_fields(self, w: Writer) -> None:
        w.u32(self.protocol_version, "protocol_version")
        w.raw(self.contract_id, _ID, "contract_id")
        w.raw(self.close_id, _ID, "close_id")
        w.u64(self.offer_payout, "offer_payout")
        w.u64(self.accept_payout, "accept_payout")
        w.u64(self.price, "price")
        w.u32(self.expires_at, "expires_at")
        w.u8(self.reason, "reason")
        write_tlv_stream(w, self.tlvs)

    @classmethod
    def read_fields(cls, r: Reader) -> Self:
        return cls(
            r.u32("protocol_version"),
            r.raw(_ID, "contract_id"),
            r.raw(_ID, "close_id"),
            r.u64("offer_payout"),
            r.u64("accept_payout"),
            r.u64("price"),
            r.u32("expires_at"),
            r.u8("reason"),
            read_tlv_stream(r, "close_offer_tlvs"),
        )


@dataclass(frozen=True, slots=True)
class CloseAccept(FramedMessage):
    """Trader → coordinator: the trader's signature of the closing transaction."""

    MESSAGE_TYPE = 43010
    protocol_version: int
    contract_id: bytes
    close_id: bytes
    accept_signature: bytes
    tlvs: tuple[TlvRecord, ...] = field(default=())

    def write_fields(self, w: Writer) -> None:
        w.u32(self.protocol_version, "protocol_version")
        w.raw(self.contract_id, _ID, "contract_id")
        w.raw(self.close_id, _ID, "close_id")
        w.raw(self.accept_signature, _SIG, "accept_signature")
        write_tlv_stream(w, self.tlvs)

    @classmethod
    def read_fields(cls, r: Reader) -> Self:
        return cls(
            r.u32("protocol_version"),
            r.raw(_ID, "contract_id"),
            r.raw(_ID, "close_id"),
            r.raw(_SIG, "accept_signature"),
            read_tlv_stream(r, "close_accept_tlvs"),
        )


@dataclass(frozen=True, slots=True)
class CloseConfirm(FramedMessage):
    """Coordinator → trader: the coordinator's signature; the closing tx is complete."""

    MESSAGE_TYPE = 43012
    protocol_version: int
    contract_id: bytes
    close_id: bytes
    offer_signature: bytes
    tlvs: tuple[TlvRecord, ...] = field(default=())

    def write_fields(self, w: Writer) -> None:
        w.u32(self.protocol_version, "protocol_version")
        w.raw(self.contract_id, _ID, "contract_id")
        w.raw(self.close_id, _ID, "close_id")
        w.raw(self.offer_signature, _SIG, "offer_signature")
        write_tlv_stream(w, self.tlvs)

    @classmethod
    def read_fields(cls, r: Reader) -> Self:
        return cls(
            r.u32("protocol_version"),
            r.raw(_ID, "contract_id"),
            r.raw(_ID, "close_id"),
            r.raw(_SIG, "offer_signature"),
            read_tlv_stream(r, "close_confirm_tlvs"),
        )


@dataclass(frozen=True, slots=True)
class RenewOffer(FramedMessage):
    """Coordinator → trader: replace contract ``contract_id`` by a new one.

    Like offer_dlc for the new contract, except that its funding output is
    made by a renewal transaction spending the old funding output (plus the
    coordinator's ``fee_inputs``, which pay the renewal's fee).
    """

    MESSAGE_TYPE = 43014
    protocol_version: int
    contract_id: bytes
    temporary_contract_id: bytes
    contract_info: ContractInfo
    funding_pubkey: bytes
    payout_spk: bytes
    payout_serial_id: int
    offer_collateral: int
    fee_inputs: tuple[FundingInput, ...]
    change_spk: bytes
    change_serial_id: int
    fund_output_serial_id: int
    feerate_per_vb: int
    cet_locktime: int
    refund_locktime: int
    expires_at: int
    tlvs: tuple[TlvRecord, ...] = field(default=())

    def write_fields(self, w: Writer) -> None:
        w.u32(self.protocol_version, "protocol_version")
        w.raw(self.contract_id, _ID, "contract_id")
        w.raw(self.temporary_contract_id, _ID, "temporary_contract_id")
        self.contract_info.write(w)
        w.raw(self.funding_pubkey, _POINT, "funding_pubkey")
        w.spk(self.payout_spk, "payout_spk")
        w.u64(self.payout_serial_id, "payout_serial_id")
        w.u64(self.offer_collateral, "offer_collateral_satoshis")
        w.bigsize(len(self.fee_inputs))
        for item in self.fee_inputs:
            item.write(w)
        w.spk(self.change_spk, "change_spk")
        w.u64(self.change_serial_id, "change_serial_id")
        w.u64(self.fund_output_serial_id, "fund_output_serial_id")
        w.u64(self.feerate_per_vb, "feerate_per_vb")
        w.u32(self.cet_locktime, "cet_locktime")
        w.u32(self.refund_locktime, "refund_locktime")
        w.u32(self.expires_at, "expires_at")
        write_tlv_stream(w, self.tlvs)

    @classmethod
    def read_fields(cls, r: Reader) -> Self:
        return cls(
            protocol_version=r.u32("protocol_version"),
            contract_id=r.raw(_ID, "contract_id"),
            temporary_contract_id=r.raw(_ID, "temporary_contract_id"),
            contract_info=read_contract_info(r),
            funding_pubkey=r.raw(_POINT, "funding_pubkey"),
            payout_spk=r.spk("payout_spk"),
            payout_serial_id=r.u64("payout_serial_id"),
            offer_collateral=r.u64("offer_collateral_satoshis"),
            fee_inputs=tuple(FundingInput.read(r) for _ in range(r.count("num_fee_inputs", 25))),
            change_spk=r.spk("change_spk"),
            change_serial_id=r.u64("change_serial_id"),
            fund_output_serial_id=r.u64("fund_output_serial_id"),
            feerate_per_vb=r.u64("feerate_per_vb"),
            cet_locktime=r.u32("cet_locktime"),
            refund_locktime=r.u32("refund_locktime"),
            expires_at=r.u32("expires_at"),
            tlvs=read_tlv_stream(r, "renew_offer_tlvs"),
        )

    @property
    def total_collateral(self) -> int:
        return self.contract_info.total_collateral


@dataclass(frozen=True, slots=True)
class RenewAccept(FramedMessage):
    """Trader → coordinator: the trader's keys and signatures for the new contract."""

    MESSAGE_TYPE = 43016
    protocol_version: int
    temporary_contract_id: bytes
    funding_pubkey: bytes
    payout_spk: bytes
    payout_serial_id: int
    cet_adaptor_signatures: tuple[bytes, ...]
    refund_signature: bytes
    tlvs: tuple[TlvRecord, ...] = field(default=())

    def write_fields(self, w: Writer) -> None:
        w.u32(self.protocol_version, "protocol_version")
        w.raw(self.temporary_contract_id, _ID, "temporary_contract_id")
        w.raw(self.funding_pubkey, _POINT, "funding_pubkey")
        w.spk(self.payout_spk, "payout_spk")
        w.u64(self.payout_serial_id, "payout_serial_id")
        write_adaptor_signatures(w, self.cet_adaptor_signatures)
        w.raw(self.refund_signature, _SIG, "refund_signature")
        write_tlv_stream(w, self.tlvs)

    @classmethod
    def read_fields(cls, r: Reader) -> Self:
        return cls(
            r.u32("protocol_version"),
            r.raw(_ID, "temporary_contract_id"),
            r.raw(_POINT, "funding_pubkey"),
            r.spk("payout_spk"),
            r.u64("payout_serial_id"),
            read_adaptor_signatures(r),
            r.raw(_SIG, "refund_signature"),
            read_tlv_stream(r, "renew_accept_tlvs"),
        )


@dataclass(frozen=True, slots=True)
class RenewSign(FramedMessage):
    """Coordinator → trader: the new contract's CET and refund signatures, then the
    coordinator's signature of the renewal tx and the witnesses of its fee inputs."""

    MESSAGE_TYPE = 43018
    protocol_version: int
    contract_id: bytes
    cet_adaptor_signatures: tuple[bytes, ...]
    refund_signature: bytes
    renewal_signature: bytes
    fee_input_witnesses: tuple[tuple[bytes, ...], ...]
    tlvs: tuple[TlvRecord, ...] = field(default=())

    def write_fields(self, w: Writer) -> None:
        w.u32(self.protocol_version, "protocol_version")
        w.raw(self.contract_id, _ID, "contract_id")
        write_adaptor_signatures(w, self.cet_adaptor_signatures)
        w.raw(self.refund_signature, _SIG, "refund_signature")
        w.raw(self.renewal_signature, _SIG, "renewal_signature")
        write_witness_stacks(w, self.fee_input_witnesses)
        write_tlv_stream(w, self.tlvs)

    @classmethod
    def read_fields(cls, r: Reader) -> Self:
        return cls(
            r.u32("protocol_version"),
            r.raw(_ID, "contract_id"),
            read_adaptor_signatures(r),
            r.raw(_SIG, "refund_signature"),
            r.raw(_SIG, "renewal_signature"),
            read_witness_stacks(r),
            read_tlv_stream(r, "renew_sign_tlvs"),
        )


@dataclass(frozen=True, slots=True)
class RenewFinalize(FramedMessage):
    """Trader → coordinator: the trader's signature of the renewal transaction."""

    MESSAGE_TYPE = 43020
    protocol_version: int
    contract_id: bytes
    renewal_signature: bytes
    tlvs: tuple[TlvRecord, ...] = field(default=())

    def write_fields(self, w: Writer) -> None:
        w.u32(self.protocol_version, "protocol_version")
        w.raw(self.contract_id, _ID, "contract_id")
        w.raw(self.renewal_signature, _SIG, "renewal_signature")
        write_tlv_stream(w, self.tlvs)

    @classmethod
    def read_fields(cls, r: Reader) -> Self:
        return cls(
            r.u32("protocol_version"),
            r.raw(_ID, "contract_id"),
            r.raw(_SIG, "renewal_signature"),
            read_tlv_stream(r, "renew_finalize_tlvs"),
        )


@dataclass(frozen=True, slots=True)
class Reject(FramedMessage):
    """Either side: the message about ``contract_id`` (or temporary id) is refused.

    ``code`` is the refusing error's stable code, ``message`` says why.
    """

    MESSAGE_TYPE = 43022
    protocol_version: int
    contract_id: bytes
    code: str
    message: str
    tlvs: tuple[TlvRecord, ...] = field(default=())

    def write_fields(self, w: Writer) -> None:
        w.u32(self.protocol_version, "protocol_version")
        w.raw(self.contract_id, _ID, "contract_id")
        w.string(self.code, "code")
        w.string(self.message, "message")
        write_tlv_stream(w, self.tlvs)

    @classmethod
    def read_fields(cls, r: Reader) -> Self:
        return cls(
            r.u32("protocol_version"),
            r.raw(_ID, "contract_id"),
            r.string("code"),
            r.string("message"),
            read_tlv_stream(r, "reject_tlvs"),
        )


ProtocolMessage = (
    OfferDlc
    | AcceptDlc
    | SignDlc
    | CloseOffer
    | CloseAccept
    | CloseConfirm
    | RenewOffer
    | RenewAccept
    | RenewSign
    | RenewFinalize
    | Reject
)

_NAMES: dict[type[Any], str] = {
    OfferDlc: "offer_dlc",
    AcceptDlc: "accept_dlc",
    SignDlc: "sign_dlc",
    CloseOffer: "close_offer",
    CloseAccept: "close_accept",
    CloseConfirm: "close_confirm",
    RenewOffer: "renew_offer",
    RenewAccept: "renew_accept",
    RenewSign: "renew_sign",
    RenewFinalize: "renew_finalize",
    Reject: "reject",
}
_BY_TYPE: dict[int, Any] = {cls.MESSAGE_TYPE: cls for cls in _NAMES}


def message_name(message: ProtocolMessage) -> str:
    """The message's name (``offer_dlc``, ``close_accept`` ...)."""
    return _NAMES[type(message)]


def parse_protocol_message(data: bytes) -> ProtocolMessage:
    """Any message of the protocol, by its ``u16`` type; ``DecodeError`` otherwise."""
    r = Reader(bytes(data))
    kind = r.u16("type")
    cls = _BY_TYPE.get(kind)
    if cls is None:
        raise DecodeError(f"unknown protocol message type {kind}", field="type")
    message: ProtocolMessage = cls.parse(data)
    return message


def _json(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_json(v) for v in value]
    return value


def message_json(message: ProtocolMessage) -> dict[str, Any]:
    """A JSON view of ``message`` (bytes as hex); the hex is what counts."""
    view: dict[str, Any] = {"type": message_name(message)}
    view.update(_json(message))
    return view
