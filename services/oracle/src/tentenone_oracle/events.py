"""Event descriptors the oracle announces, and the outcome a price becomes.

The price event of each expiry: numeric, base 2, ``nb_digits`` digits
(20 by default: 0 to 1,048,575 USD), unit USD, precision 0, unsigned. The
outcome is the index price rounded half-up to the dollar, clamped to the
digit range as Oracle.md requires: "the oracle should sign the maximal
possible value that it can attest to" and "it should sign the value 0" for
a negative one. Enumerated events carry their outcome strings.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from tentenone.dlc.oracle_messages import (
    DigitDecompositionEventDescriptor,
    EnumEventDescriptor,
    EventDescriptor,
)
from tentenone.errors import InvalidInput
from tentenone_oracle.models import EventKind

__all__ = [
    "MAX_ENUM_OUTCOMES",
    "descriptor_json",
    "enum_descriptor",
    "kind_of",
    "numeric_descriptor",
    "numeric_outcome",
]

MAX_ENUM_OUTCOMES = 1000
_MAX_OUTCOME_LEN = 200


def numeric_descriptor(nb_digits: int = 20, unit: str = "USD") -> DigitDecompositionEventDescriptor:
    descriptor = DigitDecompositionEventDescriptor(
        base=2, is_signed=False, unit=unit, precision=0, nb_digits=nb_digits
    )
    descriptor.check()
    return descriptor


def enum_descriptor(outcomes: list[str] | tuple[str, ...]) -> EnumEventDescriptor:
    if not isinstance(outcomes, list | tuple) or not 1 <= len(outcomes) <= MAX_ENUM_OUTCOMES:
        raise InvalidInput(f"an enumerated event needs 1 to {MAX_ENUM_OUTCOMES} outcomes")
    for outcome in outcomes:
        if not isinstance(outcome, str) or not outcome or len(outcome) > _MAX_OUTCOME_LEN:
            raise InvalidInput(
                f"each outcome is a non-empty string of at most {_MAX_OUTCOME_LEN} characters"
            )
    if len(set(outcomes)) != len(outcomes):
        raise InvalidInput("enumerated outcomes must be distinct")
    descriptor = EnumEventDescriptor(tuple(outcomes))
    descriptor.check()
    return descriptor


def numeric_outcome(price: Decimal, descriptor: DigitDecompositionEventDescriptor) -> int:
    """``price`` rounded half-up to ``10**precision`` units and clamped to the digit range."""
    if not isinstance(price, Decimal) or not price.is_finite():
        raise InvalidInput(f"price must be a finite Decimal, got {price!r:.40}")
    unit = Decimal(1).scaleb(descriptor.precision)
    value = int((price / unit).to_integral_value(rounding=ROUND_HALF_UP))
    return max(0, min(value, descriptor.max_value))


def kind_of(descriptor: EventDescriptor) -> EventKind:
    return EventKind.ENUM if isinstance(descriptor, EnumEventDescriptor) else EventKind.NUMERIC


def descriptor_json(descriptor: EventDescriptor) -> dict[str, Any]:
    """The descriptor as JSON, as the REST API shows it (p2pderivatives' field names)."""
    if isinstance(descriptor, EnumEventDescriptor):
        return {"outcomes": list(descriptor.outcomes)}
    return {
        "base": descriptor.base,
        "isSigned": descriptor.is_signed,
        "unit": descriptor.unit,
        "precision": descriptor.precision,
        "nbDigits": descriptor.nb_digits,
    }
