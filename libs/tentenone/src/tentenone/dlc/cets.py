"""The CETs of a contract and the plan of its adaptor signatures.

:func:`plan_cets` turns a contract info into the CET payouts (one CET per
enumerated outcome, or per constant-payout range of a numeric payout curve)
and the ordered list of adaptor signatures: for each, the CET it signs and
what each oracle of the combination must attest. The order is the order of
``cet_adaptor_signatures`` in accept_dlc and sign_dlc (as rust-dlc, which
generated the test vectors, writes them):

- enumerated: outcome by outcome, then oracle combination;
- numeric: range by range, digit prefix by prefix, then (with allowed
  difference) prefix tuple, then oracle combination;
- disjoint contracts: event by event (Messaging.md: "the ordered (by index
  above) concatenation of the CET set order").
"""

from __future__ import annotations

from dataclasses import dataclass

from tentenone.dlc.contract import (
    ContractEvent,
    ContractInfo,
    EnumeratedContractDescriptor,
    NumericOutcomeContractDescriptor,
    OracleParams,
    check_contract_info,
)
from tentenone.dlc.decomposition import group_by_ignoring_digits
from tentenone.dlc.errors import ContractError
from tentenone.dlc.multi_oracle import oracle_combinations, outcome_combinations
from tentenone.dlc.payout_curve import RoundingIntervals, range_payouts

__all__ = ["MAXIMIZE_COVERAGE", "AdaptorEntry", "CetPlan", "OracleOutcome", "Payout", "plan_cets"]

#: Secondary oracles' prefixes always maximize coverage, whatever
#: ``oracle_params.maximize_coverage`` says: rust-dlc does so and the test
#: vectors (which set the flag to false) only verify this way (ADR 0033).
MAXIMIZE_COVERAGE = True


@dataclass(frozen=True, slots=True)
class Payout:
    offer: int
    accept: int


@dataclass(frozen=True, slots=True)
class OracleOutcome:
    """Oracle ``oracle`` (index in its event's oracle info) attests ``messages``
    with its first ``len(messages)`` nonces."""

    oracle: int
    messages: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AdaptorEntry:
    """One adaptor signature: on CET ``cet_index``, encrypted to the sum of the
    attestation points of ``oracles`` (all from event ``event_index``)."""

    cet_index: int
    event_index: int
    oracles: tuple[OracleOutcome, ...]
    rounding_mod: int = 1


@dataclass(frozen=True, slots=True)
class CetPlan:
    payouts: tuple[Payout, ...]
    entries: tuple[AdaptorEntry, ...]


def plan_cets(
    info: ContractInfo,
    negotiated: tuple[RoundingIntervals | None, ...] | None = None,
    *,
    max_entries: int | None = None,
) -> CetPlan:
    """The CETs and adaptor signature plan of ``info``.

    ``negotiated`` holds the accepter's rounding intervals per event (from
    ``negotiation_fields``); the smaller modulus wins at each outcome. A plan
    with more than ``max_entries`` adaptor signatures is refused early (a
    counterparty's contract must not make us compute millions of them).
    """
    check_contract_info(info)
    payouts: list[Payout] = []
    entries: list[AdaptorEntry] = []
    for index, event in enumerate(info.events):
        extra = negotiated[index] if negotiated and index < len(negotiated) else None
        _plan_event(index, event, info.total_collateral, extra, payouts, entries, max_entries)
        _check_limit(len(entries), max_entries)
    return CetPlan(tuple(payouts), tuple(entries))


def _check_limit(count: int, limit: int | None) -> None:
    if limit is not None and count > limit:
        raise ContractError(f"the contract needs more than {limit} adaptor signatures")


def _plan_event(
    index: int,
    event: ContractEvent,
    total: int,
    negotiated: RoundingIntervals | None,
    payouts: list[Payout],
    entries: list[AdaptorEntry],
    limit: int | None,
) -> None:
    info = event.oracle_info
    selectors = oracle_combinations(len(info.announcements), info.threshold)
    descriptor = event.descriptor
    if isinstance(descriptor, EnumeratedContractDescriptor):
        for item in descriptor.outcomes:
            cet = len(payouts)
            payouts.append(Payout(item.offer_payout, total - item.offer_payout))
            for selector in selectors:
                oracles = tuple(OracleOutcome(o, (item.outcome,)) for o in selector)
                entries.append(AdaptorEntry(cet, index, oracles))
        return
    _plan_numeric(index, event, descriptor, total, negotiated, selectors, payouts, entries, limit)


def _plan_numeric(
    index: int,
    event: ContractEvent,
    descriptor: NumericOutcomeContractDescriptor,
    total: int,
    negotiated: RoundingIntervals | None,
    selectors: list[tuple[int, ...]],
    payouts: list[Payout],
    entries: list[AdaptorEntry],
    limit: int | None,
) -> None:
    rounding = descriptor.rounding_intervals
    if negotiated is not None:
        rounding = rounding.minimum(negotiated)
    base, digits = event.base, descriptor.num_digits
    params = event.oracle_info.params
    threshold = event.oracle_info.threshold
    ranges = range_payouts(descriptor.payout_function, rounding, total, max_ranges=limit)
    for rng in ranges:
        _check_limit(len(entries), limit)
        cet = len(payouts)
        payouts.append(Payout(rng.offer, total - rng.offer))
        modulus = rounding.modulus_at(rng.start)
        for prefix in group_by_ignoring_digits(rng.start, rng.end, base, digits):
            if not prefix:
                raise ContractError("DLCs with only one outcome are not supported")
            tuples = _prefix_tuples(prefix, digits, params, threshold)
            for selector in selectors:
                for prefixes in tuples:
                    oracles = tuple(
                        OracleOutcome(o, tuple(str(d) for d in p))
                        for o, p in zip(selector, prefixes, strict=True)
                    )
                    entries.append(AdaptorEntry(cet, index, oracles, modulus))


def _prefix_tuples(
    prefix: tuple[int, ...], digits: int, params: OracleParams | None, threshold: int
) -> list[tuple[tuple[int, ...], ...]]:
    """What each oracle of a combination signs: the same prefix, or with allowed
    difference the primary's prefix and the secondaries' covering prefixes."""
    if params is None:
        return [(prefix,) * threshold]
    return outcome_combinations(
        digits, prefix, params.max_error_exp, params.min_fail_exp, MAXIMIZE_COVERAGE, threshold
    )
