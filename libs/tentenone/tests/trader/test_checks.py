"""The trader's locktime checks of an offer (``tentenone.trader.checks.check_locktimes``)."""

from __future__ import annotations

import datetime as dt

import pytest

from tentenone.dlc.protocol.errors import OfferTermsMismatch
from tentenone.trader.checks import TIP_LAG_BLOCKS, check_locktimes

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
TIP = 1_000


def check(cet: int, refund: int, *, hours_to_expiry: float = 2.0) -> None:
    check_locktimes(
        cet,
        refund,
        tip=TIP,
        maturity=NOW + dt.timedelta(hours=hours_to_expiry),
        now=NOW,
        block_interval_s=600,
        max_refund_delay_blocks=144,
    )


def test_the_coordinators_own_locktimes_pass() -> None:
    # what the DLC service builds: CETs valid at its tip, the refund a delay after the expiry
    check(TIP, TIP + 12 + 144)
    check(TIP + 1, TIP + 12 + 1)  # its tip a block ahead of ours, the shortest delay


def test_cets_locked_past_the_tip_are_refused() -> None:
    with pytest.raises(OfferTermsMismatch, match="cet_locktime 1007 is ahead of the chain tip"):
        check(TIP + TIP_LAG_BLOCKS + 1, TIP + 200)


def test_a_refund_before_the_expiry_is_refused() -> None:
    with pytest.raises(OfferTermsMismatch, match="refund_locktime 1012 is not after the expiry"):
        check(TIP, TIP + 12)


def test_a_refund_past_the_ceiling_is_refused() -> None:
    check(TIP, TIP + 12 + 144 + TIP_LAG_BLOCKS)
    with pytest.raises(OfferTermsMismatch, match="more than 144 blocks after the expiry"):
        check(TIP, TIP + 12 + 144 + TIP_LAG_BLOCKS + 1)
