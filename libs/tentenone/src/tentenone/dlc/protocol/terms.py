"""The trade a contract implements, and the contract it gives.

Both sides build the contract from the same :class:`TradeTerms` (the fill of
the order book) with the library's inverse-future curve, so the trader can
rebuild the coordinator's offer and refuse one that does not implement the
trade it placed (:func:`check_offer_terms`).

The coordinator is the offerer: its side is the opposite of the trader's, its
leverage is the coordinator's, and the trading fee is paid by the trader
(the accepter) out of its side of every outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tentenone.dlc.contract import ContractEvent, SingleContractInfo, SingleOracleInfo
from tentenone.dlc.curve import CurveContract, InverseFuture, Party, Side, build_inverse_future
from tentenone.dlc.messages import OfferDlc
from tentenone.dlc.oracle_messages import OracleAnnouncement
from tentenone.dlc.protocol.errors import OfferTermsMismatch
from tentenone.dlc.protocol.messages import RenewOffer

__all__ = ["TradeTerms", "build_contract", "check_offer_terms", "offer_announcement"]


@dataclass(frozen=True, slots=True)
class TradeTerms:
    """One fill as both sides agreed it. ``fee`` (sat) is paid by the trader."""

    trader_side: Side
    quantity: int
    price: Decimal
    trader_leverage: Decimal
    coordinator_leverage: Decimal
    fee: int
    oracle_public_key: bytes
    event_id: str
    nb_digits: int = 20
    max_cets: int = 2000

    @property
    def coordinator_side(self) -> Side:
        return Side.SHORT if self.trader_side is Side.LONG else Side.LONG

    def position(self) -> InverseFuture:
        return InverseFuture(
            offer_side=self.coordinator_side,
            quantity=self.quantity,
            entry_price=self.price,
            offer_leverage=self.coordinator_leverage,
            accept_leverage=self.trader_leverage,
            fee=self.fee,
            fee_payer=Party.ACCEPTER,
            nb_digits=self.nb_digits,
            max_cets=self.max_cets,
        )


def build_contract(
    terms: TradeTerms, announcement: OracleAnnouncement
) -> tuple[SingleContractInfo, CurveContract]:
    """The contract info of ``terms`` on ``announcement`` and the curve it came from."""
    if announcement.oracle_public_key != terms.oracle_public_key:
        raise OfferTermsMismatch("the announcement is not signed by the trade's oracle")
    if announcement.oracle_event.event_id != terms.event_id:
        raise OfferTermsMismatch(
            f"the announcement is for event {announcement.oracle_event.event_id!r}, "
            f"the trade for {terms.event_id!r}"
        )
    curve = build_inverse_future(terms.position())
    info = SingleContractInfo(
        curve.total_collateral,
        ContractEvent(curve.descriptor, SingleOracleInfo(announcement)),
    )
    return info, curve


def offer_announcement(offer: OfferDlc | RenewOffer) -> OracleAnnouncement:
    """The one announcement of a single-oracle, single-event offer (or renewal offer)."""
    info = offer.contract_info
    if not isinstance(info, SingleContractInfo) or not isinstance(
        info.event.oracle_info, SingleOracleInfo
    ):
        raise OfferTermsMismatch("the offer is not a single-event, single-oracle contract")
    return info.event.oracle_info.announcement


def check_offer_terms(offer: OfferDlc | RenewOffer, terms: TradeTerms) -> CurveContract:
    """The trader's check that ``offer`` (or a renewal's) implements ``terms``; each mismatch
    names its field.

    The announcement's signature and the rest of Protocol.md's rules are
    checked by :func:`tentenone.dlc.validation.validate_offer`.
    """
    announcement = offer_announcement(offer)
    if announcement.oracle_public_key != terms.oracle_public_key:
        raise OfferTermsMismatch(
            f"oracle {announcement.oracle_public_key.hex()} is not the trade's oracle "
            f"{terms.oracle_public_key.hex()}"
        )
    if announcement.oracle_event.event_id != terms.event_id:
        raise OfferTermsMismatch(
            f"expiry event {announcement.oracle_event.event_id!r} is not the trade's "
            f"{terms.event_id!r}"
        )
    expected, curve = build_contract(terms, announcement)
    if offer.offer_collateral != curve.offer_collateral:
        raise OfferTermsMismatch(
            f"coordinator margin {offer.offer_collateral} sat is not {curve.offer_collateral} "
            "(quantity, price or coordinator leverage differ)"
        )
    trader_margin = offer.total_collateral - offer.offer_collateral
    if trader_margin != curve.accept_collateral:
        raise OfferTermsMismatch(
            f"trader margin {trader_margin} sat is not {curve.accept_collateral} "
            "(quantity, price or trader leverage differ)"
        )
    if offer.contract_info != expected:
        raise OfferTermsMismatch(
            "the payout curve is not the trade's (entry price, side, fee or rounding differ)"
        )
    return curve
