"""Collaborative close (early close and liquidation) of an open contract.

The coordinator quotes (:class:`CloseOffer`: the payouts at a price, valid
until ``expires_at``); the trader signs the closing transaction
(:class:`CloseAccept`); the coordinator checks the quote has not expired,
adds its signature and broadcasts (:class:`CloseConfirm` lets the trader
broadcast it too). The coordinator signs last so that a quote cannot be
taken after it expired (ADR 0101). The closing tx spends the funding output
at once; its fee is the closing fee both sides reserved in the funding output.
"""

from __future__ import annotations

import bisect
import secrets

from tentenone.bitcoin import ecdsa
from tentenone.bitcoin.tx import Transaction, TxOut
from tentenone.dlc.contract import ContractInfo, NumericOutcomeContractDescriptor
from tentenone.dlc.errors import ContractError
from tentenone.dlc.payout_curve import range_payouts
from tentenone.dlc.protocol.errors import InvalidCloseSignature, QuoteExpired, UnexpectedMessage
from tentenone.dlc.protocol.messages import (
    PROTOCOL_VERSION,
    CloseAccept,
    CloseConfirm,
    CloseOffer,
    CloseReason,
)
from tentenone.dlc.protocol.opening import check_secret
from tentenone.dlc.protocol.settlement import funding_spend
from tentenone.dlc.protocol.signed import SignedContract
from tentenone.dlc.transactions import build_closing_transaction, funding_spend_sighash
from tentenone.errors import TentenoneError

__all__ = [
    "accept_close",
    "build_close_offer",
    "check_close_offer",
    "check_liquidation",
    "closing_transaction",
    "complete_close",
    "finish_close",
    "offer_payout_at",
]


def offer_payout_at(info: ContractInfo, price: int) -> int:
    """The offerer's payout if the oracle attested ``price`` (the contract's rounding)."""
    event = info.events[0]
    descriptor = event.descriptor
    if not isinstance(descriptor, NumericOutcomeContractDescriptor):
        raise ContractError("a payout at a price needs a numeric contract")
    outcome = min(max(price, 0), event.base**descriptor.num_digits - 1)
    ranges = range_payouts(
        descriptor.payout_function, descriptor.rounding_intervals, info.total_collateral
    )
    starts = [r.start for r in ranges]
    return ranges[bisect.bisect_right(starts, outcome) - 1].offer


def closing_transaction(signed: SignedContract, close: CloseOffer) -> Transaction:
    c = signed.contract
    return build_closing_transaction(
        signed.funding_outpoint,
        signed.funding.value,
        TxOut(close.offer_payout, c.offer_payout_spk),
        c.offer_payout_serial_id,
        TxOut(close.accept_payout, c.accept_payout_spk),
        c.accept_payout_serial_id,
    )


def _sign(signed: SignedContract, close: CloseOffer, secret: bytes) -> bytes:
    tx = closing_transaction(signed, close)
    f = signed.funding
    return ecdsa.sign_compact(secret, funding_spend_sighash(tx, f.funding_script, f.value))


def _verify(signed: SignedContract, close: CloseOffer, pubkey: bytes, sig: bytes, who: str) -> None:
    tx = closing_transaction(signed, close)
    f = signed.funding
    try:
        ok = ecdsa.verify_compact(pubkey, funding_spend_sighash(tx, f.funding_script, f.value), sig)
    except TentenoneError:
        ok = False
    if not ok:
        raise InvalidCloseSignature(
            f"the {who}'s signature of the closing transaction does not verify"
        )


def build_close_offer(
    signed: SignedContract,
    offer_payout: int,
    *,
    price: int,
    expires_at: int,
    reason: int = CloseReason.EARLY_CLOSE,
) -> CloseOffer:
    total = signed.total_collateral
    if not 0 <= offer_payout <= total:
        raise ContractError(f"offer payout {offer_payout} is outside 0..{total}")
    return CloseOffer(
        PROTOCOL_VERSION,
        signed.contract_id,
        secrets.token_bytes(32),
        offer_payout,
        total - offer_payout,
        price,
        expires_at,
        reason,
    )


def check_close_offer(signed: SignedContract, close: CloseOffer, *, now: int) -> None:
    """The trader's structural checks of a quote (whether the price suits it is its policy)."""
    if close.contract_id != signed.contract_id:
        raise UnexpectedMessage("close_offer is for another contract")
    if close.offer_payout + close.accept_payout != signed.total_collateral:
        raise ContractError(
            f"close payouts {close.offer_payout} + {close.accept_payout} do not add up to the "
            f"total collateral {signed.total_collateral}"
        )
    if now > close.expires_at:
        raise QuoteExpired(f"the close quote expired at {close.expires_at}")
    closing_transaction(signed, close)


def check_liquidation(signed: SignedContract, close: CloseOffer) -> None:
    """What a trader signs without asking: the stated price must have put the position at
    its clamp (its payout there is the least the contract can pay it), so a liquidation
    takes nothing the contract would not take at that price (the quote's payouts are the
    coordinator's to set only in an early close the trader asked for)."""
    info = signed.contract.contract_info
    total = info.total_collateral
    descriptor = info.events[0].descriptor
    if not isinstance(descriptor, NumericOutcomeContractDescriptor):
        raise ContractError("a liquidation needs a numeric contract")
    top = info.events[0].base ** descriptor.num_digits - 1
    floor = total - max(offer_payout_at(info, 0), offer_payout_at(info, top))
    at_price = total - offer_payout_at(info, close.price)
    if at_price != floor:
        raise ContractError(
            f"a liquidation at {close.price} USD: the contract pays the trader {at_price} sat "
            f"there, above its clamp of {floor} sat, so the price has not crossed the "
            "liquidation price"
        )


def accept_close(
    signed: SignedContract, close: CloseOffer, accept_secret: bytes, *, now: int
) -> CloseAccept:
    """The trader signs the quoted closing transaction."""
    check_secret(accept_secret, signed.contract.accept_pubkey)
    check_close_offer(signed, close, now=now)
    return CloseAccept(
        PROTOCOL_VERSION, close.contract_id, close.close_id, _sign(signed, close, accept_secret)
    )


def complete_close(
    signed: SignedContract,
    close: CloseOffer,
    accept: CloseAccept,
    offer_secret: bytes,
    *,
    now: int,
) -> tuple[CloseConfirm, Transaction]:
    """The coordinator's check of the trader's signature, then its own: the closing tx."""
    check_secret(offer_secret, signed.contract.offer_pubkey)
    if accept.contract_id != close.contract_id or accept.close_id != close.close_id:
        raise UnexpectedMessage("close_accept answers another close offer")
    if now > close.expires_at:
        raise QuoteExpired(f"the close quote expired at {close.expires_at}; ask for a new one")
    _verify(signed, close, signed.contract.accept_pubkey, accept.accept_signature, "trader")
    ours = _sign(signed, close, offer_secret)
    tx = funding_spend(signed, closing_transaction(signed, close), ours, accept.accept_signature)
    return CloseConfirm(PROTOCOL_VERSION, close.contract_id, close.close_id, ours), tx


def finish_close(
    signed: SignedContract, close: CloseOffer, confirm: CloseConfirm, accept_secret: bytes
) -> Transaction:
    """The trader's copy of the closing tx from the coordinator's confirmation."""
    if confirm.contract_id != close.contract_id or confirm.close_id != close.close_id:
        raise UnexpectedMessage("close_confirm answers another close offer")
    _verify(signed, close, signed.contract.offer_pubkey, confirm.offer_signature, "coordinator")
    ours = _sign(signed, close, accept_secret)
    return funding_spend(signed, closing_transaction(signed, close), confirm.offer_signature, ours)
