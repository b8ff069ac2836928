"""Why the order book refuses a command.

Every refusal is a ``TentenoneError`` with a stable ``code`` (the reason code
of ``order.rejected``) and a message naming the field, the value and the
limit. A refused command changes nothing: the engine checks everything
before it touches the book.
"""

from __future__ import annotations

from typing import Any

from tentenone.errors import ConflictError, InvalidInput, NotFound, TentenoneError

__all__ = [
    "AmendBelowFilled",
    "AmendEmpty",
    "ExposureLimitExceeded",
    "FillOrKillUnfilled",
    "InsufficientMargin",
    "InvalidEngineState",
    "InvalidFieldType",
    "InvalidOrder",
    "InvalidTimeInForce",
    "LeverageOutOfRange",
    "MarginOutOfRange",
    "OrderNotFound",
    "OrderbookError",
    "PostOnlyWouldTake",
    "PriceAboveMaximum",
    "PriceNotAllowed",
    "PriceNotPositive",
    "PriceOffTick",
    "PriceRequired",
    "QuantityAboveMaximum",
    "QuantityBelowMinimum",
    "QuantityNotPositive",
    "QuantityOffLot",
    "RiskRejected",
    "TextTooLong",
]


class OrderbookError(TentenoneError):
    """Root of the order book's refusals."""

    code = "orderbook_error"


class InvalidOrder(OrderbookError, InvalidInput):
    """A field of the command is malformed or out of range."""

    code = "invalid_order"

    def __init__(self, message: str, *, field: str, value: Any, **details: Any) -> None:
        super().__init__(message, field=field, value=_printable(value), **details)
        self.field = field


def _printable(value: Any) -> Any:
    """Details travel as JSON: keep plain values, describe anything else."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return repr(value)


class InvalidFieldType(InvalidOrder):
    code = "invalid_field_type"


class TextTooLong(InvalidOrder):
    code = "text_too_long"


class QuantityNotPositive(InvalidOrder):
    code = "quantity_not_positive"


class QuantityOffLot(InvalidOrder):
    code = "quantity_off_lot"


class QuantityBelowMinimum(InvalidOrder):
    code = "quantity_below_minimum"


class QuantityAboveMaximum(InvalidOrder):
    code = "quantity_above_maximum"


class PriceNotPositive(InvalidOrder):
    code = "price_not_positive"


class PriceOffTick(InvalidOrder):
    code = "price_off_tick"


class PriceAboveMaximum(InvalidOrder):
    code = "price_above_maximum"


class PriceRequired(InvalidOrder):
    code = "price_required"


class PriceNotAllowed(InvalidOrder):
    code = "price_not_allowed"


class LeverageOutOfRange(InvalidOrder):
    code = "leverage_out_of_range"


class InvalidTimeInForce(InvalidOrder):
    code = "invalid_time_in_force"


class AmendEmpty(InvalidOrder):
    code = "amend_empty"


class AmendBelowFilled(InvalidOrder):
    code = "amend_below_filled"


class MarginOutOfRange(InvalidOrder):
    code = "margin_out_of_range"


class OrderNotFound(OrderbookError, NotFound):
    """No live order with this id belongs to this trader (filled, cancelled or never existed)."""

    code = "order_not_found"


class RiskRejected(OrderbookError, ConflictError):
    """The order is well formed but the risk checks refuse it."""

    code = "risk_rejected"


class InsufficientMargin(RiskRejected):
    code = "insufficient_margin"


class ExposureLimitExceeded(RiskRejected):
    code = "exposure_limit_exceeded"


class PostOnlyWouldTake(OrderbookError, ConflictError):
    code = "post_only_would_take"


class FillOrKillUnfilled(OrderbookError, ConflictError):
    code = "fill_or_kill_unfilled"


class InvalidEngineState(OrderbookError, InvalidInput):
    """A persisted state given to rebuild the engine is inconsistent."""

    code = "invalid_engine_state"
