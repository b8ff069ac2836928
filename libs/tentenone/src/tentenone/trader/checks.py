"""The trader's checks of an offer against the order it placed, and rebuilding its contracts.

An offer must implement the fill the coordinator reports (``check_offer_terms``
rebuilds the whole payout curve from it), and that fill must be one the
trader's order allows: same market (the oracle event of the expiry), side
and leverage, a price no worse than the limit, no more than the order's
open quantity, a fee within the ceiling, and the oracle's announcement as
published. Its locktimes must let the CETs settle at the expiry and return
the margin by refund within the trader's ceiling (``check_locktimes``). Each
refusal names what was wrong.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from fractions import Fraction

from tentenone.dlc.contract import NumericOutcomeContractDescriptor
from tentenone.dlc.curve import CurveContract, Side
from tentenone.dlc.messages import AcceptDlc, OfferDlc, SignDlc
from tentenone.dlc.oracle_messages import DigitDecompositionEventDescriptor, OracleAnnouncement
from tentenone.dlc.payout_curve import HyperbolaPiece
from tentenone.dlc.protocol.errors import OfferTermsMismatch
from tentenone.dlc.protocol.messages import RenewAccept, RenewOffer, RenewSign
from tentenone.dlc.protocol.renewal import renewed_contract
from tentenone.dlc.protocol.signed import SignedContract, renewal_contract
from tentenone.dlc.protocol.terms import TradeTerms, check_offer_terms, offer_announcement
from tentenone.dlc.signing import contract_transactions
from tentenone.dlc.validation import CheckedAccept, ValidationPolicy, validate_offer
from tentenone.errors import TentenoneError
from tentenone.trader.models import OrderRow, TraderContract

__all__ = [
    "Fill",
    "check_fill",
    "check_locktimes",
    "check_offer",
    "check_renewal",
    "checked_accept",
    "implied_fee",
    "signed_chain",
    "signed_contract",
]

_SAT_PER_BTC = 100_000_000
#: blocks the coordinator's view of the tip may be ahead of ours when it built the offer
TIP_LAG_BLOCKS = 6


@dataclass(frozen=True, slots=True)
class Fill:
    """A fill as the coordinator reports it (its position view)."""

    market: str
    side: str  # long | short (the trader's)
    quantity: int
    price_cents: int
    leverage: int
    fee_sat: int


def _notional_sat(quantity: int, price_cents: int) -> int:
    return quantity * _SAT_PER_BTC * 100 // price_cents


def check_fill(fill: Fill, order: OrderRow, open_quantity: int, max_fee_bps: int) -> None:
    """``OfferTermsMismatch`` naming the first way ``fill`` breaks ``order``."""
    want_side = "long" if order.side == "buy" else "short"
    if fill.market != order.market:
        raise OfferTermsMismatch(f"expiry {fill.market!r} is not the order's {order.market!r}")
    if fill.side != want_side:
        raise OfferTermsMismatch(f"side {fill.side} is not the order's {want_side}")
    if fill.leverage != order.leverage:
        raise OfferTermsMismatch(f"leverage {fill.leverage}x is not the order's {order.leverage}x")
    if not 1 <= fill.quantity <= open_quantity:
        raise OfferTermsMismatch(
            f"quantity {fill.quantity} is more than the order's open {open_quantity}"
        )
    if order.price_cents is not None:
        worse = (
            fill.price_cents > order.price_cents
            if want_side == "long"
            else fill.price_cents < order.price_cents
        )
        if worse:
            raise OfferTermsMismatch(
                f"price {fill.price_cents} cents is worse than the limit {order.price_cents}"
            )
    ceiling = _notional_sat(fill.quantity, fill.price_cents) * max_fee_bps // 10_000 + 1
    if not 0 <= fill.fee_sat <= ceiling:
        raise OfferTermsMismatch(f"fee {fill.fee_sat} sat is above the ceiling {ceiling} sat")


def check_offer(
    offer: OfferDlc,
    fill: Fill,
    published: OracleAnnouncement,
    *,
    max_cets: int,
    oracle_public_key: bytes | None = None,
) -> CurveContract:
    """The offer implements ``fill`` on the oracle's published announcement of its expiry."""
    announcement = offer_announcement(offer)
    if oracle_public_key is not None and announcement.oracle_public_key != oracle_public_key:
        raise OfferTermsMismatch(
            f"oracle {announcement.oracle_public_key.hex()} is not ours ({oracle_public_key.hex()})"
        )
    _check_published(announcement, published)
    return check_offer_terms(offer, _terms(offer, fill, published, max_cets))


def _check_published(announcement: OracleAnnouncement, published: OracleAnnouncement) -> None:
    if announcement != published:
        raise OfferTermsMismatch(
            f"the offer's announcement of {announcement.oracle_event.event_id!r} is not the "
            "one the oracle published"
        )
    if not isinstance(
        announcement.oracle_event.event_descriptor, DigitDecompositionEventDescriptor
    ):
        raise OfferTermsMismatch("the offer's event is not a numeric (digit) event")


def _terms(
    offer: OfferDlc | RenewOffer, fill: Fill, published: OracleAnnouncement, max_cets: int
) -> TradeTerms:
    """The trade terms ``fill`` gives on ``published`` (a digit event)."""
    descriptor = published.oracle_event.event_descriptor
    assert isinstance(descriptor, DigitDecompositionEventDescriptor)
    # The coordinator's leverage is its own business: take it from its margin and
    # let the rebuilt curve prove every other number.
    coordinator_leverage = max(
        1, round(_notional_sat(fill.quantity, fill.price_cents) / max(1, offer.offer_collateral))
    )
    return TradeTerms(
        trader_side=Side.LONG if fill.side == "long" else Side.SHORT,
        quantity=fill.quantity,
        price=Decimal(fill.price_cents) / 100,
        trader_leverage=Decimal(fill.leverage),
        coordinator_leverage=Decimal(coordinator_leverage),
        fee=fill.fee_sat,
        oracle_public_key=published.oracle_public_key,
        event_id=fill.market,
        nb_digits=descriptor.nb_digits,
        max_cets=max_cets,
    )


def check_renewal(
    offer: RenewOffer,
    old: TraderContract,
    old_announcement: OracleAnnouncement,
    published: OracleAnnouncement,
    *,
    max_cets: int,
    max_fee_bps: int,
    oracle_public_key: bytes | None = None,
) -> int:
    """``offer`` renews ``old`` into a later expiry of the same oracle with the same trade
    (side, quantity, entry price, leverage, curve); the fee it adds is within
    ``max_fee_bps`` of the notional. The new contract's whole fee."""
    announcement = offer_announcement(offer)
    trusted = oracle_public_key or old_announcement.oracle_public_key
    if announcement.oracle_public_key != trusted:
        raise OfferTermsMismatch(
            f"oracle {announcement.oracle_public_key.hex()} is not the position's ({trusted.hex()})"
        )
    _check_published(announcement, published)
    new_expiry = announcement.oracle_event.event_maturity_epoch
    if new_expiry <= old_announcement.oracle_event.event_maturity_epoch:
        raise OfferTermsMismatch(
            f"expiry {announcement.oracle_event.event_id!r} is not after the position's "
            f"{old_announcement.oracle_event.event_id!r}"
        )
    market = announcement.oracle_event.event_id
    fill = Fill(market, old.side, old.quantity, old.price_cents, old.leverage, old.fee_sat)
    notional = Fraction(old.quantity * _SAT_PER_BTC * 100, old.price_cents)
    margin = math.ceil(notional / old.leverage)
    if offer.total_collateral - offer.offer_collateral != margin:
        raise OfferTermsMismatch(
            f"trader margin {offer.total_collateral - offer.offer_collateral} sat is not the "
            f"position's {margin} (quantity, price or leverage differ)"
        )
    fee = implied_fee(offer, fill)
    try:
        check_offer_terms(offer, _terms(offer, replace(fill, fee_sat=fee), published, max_cets))
    except OfferTermsMismatch:
        raise
    except TentenoneError as exc:  # no curve at all with that fee: another side or price
        raise OfferTermsMismatch(
            f"the payout curve is not the trade's (it implies a fee of {fee} sat: {exc.message})"
        ) from None
    added = fee - old.fee_sat
    ceiling = _notional_sat(old.quantity, old.price_cents) * max_fee_bps // 10_000 + 1
    if added > ceiling:
        raise OfferTermsMismatch(f"rollover fee {added} sat is above the ceiling {ceiling} sat")
    return fee


def implied_fee(offer: OfferDlc | RenewOffer, fill: Fill) -> int:
    """The fee the offer's curve charges for ``fill``: its hyperbola's ``f_2`` is the
    coordinator's margin plus the fee plus its P&L at the entry price (``tentenone.dlc.curve``);
    ``check_offer_terms`` then proves the whole curve with it."""
    info = offer.contract_info
    descriptor = info.events[0].descriptor if info.events else None
    if not isinstance(descriptor, NumericOutcomeContractDescriptor):
        raise OfferTermsMismatch("the offer's contract is not a numeric payout curve")
    pieces = [p for p in descriptor.payout_function.pieces if isinstance(p, HyperbolaPiece)]
    if len(pieces) != 1:
        raise OfferTermsMismatch("the offer's payout curve is not one inverse-future hyperbola")
    f2 = pieces[0].translate_payout.to_fraction()
    pnl_at_entry = Fraction(fill.quantity * _SAT_PER_BTC * 100, fill.price_cents)
    coordinator_pnl = pnl_at_entry if fill.side == "short" else -pnl_at_entry
    return round(f2 - offer.offer_collateral - coordinator_pnl)


def check_locktimes(
    cet_locktime: int,
    refund_locktime: int,
    *,
    tip: int,
    maturity: dt.datetime,
    now: dt.datetime,
    block_interval_s: int,
    max_refund_delay_blocks: int,
) -> None:
    """The CETs are valid at once and the refund comes after the expiry, within the ceiling.

    A CET locktime ahead of the chain would keep the attested outcome off the
    chain; a refund before the expiry would let the coordinator walk away from a
    losing position; a refund far after it locks the margin for that long.
    """
    if cet_locktime > tip + TIP_LAG_BLOCKS:
        raise OfferTermsMismatch(
            f"cet_locktime {cet_locktime} is ahead of the chain tip {tip}: "
            "the CETs could not settle at the expiry"
        )
    seconds = max(0.0, (maturity - now).total_seconds())
    # the coordinator counts whole intervals down, so the lower bound does too
    expiry_block = tip + math.floor(seconds / block_interval_s)
    if refund_locktime <= expiry_block:
        raise OfferTermsMismatch(
            f"refund_locktime {refund_locktime} is not after the expiry "
            f"(about block {expiry_block})"
        )
    latest = tip + math.ceil(seconds / block_interval_s) + max_refund_delay_blocks + TIP_LAG_BLOCKS
    if refund_locktime > latest:
        raise OfferTermsMismatch(
            f"refund_locktime {refund_locktime} is past block {latest}: more than "
            f"{max_refund_delay_blocks} blocks after the expiry"
        )


def checked_accept(row: TraderContract, policy: ValidationPolicy) -> CheckedAccept:
    """The accepted offer of ``row`` as ``complete_funding`` takes it, from the stored bytes."""
    offer = OfferDlc.parse(bytes.fromhex(row.offer_hex))
    accept = AcceptDlc.parse(bytes.fromhex(row.accept_hex or ""))
    plan = validate_offer(offer, policy).plan
    return CheckedAccept(offer, accept, plan, contract_transactions(offer, accept, plan))


def signed_chain(rows: Sequence[TraderContract]) -> SignedContract:
    """The signed contract of ``rows[-1]``: ``rows[0]`` is the opening, each next row
    renews the one before it (renew_offer, renew_accept, renew_sign)."""
    signed = signed_contract(rows[0])
    for row in rows[1:]:
        offer = RenewOffer.parse(bytes.fromhex(row.offer_hex))
        accept = RenewAccept.parse(bytes.fromhex(row.accept_hex or ""))
        sign = RenewSign.parse(bytes.fromhex(row.sign_hex or ""))
        signed = renewed_contract(renewal_contract(signed, offer, accept), offer, accept, sign)
    return signed


def signed_contract(row: TraderContract) -> SignedContract:
    return SignedContract.from_opening(
        OfferDlc.parse(bytes.fromhex(row.offer_hex)),
        AcceptDlc.parse(bytes.fromhex(row.accept_hex or "")),
        SignDlc.parse(bytes.fromhex(row.sign_hex or "")),
    )
