"""offer_dlc, accept_dlc and sign_dlc (dlcspecs Protocol.md, Messaging.md).

A wire message is a ``u16`` type then its fields; the length is the
transport's. :func:`parse_message` dispatches on the type. Every message ends
with a TLV stream (``offer_tlvs`` ...) kept raw, so ``parse(x).serialize() == x``.

Parsing is structural only; :mod:`tentenone.dlc.validation` checks the rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Self

from tentenone.dlc.contract import ContractInfo, read_contract_info
from tentenone.dlc.errors import DecodeError
from tentenone.dlc.payout_curve import RoundingIntervals
from tentenone.dlc.tlv import Reader, TlvRecord, Writer, read_tlv_stream, write_tlv_stream

__all__ = [
    "ADAPTOR_SIGNATURE_LEN",
    "AcceptDlc",
    "DisjointNegotiationFields",
    "DlcMessage",
    "FramedMessage",
    "FundingInput",
    "NegotiationFields",
    "OfferDlc",
    "SignDlc",
    "SingleNegotiationFields",
    "parse_message",
    "read_adaptor_signatures",
    "read_witness_stacks",
    "write_adaptor_signatures",
    "write_witness_stacks",
]

#: 65-byte ECDSA adaptor signature followed by its 97-byte DLEQ proof.
ADAPTOR_SIGNATURE_LEN = 162
_POINT_LEN = 33
_SIG_LEN = 64
_ID_LEN = 32


@dataclass(frozen=True, slots=True)
class FundingInput:
    """``funding_input``: a UTXO one party contributes to the funding transaction."""

    input_serial_id: int
    prevtx: bytes
    prevtx_vout: int
    sequence: int
    max_witness_len: int
    redeemscript: bytes = b""

    def write(self, w: Writer) -> None:
        w.u64(self.input_serial_id, "input_serial_id")
        w.var_bytes(self.prevtx)
        w.u32(self.prevtx_vout, "prevtx_vout")
        w.u32(self.sequence, "sequence")
        w.u16(self.max_witness_len, "max_witness_len")
        w.spk(self.redeemscript, "redeemscript")

    @classmethod
    def read(cls, r: Reader) -> Self:
        return cls(
            input_serial_id=r.u64("input_serial_id"),
            prevtx=r.var_bytes("prevtx"),
            prevtx_vout=r.u32("prevtx_vout"),
            sequence=r.u32("sequence"),
            max_witness_len=r.u16("max_witness_len"),
            redeemscript=r.spk("redeemscript"),
        )


def _write_inputs(w: Writer, inputs: tuple[FundingInput, ...]) -> None:
    w.bigsize(len(inputs))
    for item in inputs:
        item.write(w)


def _read_inputs(r: Reader) -> tuple[FundingInput, ...]:
    n = r.count("num_funding_inputs", 25)
    return tuple(FundingInput.read(r) for _ in range(n))


def write_adaptor_signatures(w: Writer, sigs: tuple[bytes, ...]) -> None:
    w.bigsize(len(sigs))
    for sig in sigs:
        w.raw(sig, ADAPTOR_SIGNATURE_LEN, "ecdsa_adaptor_signature")


def read_adaptor_signatures(r: Reader) -> tuple[bytes, ...]:
    n = r.count("nb_signatures", ADAPTOR_SIGNATURE_LEN)
    return tuple(r.raw(ADAPTOR_SIGNATURE_LEN, "ecdsa_adaptor_signature") for _ in range(n))


def write_witness_stacks(w: Writer, stacks: tuple[tuple[bytes, ...], ...]) -> None:
    w.bigsize(len(stacks))
    for stack in stacks:
        w.bigsize(len(stack))
        for element in stack:
            w.var_bytes(element)


def read_witness_stacks(r: Reader) -> tuple[tuple[bytes, ...], ...]:
    stacks = []
    for _ in range(r.count("num_witnesses", 1)):
        n = r.count("num_witness_elems", 1)
        stacks.append(tuple(r.var_bytes("witness") for _ in range(n)))
    return tuple(stacks)


@dataclass(frozen=True, slots=True)
class SingleNegotiationFields:
    """``single_negotiation_fields`` (type 0): the accepter's rounding intervals."""

    TYPE = 0
    rounding_intervals: RoundingIntervals

    def write(self, w: Writer) -> None:
        w.bigsize(self.TYPE)
        self.rounding_intervals.write(w)


@dataclass(frozen=True, slots=True)
class DisjointNegotiationFields:
    """``disjoint_negotiation_fields`` (type 1): one entry per disjoint event."""

    TYPE = 1
    fields: tuple[NegotiationFields, ...]

    def write(self, w: Writer) -> None:
        w.bigsize(self.TYPE)
        w.bigsize(len(self.fields))
        for item in self.fields:
            item.write(w)


NegotiationFields = SingleNegotiationFields | DisjointNegotiationFields


def _read_negotiation_fields(r: Reader, depth: int = 0) -> NegotiationFields:
    start = r.offset
    kind = r.bigsize("negotiation_fields")
    if kind == SingleNegotiationFields.TYPE:
        return SingleNegotiationFields(RoundingIntervals.read(r))
    if kind == DisjointNegotiationFields.TYPE and depth == 0:
        n = r.count("num_disjoint_events", 2)
        return DisjointNegotiationFields(
            tuple(_read_negotiation_fields(r, depth + 1) for _ in range(n))
        )
    raise DecodeError(f"negotiation_fields: unexpected type {kind} at offset {start}")


class FramedMessage:
    """Shared framing of every message: ``u16`` type, fields, TLV stream."""

    __slots__ = ()
    MESSAGE_TYPE: ClassVar[int]

    def write_fields(self, w: Writer) -> None:
        raise NotImplementedError

    @classmethod
    def read_fields(cls, r: Reader) -> Self:
        raise NotImplementedError

    def serialize(self) -> bytes:
        w = Writer()
        w.u16(self.MESSAGE_TYPE)
        self.write_fields(w)
        return w.getvalue()

    @classmethod
    def parse(cls, data: bytes) -> Self:
        r = Reader(bytes(data))
        kind = r.u16("type")
        if kind != cls.MESSAGE_TYPE:
            raise DecodeError(f"expected message type {cls.MESSAGE_TYPE}, got {kind}")
        return cls.read_fields(r)


@dataclass(frozen=True, slots=True)
class OfferDlc(FramedMessage):
    """``offer_dlc`` (type 42778)."""

    MESSAGE_TYPE = 42778
    protocol_version: int
    contract_flags: int
    chain_hash: bytes
    temporary_contract_id: bytes
    contract_info: ContractInfo
    funding_pubkey: bytes
    payout_spk: bytes
    payout_serial_id: int
    offer_collateral: int
    funding_inputs: tuple[FundingInput, ...]
    change_spk: bytes
    change_serial_id: int
    fund_output_serial_id: int
    feerate_per_vb: int
    cet_locktime: int
    refund_locktime: int
    tlvs: tuple[TlvRecord, ...] = field(default=())

    def write_fields(self, w: Writer) -> None:
        w.u32(self.protocol_version, "protocol_version")
        w.u8(self.contract_flags, "contract_flags")
        w.raw(self.chain_hash, _ID_LEN, "chain_hash")
        w.raw(self.temporary_contract_id, _ID_LEN, "temporary_contract_id")
        self.contract_info.write(w)
        w.raw(self.funding_pubkey, _POINT_LEN, "funding_pubkey")
        w.spk(self.payout_spk, "payout_spk")
        w.u64(self.payout_serial_id, "payout_serial_id")
        w.u64(self.offer_collateral, "offer_collateral_satoshis")
        _write_inputs(w, self.funding_inputs)
        w.spk(self.change_spk, "change_spk")
        w.u64(self.change_serial_id, "change_serial_id")
        w.u64(self.fund_output_serial_id, "fund_output_serial_id")
        w.u64(self.feerate_per_vb, "feerate_per_vb")
        w.u32(self.cet_locktime, "cet_locktime")
        w.u32(self.refund_locktime, "refund_locktime")
        write_tlv_stream(w, self.tlvs)

    @classmethod
    def read_fields(cls, r: Reader) -> Self:
        return cls(
            protocol_version=r.u32("protocol_version"),
            contract_flags=r.u8("contract_flags"),
            chain_hash=r.raw(_ID_LEN, "chain_hash"),
            temporary_contract_id=r.raw(_ID_LEN, "temporary_contract_id"),
            contract_info=read_contract_info(r),
            funding_pubkey=r.raw(_POINT_LEN, "funding_pubkey"),
            payout_spk=r.spk("payout_spk"),
            payout_serial_id=r.u64("payout_serial_id"),
            offer_collateral=r.u64("offer_collateral_satoshis"),
            funding_inputs=_read_inputs(r),
            change_spk=r.spk("change_spk"),
            change_serial_id=r.u64("change_serial_id"),
            fund_output_serial_id=r.u64("fund_output_serial_id"),
            feerate_per_vb=r.u64("feerate_per_vb"),
            cet_locktime=r.u32("cet_locktime"),
            refund_locktime=r.u32("refund_locktime"),
            tlvs=read_tlv_stream(r, "offer_tlvs"),
        )

    @property
    def total_collateral(self) -> int:
        return self.contract_info.total_collateral


@dataclass(frozen=True, slots=True)
class AcceptDlc(FramedMessage):
    """``accept_dlc`` (type 42780)."""

    MESSAGE_TYPE = 42780
    protocol_version: int
    temporary_contract_id: bytes
    accept_collateral: int
    funding_pubkey: bytes
    payout_spk: bytes
    payout_serial_id: int
    funding_inputs: tuple[FundingInput, ...]
    change_spk: bytes
    change_serial_id: int
    cet_adaptor_signatures: tuple[bytes, ...]
    refund_signature: bytes
    negotiation_fields: NegotiationFields | None = None
    tlvs: tuple[TlvRecord, ...] = field(default=())

    def write_fields(self, w: Writer) -> None:
        w.u32(self.protocol_version, "protocol_version")
        w.raw(self.temporary_contract_id, _ID_LEN, "temporary_contract_id")
        w.u64(self.accept_collateral, "accept_collateral_satoshis")
        w.raw(self.funding_pubkey, _POINT_LEN, "funding_pubkey")
        w.spk(self.payout_spk, "payout_spk")
        w.u64(self.payout_serial_id, "payout_serial_id")
        _write_inputs(w, self.funding_inputs)
        w.spk(self.change_spk, "change_spk")
        w.u64(self.change_serial_id, "change_serial_id")
        write_adaptor_signatures(w, self.cet_adaptor_signatures)
        w.raw(self.refund_signature, _SIG_LEN, "refund_signature")
        w.flag(self.negotiation_fields is not None)
        if self.negotiation_fields is not None:
            self.negotiation_fields.write(w)
        write_tlv_stream(w, self.tlvs)

    @classmethod
    def read_fields(cls, r: Reader) -> Self:
        return cls(
            protocol_version=r.u32("protocol_version"),
            temporary_contract_id=r.raw(_ID_LEN, "temporary_contract_id"),
            accept_collateral=r.u64("accept_collateral_satoshis"),
            funding_pubkey=r.raw(_POINT_LEN, "funding_pubkey"),
            payout_spk=r.spk("payout_spk"),
            payout_serial_id=r.u64("payout_serial_id"),
            funding_inputs=_read_inputs(r),
            change_spk=r.spk("change_spk"),
            change_serial_id=r.u64("change_serial_id"),
            cet_adaptor_signatures=read_adaptor_signatures(r),
            refund_signature=r.raw(_SIG_LEN, "refund_signature"),
            negotiation_fields=(
                _read_negotiation_fields(r) if r.flag("negotiation_fields present") else None
            ),
            tlvs=read_tlv_stream(r, "accept_tlvs"),
        )


@dataclass(frozen=True, slots=True)
class SignDlc(FramedMessage):
    """``sign_dlc`` (type 42782). ``funding_signatures`` holds one witness stack
    per offerer funding input, in ``input_serial_id`` order."""

    MESSAGE_TYPE = 42782
    protocol_version: int
    contract_id: bytes
    cet_adaptor_signatures: tuple[bytes, ...]
    refund_signature: bytes
    funding_signatures: tuple[tuple[bytes, ...], ...]
    tlvs: tuple[TlvRecord, ...] = field(default=())

    def write_fields(self, w: Writer) -> None:
        w.u32(self.protocol_version, "protocol_version")
        w.raw(self.contract_id, _ID_LEN, "contract_id")
        write_adaptor_signatures(w, self.cet_adaptor_signatures)
        w.raw(self.refund_signature, _SIG_LEN, "refund_signature")
        write_witness_stacks(w, self.funding_signatures)
        write_tlv_stream(w, self.tlvs)

    @classmethod
    def read_fields(cls, r: Reader) -> Self:
        protocol_version = r.u32("protocol_version")
        contract_id = r.raw(_ID_LEN, "contract_id")
        sigs = read_adaptor_signatures(r)
        refund = r.raw(_SIG_LEN, "refund_signature")
        stacks = read_witness_stacks(r)
        return cls(
            protocol_version=protocol_version,
            contract_id=contract_id,
            cet_adaptor_signatures=sigs,
            refund_signature=refund,
            funding_signatures=stacks,
            tlvs=read_tlv_stream(r, "sign_tlvs"),
        )


DlcMessage = OfferDlc | AcceptDlc | SignDlc
_BY_TYPE: dict[int, type[OfferDlc] | type[AcceptDlc] | type[SignDlc]] = {
    cls.MESSAGE_TYPE: cls for cls in (OfferDlc, AcceptDlc, SignDlc)
}


def parse_message(data: bytes) -> DlcMessage:
    """Any of the three contract negotiation messages, by its ``u16`` type."""
    r = Reader(bytes(data))
    kind = r.u16("type")
    cls = _BY_TYPE.get(kind)
    if cls is None:
        raise DecodeError(f"unknown DLC message type {kind}", field="type")
    return cls.parse(data)
