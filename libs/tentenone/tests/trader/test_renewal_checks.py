"""The trader's check of a renewal offer against its position (``checks.check_renewal``).

Pure: the offers are built here with the library's curve builder (as the
coordinator builds them); the engine's handling of a refusal on the real DLC
service is in services/dlc/tests/test_trader_engine.py.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

import pytest

from tentenone.dlc.curve import Side
from tentenone.dlc.oracle_messages import OracleAnnouncement
from tentenone.dlc.protocol.errors import OfferTermsMismatch
from tentenone.dlc.protocol.messages import PROTOCOL_VERSION, RenewOffer
from tentenone.dlc.protocol.states import TraderState as T
from tentenone.dlc.protocol.terms import TradeTerms, build_contract
from tentenone.dlc.protocol.testing import TestOracle
from tentenone.trader.checks import Fill, check_renewal, implied_fee
from tentenone.trader.models import TraderContract

ORACLE = TestOracle()
OLD_EXPIRY = int(dt.datetime(2030, 1, 4, 8, tzinfo=dt.UTC).timestamp())
NEW_EXPIRY = OLD_EXPIRY + 7 * 86_400
OLD = ORACLE.announce(f"btcusd{OLD_EXPIRY}", OLD_EXPIRY)
NEW = ORACLE.announce(f"btcusd{NEW_EXPIRY}", NEW_EXPIRY)
TAKER_FEE = 1_000


def _position(side: str = "long") -> TraderContract:
    now = dt.datetime.now(dt.UTC)
    return TraderContract(
        id="p1",
        state=T.OPEN,
        position_id="p1",
        market=OLD.oracle_event.event_id,
        side=side,
        quantity=1_000,
        price_cents=5_000_000,
        leverage=5,
        fee_sat=TAKER_FEE,
        temporary_contract_id="00" * 32,
        offer_hex="",
        maturity=dt.datetime.fromtimestamp(OLD_EXPIRY, dt.UTC),
        created_at=now,
        updated_at=now,
    )


def _renewal(
    announcement: OracleAnnouncement = NEW,
    *,
    side: Side = Side.LONG,
    fee: int = TAKER_FEE,
    price: int = 50_000,
    quantity: int = 1_000,
) -> RenewOffer:
    """The renew_offer a coordinator builds for the trade (coordinator leverage 1)."""
    terms = TradeTerms(
        trader_side=side,
        quantity=quantity,
        price=Decimal(price),
        trader_leverage=Decimal(5),
        coordinator_leverage=Decimal(1),
        fee=fee,
        oracle_public_key=announcement.oracle_public_key,
        event_id=announcement.oracle_event.event_id,
        nb_digits=20,
        max_cets=60,
    )
    info, curve = build_contract(terms, announcement)
    return RenewOffer(
        PROTOCOL_VERSION,
        bytes(32),
        bytes(32),
        info,
        bytes(33),
        b"",
        1,
        curve.offer_collateral,
        (),
        b"",
        2,
        3,
        2,
        100,
        200,
        0,
    )


def _check(offer: RenewOffer, position: TraderContract | None = None, **kw: object) -> int:
    settings: dict[str, object] = {"max_cets": 60, "max_fee_bps": 100} | kw
    return check_renewal(offer, position or _position(), OLD, NEW, **settings)  # type: ignore[arg-type]


@pytest.mark.parametrize("side", ["long", "short"])
@pytest.mark.parametrize("fee", [0, 1, TAKER_FEE, 12_345, 21_000])
def test_the_fee_is_read_from_the_curve(side: str, fee: int) -> None:
    offer = _renewal(side=Side(side), fee=fee)
    fill = Fill(NEW.oracle_event.event_id, side, 1_000, 5_000_000, 5, 0)
    assert implied_fee(offer, fill) == fee


def test_a_renewal_of_the_same_trade_passes_with_its_whole_fee() -> None:
    assert _check(_renewal(fee=TAKER_FEE + 2_000)) == TAKER_FEE + 2_000
    assert _check(_renewal(side=Side.SHORT), _position("short")) == TAKER_FEE


@pytest.mark.parametrize(
    ("offer", "reason"),
    [
        (_renewal(side=Side.SHORT), "payout curve is not the trade's"),
        (_renewal(price=51_000), "trader margin"),
        (_renewal(quantity=1_100), "trader margin"),
        (_renewal(fee=TAKER_FEE + 20_002), "rollover fee 20002 sat is above the ceiling 20001"),
        (_renewal(OLD), "is not after the position's"),
        (
            _renewal(TestOracle("mallory").announce(NEW.oracle_event.event_id, NEW_EXPIRY)),
            "is not the position's",
        ),
    ],
    ids=["side", "price", "quantity", "fee", "same expiry", "another oracle"],
)
def test_a_renewal_that_changes_the_trade_is_refused_with_the_reason(
    offer: RenewOffer, reason: str
) -> None:
    with pytest.raises(OfferTermsMismatch) as caught:
        # the "same expiry" case: the gateway publishes the old event under its id
        published = (
            OLD if offer.contract_info.events[0].oracle_info.announcements[0] == OLD else NEW
        )
        check_renewal(offer, _position(), OLD, published, max_cets=60, max_fee_bps=100)
    assert reason in caught.value.message


def test_an_announcement_the_oracle_did_not_publish_is_refused() -> None:
    other = ORACLE.announce(NEW.oracle_event.event_id, NEW_EXPIRY + 1)
    with pytest.raises(OfferTermsMismatch, match="not the one the oracle published"):
        _check(_renewal(other))


def test_a_pinned_oracle_key_wins_over_the_position_s() -> None:
    with pytest.raises(OfferTermsMismatch, match="is not the position's"):
        _check(_renewal(), oracle_public_key=bytes(32))


def test_a_coordinator_margin_off_by_one_sat_is_refused() -> None:
    offer = _renewal()
    with pytest.raises(OfferTermsMismatch, match=r"trader margin .* is not the position.s"):
        _check(replace(offer, offer_collateral=offer.offer_collateral + 1))
