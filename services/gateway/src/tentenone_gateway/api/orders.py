"""``/orders`` and ``/trades``: the trader's orders and fills, through the order book service.

Every call names the authenticated key as ``trader_id``; the order book
answers only about that key's orders (another key's order is not found), so
a token never reaches another key's orders.
"""

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, status

from tentenone.wire import orderbook as wob
from tentenone.wire.gateway import (
    FillList,
    OrderAmend,
    OrderCreate,
    OrderList,
    OrderPlaced,
    TraderFillPublic,
    TraderOrderPublic,
    usd_to_cents,
)
from tentenone_gateway.api.common import PREFIX, PRIVATE_PROBLEMS, timeout
from tentenone_gateway.auth import Trader
from tentenone_gateway.openapi import operation_id
from tentenone_gateway.state import State
from tentenone_gateway.upstream import build, call

__all__ = ["MarketQuery", "router"]

router = APIRouter(
    prefix=PREFIX,
    tags=["orders"],
    responses=PRIVATE_PROBLEMS,
    generate_unique_id_function=operation_id,
)

MarketPath = Annotated[str, Path(pattern=r"^[a-z]{2,16}[0-9]{1,10}$")]
MarketQuery = Annotated[str | None, Query(pattern=r"^[a-z]{2,16}[0-9]{1,10}$")]
OrderId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Limit = Annotated[int, Query(ge=1, le=500)]


def _cents(price: str | None) -> int | None:
    return None if price is None else usd_to_cents(price)


@router.post(
    "/orders",
    status_code=status.HTTP_201_CREATED,
    summary="Place an order (client_order_id makes a retry safe: the same order comes back)",
)
async def place_order(state: State, trader: Trader, body: OrderCreate) -> OrderPlaced:
    request = build(
        wob.PlaceOrderRequest,
        market=body.market,
        trader_id=trader.public_key,
        side=body.side,
        quantity=body.quantity,
        leverage=body.leverage,
        order_type=body.order_type,
        price=_cents(body.price),
        time_in_force=body.time_in_force,
        client_order_id=body.client_order_id,
        available_margin_sat=body.available_margin_sat,
    )
    return OrderPlaced.of(await call(state.ctx, wob.PLACE_ORDER, request, timeout(state)))


@router.get("/orders", summary="Your orders, newest first")
async def list_orders(
    state: State,
    trader: Trader,
    market: MarketQuery = None,
    status_: Annotated[Literal["open", "all"], Query(alias="status")] = "open",
    limit: Limit = 100,
) -> OrderList:
    request = wob.ListOrdersRequest(
        trader_id=trader.public_key, market=market, open_only=status_ == "open", limit=limit
    )
    found = await call(state.ctx, wob.LIST_ORDERS, request, timeout(state))
    return OrderList(orders=[TraderOrderPublic.of(o) for o in found.orders])


@router.get("/orders/{market}/{order_id}", summary="One of your orders")
async def read_order(
    state: State, trader: Trader, market: MarketPath, order_id: OrderId
) -> TraderOrderPublic:
    request = wob.GetOrderRequest(market=market, trader_id=trader.public_key, order_id=order_id)
    return TraderOrderPublic.of(await call(state.ctx, wob.GET_ORDER, request, timeout(state)))


@router.delete("/orders/{market}/{order_id}", summary="Cancel one of your open orders")
async def cancel_order(
    state: State, trader: Trader, market: MarketPath, order_id: OrderId
) -> TraderOrderPublic:
    request = wob.CancelOrderRequest(market=market, trader_id=trader.public_key, order_id=order_id)
    return TraderOrderPublic.of(await call(state.ctx, wob.CANCEL_ORDER, request, timeout(state)))


@router.patch(
    "/orders/{market}/{order_id}",
    summary="Change the quantity and/or price of one of your open orders",
)
async def amend_order(
    state: State, trader: Trader, market: MarketPath, order_id: OrderId, body: OrderAmend
) -> TraderOrderPublic:
    request = wob.AmendOrderRequest(
        market=market,
        trader_id=trader.public_key,
        order_id=order_id,
        quantity=body.quantity,
        price=_cents(body.price),
    )
    return TraderOrderPublic.of(await call(state.ctx, wob.AMEND_ORDER, request, timeout(state)))


@router.get("/trades", summary="Your trades (fills), newest first")
async def list_my_trades(
    state: State, trader: Trader, market: MarketQuery = None, limit: Limit = 100
) -> FillList:
    request = wob.ListFillsRequest(trader_id=trader.public_key, market=market, limit=limit)
    found = await call(state.ctx, wob.LIST_FILLS, request, timeout(state))
    return FillList(fills=[TraderFillPublic.of(f) for f in found.fills])
