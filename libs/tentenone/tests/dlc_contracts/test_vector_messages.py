"""Every message of the 14 offer/accept/sign runs: byte-exact round trips,
the same content as the vector's JSON, and a CET plan with as many adaptor
signatures as the messages carry."""

from __future__ import annotations

from typing import Any

import pytest

from tentenone.dlc.cets import plan_cets
from tentenone.dlc.conformance._vector_json import (
    accept_from_json,
    offer_from_json,
    sign_from_json,
)
from tentenone.dlc.messages import AcceptDlc, OfferDlc, SignDlc, parse_message

KEYS = ("offer_message", "accept_message", "sign_message")


@pytest.mark.parametrize("key", KEYS)
def test_round_trip_is_byte_exact(run_vector: dict[str, Any], key: str) -> None:
    raw = bytes.fromhex(run_vector[key]["serialized"])
    assert parse_message(raw).serialize() == raw


def test_messages_match_their_json(run_vector: dict[str, Any]) -> None:
    offer = parse_message(bytes.fromhex(run_vector["offer_message"]["serialized"]))
    accept = parse_message(bytes.fromhex(run_vector["accept_message"]["serialized"]))
    sign = parse_message(bytes.fromhex(run_vector["sign_message"]["serialized"]))
    assert isinstance(offer, OfferDlc)
    assert isinstance(accept, AcceptDlc)
    assert isinstance(sign, SignDlc)
    assert offer == offer_from_json(run_vector["offer_message"]["message"])
    assert accept == accept_from_json(run_vector["accept_message"]["message"])
    assert sign == sign_from_json(run_vector["sign_message"]["message"])
    assert offer.total_collateral == offer.offer_collateral + accept.accept_collateral


def test_plan_matches_signature_count(run_vector: dict[str, Any]) -> None:
    offer = parse_message(bytes.fromhex(run_vector["offer_message"]["serialized"]))
    accept = parse_message(bytes.fromhex(run_vector["accept_message"]["serialized"]))
    sign = parse_message(bytes.fromhex(run_vector["sign_message"]["serialized"]))
    assert isinstance(offer, OfferDlc)
    assert isinstance(accept, AcceptDlc)
    assert isinstance(sign, SignDlc)
    plan = plan_cets(offer.contract_info)
    assert len(plan.entries) == len(accept.cet_adaptor_signatures)
    assert len(plan.entries) == len(sign.cet_adaptor_signatures)
    total = offer.total_collateral
    assert all(p.offer + p.accept == total for p in plan.payouts)
    assert {e.cet_index for e in plan.entries} == set(range(len(plan.payouts)))
