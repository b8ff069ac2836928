"""DLC transactions (dlcspecs Transactions.md): funding, CETs, refund, closing; fees.

Public names (stable):

- constants ``DUST_LIMIT`` (1000 sat), ``FUND_TX_BASE_WEIGHT`` (214),
  ``CET_BASE_WEIGHT`` (498), ``TX_INPUT_BASE_WEIGHT`` (164)
- ``FundingInput`` (``from_prev_tx``), ``PartyParams``, ``PartyFees``
- fees: ``party_fees(party, fee_rate)``, ``funding_weight``, ``cet_weight``,
  ``weight_to_fee``, ``change_value``
- building: ``build_funding_transaction`` -> ``FundingTransaction``,
  ``build_cet``, ``build_cets``, ``build_refund_transaction``,
  ``build_closing_transaction``, ``build_dlc_transactions`` -> ``DlcTransactions``
- ids: ``contract_id(funding_txid, funding_output_index, temporary_contract_id)``
- signing the funding output's spends (CETs, refund, closing):
  ``funding_spend_sighash``, ``cet_sighashes``, ``sign_funding_spend``,
  ``verify_funding_spend``, ``funding_spend_witness``
- funding inputs: ``is_segwit_input``, ``sign_p2wpkh_input``, ``verify_p2wpkh_witness``
- errors: ``InsufficientFunding``, ``TransactionBuildError``

Amounts are integer satoshis, fee rates integer sat/vB. Where rust-dlc (the
reference that generated the vectors) and the spec text differ, the choice is
named at the function and in docs/adr/0024.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tentenone.bitcoin import ecdsa
from tentenone.bitcoin.curve import base_mult, scalar_from_bytes
from tentenone.bitcoin.script import (
    is_witness_script_pubkey,
    multisig_2of2,
    p2sh,
    p2wpkh,
    p2wsh,
    redeem_script_to_script_sig,
    sorted_pubkeys,
)
from tentenone.bitcoin.sighash import (
    SIGHASH_ALL,
    SegwitV0Sighasher,
    p2wpkh_script_code,
    segwit_v0_sighash,
)
from tentenone.bitcoin.tx import (
    MAX_MONEY,
    SEQUENCE_ENABLE_LOCKTIME,
    SEQUENCE_FINAL,
    OutPoint,
    Transaction,
    TxIn,
    TxOut,
    parse_transaction,
)
from tentenone.errors import InvalidInput

__all__ = [
    "CET_BASE_WEIGHT",
    "DUST_LIMIT",
    "FUND_TX_BASE_WEIGHT",
    "TX_INPUT_BASE_WEIGHT",
    "DlcTransactions",
    "FundingInput",
    "FundingTransaction",
    "InsufficientFunding",
    "PartyFees",
    "PartyParams",
    "TransactionBuildError",
    "build_cet",
    "build_cets",
    "build_closing_transaction",
    "build_dlc_transactions",
    "build_funding_transaction",
    "build_refund_transaction",
    "cet_sighashes",
    "cet_weight",
    "change_value",
    "contract_id",
    "funding_spend_sighash",
    "funding_spend_witness",
    "funding_weight",
    "is_segwit_input",
    "party_fees",
    "sign_funding_spend",
    "sign_p2wpkh_input",
    "verify_funding_spend",
    "verify_p2wpkh_witness",
    "weight_to_fee",
]

#: Transactions.md: outputs "below the dust limit of 1000 satoshis" are not produced.
DUST_LIMIT = 1000
FUND_TX_BASE_WEIGHT = 214
CET_BASE_WEIGHT = 498
TX_INPUT_BASE_WEIGHT = 164
_FUNDING_OUTPUT_WEIGHT = 36  # (8-byte value + 1-byte length) * 4, per party share: spec's 36
TX_VERSION = 2


class TransactionBuildError(InvalidInput):
    """The parameters do not describe a buildable DLC transaction."""

    code = "dlc_tx_build_error"


class InsufficientFunding(TransactionBuildError):
    """A party's funding inputs do not cover its collateral plus its fees."""

    code = "dlc_insufficient_funding"


def _check_amount(value: int, what: str) -> None:
    if not isinstance(value, int) or not 0 <= value <= MAX_MONEY:
        raise TransactionBuildError(f"{what} {value!r} is not an amount of satoshis")


@dataclass(frozen=True, slots=True)
class FundingInput:
    """One funding input: the output it spends and what its witness will weigh."""

    outpoint: OutPoint
    value: int
    script_pubkey: bytes
    max_witness_len: int
    redeem_script: bytes = b""
    sequence: int = SEQUENCE_FINAL
    serial_id: int = 0

    @classmethod
    def from_prev_tx(
        cls,
        prev_tx: bytes,
        vout: int,
        *,
        max_witness_len: int,
        redeem_script: bytes = b"",
        sequence: int = SEQUENCE_FINAL,
        serial_id: int = 0,
    ) -> FundingInput:
        """From the previous transaction (as ``funding_input`` messages carry it)."""
        tx = parse_transaction(prev_tx)
        if not 0 <= vout < len(tx.outputs):
            raise TransactionBuildError(f"prev_tx has no output {vout} ({len(tx.outputs)} outputs)")
        out = tx.outputs[vout]
        return cls(
            OutPoint(tx.txid(), vout),
            out.value,
            out.script_pubkey,
            max_witness_len,
            redeem_script,
            sequence,
            serial_id,
        )

    @property
    def script_sig(self) -> bytes:
        return redeem_script_to_script_sig(self.redeem_script)


def is_segwit_input(funding_input: FundingInput) -> bool:
    """Transactions.md: "All funding inputs must be Segwit or nested P2SH(Segwit)"."""
    spk = funding_input.script_pubkey
    if not funding_input.redeem_script:
        return is_witness_script_pubkey(spk)
    return spk == p2sh(funding_input.redeem_script) and is_witness_script_pubkey(
        funding_input.redeem_script
    )


@dataclass(frozen=True, slots=True)
class PartyParams:
    """One side's contribution, as its offer_dlc / accept_dlc message states it."""

    fund_pubkey: bytes
    change_script_pubkey: bytes
    change_serial_id: int
    payout_script_pubkey: bytes
    payout_serial_id: int
    inputs: tuple[FundingInput, ...]
    collateral: int

    @property
    def input_amount(self) -> int:
        return sum(i.value for i in self.inputs)


@dataclass(frozen=True, slots=True)
class PartyFees:
    funding_fee: int  # this party's share of the funding transaction's fee
    closing_fee: int  # this party's share of the fee of a CET / refund / closing tx


def weight_to_fee(weight: int, fee_rate: int) -> int:
    """Transactions.md: weights "must be divided by 4 (rounding up) to get vbytes
    after which these numbers are multiplied by the fee rate"."""
    if weight < 0 or fee_rate < 0:
        raise TransactionBuildError("weight and fee rate cannot be negative")
    return -(-weight // 4) * fee_rate


def funding_weight(party: PartyParams) -> int:
    """Transactions.md: ``107 + (36 + 4*change_spk length) + sum(164 + 4*script_sig_len
    + max_witness_len)``: half the shared base weight plus this party's fields."""
    inputs = sum(
        TX_INPUT_BASE_WEIGHT + 4 * len(i.script_sig) + i.max_witness_len for i in party.inputs
    )
    change = _FUNDING_OUTPUT_WEIGHT + 4 * len(party.change_script_pubkey)
    return FUND_TX_BASE_WEIGHT // 2 + change + inputs


def cet_weight(party: PartyParams) -> int:
    """Transactions.md: ``249 + 4*payout_spk length``."""
    return CET_BASE_WEIGHT // 2 + 4 * len(party.payout_script_pubkey)


def party_fees(party: PartyParams, fee_rate: int) -> PartyFees:
    """This party's funding fee and closing-transaction fee at ``fee_rate`` sat/vB.

    Transactions.md: "Shared fields' fees are paid evenly between the two
    parties, while fields that belong to a specific party (i.e. funding inputs,
    change outputs, CET outputs) are paid by the contributing party."
    """
    return PartyFees(
        weight_to_fee(funding_weight(party), fee_rate),
        weight_to_fee(cet_weight(party), fee_rate),
    )


def change_value(party: PartyParams, fee_rate: int) -> int:
    """Inputs minus collateral minus both fees; raises if the inputs do not cover them.

    Protocol.md: the receiver MUST reject the contract if "``funding_inputs`` do
    not contribute at least ``total_collateral_satoshis`` plus full fee payment".
    """
    _check_amount(party.collateral, "collateral")
    fees = party_fees(party, fee_rate)
    change = party.input_amount - party.collateral - fees.funding_fee - fees.closing_fee
    if change < 0:
        raise InsufficientFunding(
            f"funding inputs of {party.input_amount} sat do not cover collateral "
            f"{party.collateral} + funding fee {fees.funding_fee} + closing fee {fees.closing_fee}",
            missing=-change,
        )
    return change


def _by_serial_id(items: Sequence[tuple[int, TxOut]]) -> list[TxOut]:
    return [out for _, out in sorted(items, key=lambda item: item[0])]


def _without_dust(outputs: Sequence[TxOut]) -> tuple[TxOut, ...]:
    return tuple(o for o in outputs if o.value >= DUST_LIMIT)


@dataclass(frozen=True, slots=True)
class FundingTransaction:
    tx: Transaction
    output_index: int
    funding_script: bytes  # the 2-of-2 witness script
    value: int  # the funding output's value

    @property
    def outpoint(self) -> OutPoint:
        return OutPoint(self.tx.txid(), self.output_index)


def build_funding_transaction(
    offer: PartyParams,
    accept: PartyParams,
    fund_output_serial_id: int,
    fee_rate: int,
    lock_time: int = 0,
) -> FundingTransaction:
    """The unsigned funding transaction (version 2).

    Transactions.md: "The inputs are sorted by each ``funding_input``'s
    ``input_serial_id`` in ascending order. The outputs are sorted in ascending
    order based on their respective ``change_serial_id`` or ``fund_output_serial_id``."
    The funding output holds both collaterals plus both closing fees ("all fees
    are paid for in the Funding Transaction"). A change output below the dust
    limit is left out, as rust-dlc does (the spec asks the party to add funding
    instead; an offerer choosing coins should avoid it).
    """
    funding_script = multisig_2of2(offer.fund_pubkey, accept.fund_pubkey)
    offer_fees = party_fees(offer, fee_rate)
    accept_fees = party_fees(accept, fee_rate)
    offer_change = change_value(offer, fee_rate)
    accept_change = change_value(accept, fee_rate)
    fund_value = offer.collateral + accept.collateral + offer_fees.closing_fee
    fund_value += accept_fees.closing_fee
    funding_output = TxOut(fund_value, p2wsh(funding_script))
    outputs = _by_serial_id(
        [
            (fund_output_serial_id, funding_output),
            (offer.change_serial_id, TxOut(offer_change, offer.change_script_pubkey)),
            (accept.change_serial_id, TxOut(accept_change, accept.change_script_pubkey)),
        ]
    )
    outputs = [o for o in outputs if o is funding_output or o.value >= DUST_LIMIT]
    funding_inputs = sorted(offer.inputs + accept.inputs, key=lambda i: i.serial_id)
    tx = Transaction(
        TX_VERSION,
        tuple(TxIn(i.outpoint, i.script_sig, i.sequence) for i in funding_inputs),
        tuple(outputs),
        lock_time,
    )
    return FundingTransaction(tx, outputs.index(funding_output), funding_script, fund_value)


def build_cet(
    funding_outpoint: OutPoint,
    offer_payout: TxOut,
    offer_serial_id: int,
    accept_payout: TxOut,
    accept_serial_id: int,
    lock_time: int,
) -> Transaction:
    """One CET: version 2, ``cet_locktime``, input sequence 0xFFFFFFFE.

    Transactions.md: "The outputs are sorted by each user's ``payout_serial_id``
    in ascending order. If either party receives less than the dust limit of
    1000 satoshis for this outcome, then their output is not produced."
    """
    outputs = _by_serial_id([(offer_serial_id, offer_payout), (accept_serial_id, accept_payout)])
    txin = TxIn(funding_outpoint, b"", SEQUENCE_ENABLE_LOCKTIME)
    return Transaction(TX_VERSION, (txin,), _without_dust(outputs), lock_time)


def build_cets(
    funding_outpoint: OutPoint,
    offer_script_pubkey: bytes,
    offer_serial_id: int,
    accept_script_pubkey: bytes,
    accept_serial_id: int,
    payouts: Sequence[tuple[int, int]],
    lock_time: int,
) -> list[Transaction]:
    """The CETs of ``payouts``: one ``(offer_payout, accept_payout)`` pair per CET."""
    txin = TxIn(funding_outpoint, b"", SEQUENCE_ENABLE_LOCKTIME)
    inputs = (txin,)
    offer_first = offer_serial_id <= accept_serial_id
    cets = []
    for offer_amount, accept_amount in payouts:
        offer_out = TxOut(offer_amount, offer_script_pubkey)
        accept_out = TxOut(accept_amount, accept_script_pubkey)
        pair = (offer_out, accept_out) if offer_first else (accept_out, offer_out)
        cets.append(Transaction(TX_VERSION, inputs, _without_dust(pair), lock_time))
    return cets


def build_refund_transaction(
    funding_outpoint: OutPoint,
    offer_payout: TxOut,
    accept_payout: TxOut,
    lock_time: int,
) -> Transaction:
    """The refund: like a CET with ``refund_locktime`` and each party's collateral.

    Outputs are ordered [offerer, accepter], not by payout serial id: rust-dlc
    builds it so and the vectors' refund signatures cover that order (the
    spec's "exactly the same as a CET" would sort them); dust is left out.
    """
    txin = TxIn(funding_outpoint, b"", SEQUENCE_ENABLE_LOCKTIME)
    return Transaction(TX_VERSION, (txin,), _without_dust([offer_payout, accept_payout]), lock_time)


def build_closing_transaction(
    funding_outpoint: OutPoint,
    funding_value: int,
    offer_payout: TxOut,
    offer_serial_id: int,
    accept_payout: TxOut,
    accept_serial_id: int,
) -> Transaction:
    """A collaborative close: both parties sign a payout at the current price.

    Spends the funding output at once (locktime 0, final sequence); outputs by
    payout serial id, dust left out. The payouts may not exceed the funding
    output; what they leave is the fee (the closing fees reserved in funding).
    """
    _check_amount(funding_value, "funding value")
    if offer_payout.value + accept_payout.value > funding_value:
        raise TransactionBuildError(
            f"payouts {offer_payout.value} + {accept_payout.value} exceed the "
            f"funding output {funding_value}"
        )
    outputs = _by_serial_id([(offer_serial_id, offer_payout), (accept_serial_id, accept_payout)])
    txin = TxIn(funding_outpoint, b"", SEQUENCE_FINAL)
    return Transaction(TX_VERSION, (txin,), _without_dust(outputs), 0)


@dataclass(frozen=True, slots=True)
class DlcTransactions:
    funding: FundingTransaction
    cets: list[Transaction]
    refund: Transaction


def build_dlc_transactions(
    offer: PartyParams,
    accept: PartyParams,
    payouts: Sequence[tuple[int, int]],
    *,
    fee_rate: int,
    fund_output_serial_id: int,
    cet_lock_time: int,
    refund_lock_time: int,
    fund_lock_time: int = 0,
) -> DlcTransactions:
    """Funding transaction, every CET and the refund of one contract."""
    total = offer.collateral + accept.collateral
    for i, (a, b) in enumerate(payouts):
        if a < 0 or b < 0 or a + b != total:
            raise TransactionBuildError(
                f"payout {i} ({a}, {b}) does not split the total collateral {total}"
            )
    funding = build_funding_transaction(
        offer, accept, fund_output_serial_id, fee_rate, fund_lock_time
    )
    cets = build_cets(
        funding.outpoint,
        offer.payout_script_pubkey,
        offer.payout_serial_id,
        accept.payout_script_pubkey,
        accept.payout_serial_id,
        payouts,
        cet_lock_time,
    )
    refund = build_refund_transaction(
        funding.outpoint,
        TxOut(offer.collateral, offer.payout_script_pubkey),
        TxOut(accept.collateral, accept.payout_script_pubkey),
        refund_lock_time,
    )
    return DlcTransactions(funding, cets, refund)


def contract_id(
    funding_txid: bytes, funding_output_index: int, temporary_contract_id: bytes
) -> bytes:
    """Protocol.md: ``funding_txid`` XOR ``temporary_contract_id``, with
    ``funding_output_index`` altering the last 2 bytes ("big-endian exclusive-OR").

    ``funding_txid`` is in internal byte order (``Transaction.txid()``); as the
    vectors show, it enters the XOR in display (reversed) order.
    """
    if len(funding_txid) != 32 or len(temporary_contract_id) != 32:
        raise TransactionBuildError("funding txid and temporary contract id are 32 bytes each")
    if not 0 <= funding_output_index <= 0xFFFF:
        raise TransactionBuildError(f"funding output index {funding_output_index} is not a u16")
    mixed = bytearray(a ^ b for a, b in zip(funding_txid[::-1], temporary_contract_id, strict=True))
    mixed[30] ^= funding_output_index >> 8
    mixed[31] ^= funding_output_index & 0xFF
    return bytes(mixed)


def funding_spend_sighash(tx: Transaction, funding_script: bytes, funding_value: int) -> bytes:
    """BIP-143 digest of input 0 of a CET, refund or closing transaction."""
    return segwit_v0_sighash(tx, 0, funding_script, funding_value)


def cet_sighashes(
    cets: Sequence[Transaction], funding_script: bytes, funding_value: int
) -> list[bytes]:
    """The digests of many CETs of one contract (shared preimage parts computed once)."""
    if not cets:
        return []
    hasher = SegwitV0Sighasher(cets[0], 0, funding_script, funding_value)
    return [hasher.digest(cet) for cet in cets]


def sign_funding_spend(
    tx: Transaction, secret_key: bytes, funding_script: bytes, funding_value: int
) -> bytes:
    """The 64-byte compact signature (``r || s``, low R, low S) of a funding-output
    spend: the form offer/accept/sign messages carry (Messaging.md ``signature``)."""
    return ecdsa.sign_compact(secret_key, funding_spend_sighash(tx, funding_script, funding_value))


def verify_funding_spend(
    tx: Transaction, pubkey: bytes, signature: bytes, funding_script: bytes, funding_value: int
) -> bool:
    """Check a 64-byte compact signature of a funding-output spend by ``pubkey``."""
    digest = funding_spend_sighash(tx, funding_script, funding_value)
    return ecdsa.verify_compact(pubkey, digest, signature)


def funding_spend_witness(
    funding_script: bytes, signatures: dict[bytes, bytes]
) -> tuple[bytes, ...]:
    """``0 <signature_for_pubkey1> <signature_for_pubkey2> <script>``.

    ``signatures`` maps each funding pubkey to its 64-byte compact signature;
    the witness carries them DER-encoded with SIGHASH_ALL appended.
    """
    if len(signatures) != 2:
        raise TransactionBuildError("a 2-of-2 spend needs exactly two signatures")
    first, second = sorted_pubkeys(*signatures)
    if multisig_2of2(first, second) != funding_script:
        raise TransactionBuildError("the signatures' pubkeys are not the funding script's")
    sighash = bytes([SIGHASH_ALL])
    return (
        b"",
        ecdsa.compact_to_der(signatures[first]) + sighash,
        ecdsa.compact_to_der(signatures[second]) + sighash,
        funding_script,
    )


def sign_p2wpkh_input(
    tx: Transaction, index: int, secret_key: bytes, value: int
) -> tuple[bytes, bytes]:
    """The witness ``<sig+ALL> <pubkey>`` of a P2WPKH funding input."""
    pubkey = base_mult(scalar_from_bytes(secret_key, "secret key")).format()
    digest = segwit_v0_sighash(tx, index, p2wpkh_script_code(pubkey), value)
    return (ecdsa.sign(secret_key, digest) + bytes([SIGHASH_ALL]), pubkey)


def verify_p2wpkh_witness(
    tx: Transaction, index: int, value: int, script_pubkey: bytes, witness: Sequence[bytes]
) -> bool:
    """Protocol.md (sign_dlc): "if any ``signature`` or ``witness`` is incorrect: MUST
    reject the contract". Checks a P2WPKH (or P2SH-P2WPKH) witness against its output."""
    if len(witness) != 2 or not witness[0] or witness[0][-1] != SIGHASH_ALL:
        return False
    sig, pubkey = witness[0][:-1], witness[1]
    if len(pubkey) != 33 or pubkey[0] not in (2, 3):
        return False
    program = p2wpkh(pubkey)
    if script_pubkey not in (program, p2sh(program)):
        return False
    digest = segwit_v0_sighash(tx, index, p2wpkh_script_code(pubkey), value)
    try:
        return ecdsa.verify(pubkey, digest, sig)
    except InvalidInput:
        return False
