"""Contract information of dlcspecs Messaging.md: descriptors, oracle info,
contract info (single and disjoint), with their serialization and validity.

``check()`` methods raise :class:`~tentenone.dlc.errors.ContractError` for a
contract that is well formed on the wire but not valid; the announcements'
signatures are verified elsewhere (they need the oracle maths).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from tentenone.dlc.errors import ContractError, DecodeError
from tentenone.dlc.oracle_messages import (
    DigitDecompositionEventDescriptor,
    EnumEventDescriptor,
    OracleAnnouncement,
)
from tentenone.dlc.payout_curve import PayoutFunction, RoundingIntervals
from tentenone.dlc.tlv import Reader, Writer

__all__ = [
    "ContractDescriptor",
    "ContractEvent",
    "ContractInfo",
    "DisjointContractInfo",
    "EnumeratedContractDescriptor",
    "EnumeratedOutcome",
    "MultiOracleInfo",
    "NumericOutcomeContractDescriptor",
    "OracleInfo",
    "OracleParams",
    "SingleContractInfo",
    "SingleOracleInfo",
    "check_contract_info",
    "read_contract_info",
]


@dataclass(frozen=True, slots=True)
class EnumeratedOutcome:
    outcome: str
    offer_payout: int


@dataclass(frozen=True, slots=True)
class EnumeratedContractDescriptor:
    """``enumerated_contract_descriptor`` (type 0): the offerer's payout per outcome."""

    TYPE = 0
    outcomes: tuple[EnumeratedOutcome, ...]

    def write(self, w: Writer) -> None:
        w.bigsize(self.TYPE)
        w.bigsize(len(self.outcomes))
        for item in self.outcomes:
            w.string(item.outcome, "outcome")
            w.u64(item.offer_payout, "payout")

    @classmethod
    def read_data(cls, r: Reader) -> Self:
        n = r.count("num_outcomes", 9)
        return cls(tuple(EnumeratedOutcome(r.string("outcome"), r.u64("payout")) for _ in range(n)))


@dataclass(frozen=True, slots=True)
class NumericOutcomeContractDescriptor:
    """``numeric_outcome_contract_descriptor`` (type 1)."""

    TYPE = 1
    num_digits: int
    payout_function: PayoutFunction
    rounding_intervals: RoundingIntervals

    def write(self, w: Writer) -> None:
        w.bigsize(self.TYPE)
        w.u16(self.num_digits, "num_digits")
        self.payout_function.write(w)
        self.rounding_intervals.write(w)

    @classmethod
    def read_data(cls, r: Reader) -> Self:
        return cls(r.u16("num_digits"), PayoutFunction.read(r), RoundingIntervals.read(r))


ContractDescriptor = EnumeratedContractDescriptor | NumericOutcomeContractDescriptor


def _read_descriptor(r: Reader) -> ContractDescriptor:
    start = r.offset
    kind = r.bigsize("contract_descriptor")
    if kind == EnumeratedContractDescriptor.TYPE:
        return EnumeratedContractDescriptor.read_data(r)
    if kind == NumericOutcomeContractDescriptor.TYPE:
        return NumericOutcomeContractDescriptor.read_data(r)
    raise DecodeError(f"contract_descriptor: unknown type {kind} at offset {start}")


@dataclass(frozen=True, slots=True)
class OracleParams:
    """``oracle_params``: allowed difference between oracles, as powers of 2."""

    max_error_exp: int
    min_fail_exp: int
    maximize_coverage: bool

    def write(self, w: Writer) -> None:
        w.u16(self.max_error_exp, "maxErrorExp")
        w.u16(self.min_fail_exp, "minFailExp")
        w.flag(self.maximize_coverage)

    @classmethod
    def read(cls, r: Reader) -> Self:
        return cls(r.u16("maxErrorExp"), r.u16("minFailExp"), r.flag("maximize_coverage"))


@dataclass(frozen=True, slots=True)
class SingleOracleInfo:
    """``single_oracle_info`` (type 0)."""

    TYPE = 0
    announcement: OracleAnnouncement

    def write(self, w: Writer) -> None:
        w.bigsize(self.TYPE)
        self.announcement.write(w)

    @property
    def announcements(self) -> tuple[OracleAnnouncement, ...]:
        return (self.announcement,)

    @property
    def threshold(self) -> int:
        return 1

    @property
    def params(self) -> OracleParams | None:
        return None


@dataclass(frozen=True, slots=True)
class MultiOracleInfo:
    """``multi_oracle_info`` (type 1): ``threshold`` of the announcements, in
    order of preference; ``params`` allow a bounded difference between them."""

    TYPE = 1
    threshold: int
    announcements: tuple[OracleAnnouncement, ...]
    params: OracleParams | None = None

    def write(self, w: Writer) -> None:
        w.bigsize(self.TYPE)
        w.u16(self.threshold, "threshold")
        w.bigsize(len(self.announcements))
        for announcement in self.announcements:
            announcement.write(w)
        w.flag(self.params is not None)
        if self.params is not None:
            self.params.write(w)

    @classmethod
    def read_data(cls, r: Reader) -> Self:
        threshold = r.u16("threshold")
        n = r.count("num_oracles", 100)
        announcements = tuple(OracleAnnouncement.read(r) for _ in range(n))
        params = OracleParams.read(r) if r.flag("oracle_params present") else None
        return cls(threshold, announcements, params)


OracleInfo = SingleOracleInfo | MultiOracleInfo


def _read_oracle_info(r: Reader) -> OracleInfo:
    start = r.offset
    kind = r.bigsize("oracle_info")
    if kind == SingleOracleInfo.TYPE:
        return SingleOracleInfo(OracleAnnouncement.read(r))
    if kind == MultiOracleInfo.TYPE:
        return MultiOracleInfo.read_data(r)
    raise DecodeError(f"oracle_info: unknown type {kind} at offset {start}")


@dataclass(frozen=True, slots=True)
class ContractEvent:
    """One (descriptor, oracle info) pair; a disjoint contract has several."""

    descriptor: ContractDescriptor
    oracle_info: OracleInfo

    def write(self, w: Writer) -> None:
        self.descriptor.write(w)
        self.oracle_info.write(w)

    @classmethod
    def read(cls, r: Reader) -> Self:
        return cls(_read_descriptor(r), _read_oracle_info(r))

    def check(self, total_collateral: int) -> None:
        """Messaging.md validity: "a single payout is defined for any possible
        outcome that can be attested by the oracle(s)"."""
        info = self.oracle_info
        if not info.announcements:
            raise ContractError("oracle info has no announcements")
        if not 1 <= info.threshold <= len(info.announcements):
            raise ContractError(
                f"threshold {info.threshold} is not within 1..{len(info.announcements)}"
            )
        keys = [a.oracle_public_key for a in info.announcements]
        if len(set(keys)) != len(keys):
            raise ContractError("the same oracle appears twice in one oracle info")
        for announcement in info.announcements:
            announcement.oracle_event.check()
        if isinstance(self.descriptor, EnumeratedContractDescriptor):
            self._check_enumerated(self.descriptor, total_collateral)
        else:
            self._check_numeric(self.descriptor, total_collateral)

    def _check_enumerated(self, d: EnumeratedContractDescriptor, total: int) -> None:
        outcomes = [o.outcome for o in d.outcomes]
        if len(set(outcomes)) != len(outcomes):
            raise ContractError("enumerated descriptor lists an outcome twice")
        if any(o.offer_payout > total for o in d.outcomes):
            raise ContractError("an enumerated payout exceeds the total collateral")
        for announcement in self.oracle_info.announcements:
            event = announcement.oracle_event.event_descriptor
            if not isinstance(event, EnumEventDescriptor):
                raise ContractError("an enumerated contract needs enum events")
            if set(event.outcomes) != set(outcomes):
                raise ContractError(
                    f"oracle outcomes {sorted(event.outcomes)} do not each have a single "
                    f"payout in {sorted(outcomes)}"
                )

    def _check_numeric(self, d: NumericOutcomeContractDescriptor, total: int) -> None:
        del total
        events = [a.oracle_event.event_descriptor for a in self.oracle_info.announcements]
        for event in events:
            if not isinstance(event, DigitDecompositionEventDescriptor):
                raise ContractError("a numeric contract needs digit decomposition events")
            if event.is_signed:
                raise ContractError("signed numeric events are not supported")
            if event.nb_digits != d.num_digits or event.base != self.base:
                raise ContractError(
                    "every oracle of a numeric contract must sign the same number of "
                    f"digits in the same base ({d.num_digits} digits expected)"
                )
        params = self.oracle_info.params
        if params is not None:
            if self.base != 2:
                raise ContractError("oracles with allowed difference need base 2")
            if not params.min_fail_exp < params.max_error_exp <= d.num_digits:
                raise ContractError(
                    "oracle params need minFailExp < maxErrorExp <= num_digits, got "
                    f"{params.min_fail_exp}, {params.max_error_exp}, {d.num_digits}"
                )
        d.rounding_intervals.check()
        d.payout_function.check(self.base**d.num_digits - 1)

    @property
    def base(self) -> int:
        event = self.oracle_info.announcements[0].oracle_event.event_descriptor
        return event.base if isinstance(event, DigitDecompositionEventDescriptor) else 0


@dataclass(frozen=True, slots=True)
class SingleContractInfo:
    """``single_contract_info`` (type 0)."""

    TYPE = 0
    total_collateral: int
    event: ContractEvent

    def write(self, w: Writer) -> None:
        w.bigsize(self.TYPE)
        w.u64(self.total_collateral, "total_collateral")
        self.event.write(w)

    @property
    def events(self) -> tuple[ContractEvent, ...]:
        return (self.event,)


@dataclass(frozen=True, slots=True)
class DisjointContractInfo:
    """``disjoint_contract_info`` (type 1): the union of the events' CET sets."""

    TYPE = 1
    total_collateral: int
    events: tuple[ContractEvent, ...]

    def write(self, w: Writer) -> None:
        w.bigsize(self.TYPE)
        w.u64(self.total_collateral, "total_collateral")
        w.bigsize(len(self.events))
        for event in self.events:
            event.write(w)


ContractInfo = SingleContractInfo | DisjointContractInfo


def read_contract_info(r: Reader) -> ContractInfo:
    start = r.offset
    kind = r.bigsize("contract_info")
    total = r.u64("total_collateral")
    if kind == SingleContractInfo.TYPE:
        return SingleContractInfo(total, ContractEvent.read(r))
    if kind == DisjointContractInfo.TYPE:
        n = r.count("num_disjoint_events", 2)
        return DisjointContractInfo(total, tuple(ContractEvent.read(r) for _ in range(n)))
    raise DecodeError(f"contract_info: unknown type {kind} at offset {start}")


def check_contract_info(info: ContractInfo) -> None:
    if not info.events:
        raise ContractError("contract info has no events")
    for event in info.events:
        event.check(info.total_collateral)
