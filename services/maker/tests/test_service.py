"""The maker against the real order book service, RabbitMQ and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

from maker_stack import Stack
from prometheus_client import REGISTRY

from tentenone.testing import wait_until
from tentenone.testing.processes import PythonProcess
from tentenone.wire import orderbook as wire
from tentenone_maker.positions import read_positions

P = 9_000_000  # 90,000.00 USD
TRADER = "a" * 64


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _two_sided(book: wire.BookSnapshot, levels: int, around: int) -> bool:
    return (
        len(book.bids) == levels
        and len(book.asks) == levels
        and book.bids[0].price < around < book.asks[0].price
    )


async def _ladder(stack: Stack, market: str, around: int, levels: int = 3) -> wire.BookSnapshot:
    async def ready() -> wire.BookSnapshot | None:
        book = await stack.book(market)
        return book if _two_sided(book, levels, around) else None

    return await wait_until(ready, 15, interval=0.1, what=f"a ladder around {around}")


async def test_two_sided_at_once_requoted_on_a_move_and_pulled_on_stop(stack: Stack) -> None:
    market = await stack.market()
    maker = await stack.start_maker()
    await stack.publish_price(P)
    book = await _ladder(stack, market, P)
    assert [level.quantity for level in book.bids + book.asks] == [100] * 6
    first = {o.order_id for o in await stack.house_orders()}
    assert len(first) == 6

    # A move under the threshold (5 bps = 45 USD) changes nothing.
    await stack.publish_price(P + 4_000)
    await stack.publish_price(P + 90_000)  # 10 bps: a new ladder
    book = await _ladder(stack, market, P + 90_000)
    assert book.bids[0].price > P
    orders = await stack.house_orders()
    assert len(orders) == 6 and not first & {o.order_id for o in orders}

    await maker.stop(grace_s=5)
    assert await stack.house_orders() == []


async def test_a_stale_feed_pulls_every_quote_and_a_fresh_one_brings_them_back(
    stack: Stack,
) -> None:
    market = await stack.market()
    await stack.start_maker(stale_after_s=2.0)
    await stack.publish_price(P)
    await _ladder(stack, market, P)

    async def empty() -> bool:
        book = await stack.book(market)
        return not book.bids and not book.asks

    pulled_before = _sample("tentenone_maker_quotes_cancelled_total", reason="stale")
    await wait_until(empty, 10, interval=0.1, what="quotes pulled")
    await wait_until(lambda: _sample("tentenone_maker_quoting") == 0, 5, what="quoting 0")

    def pulled() -> float:
        return _sample("tentenone_maker_quotes_cancelled_total", reason="stale") - pulled_before

    # The counter moves as the cancels' replies come in, just after the book empties.
    await wait_until(lambda: pulled() == 6, 5, what="six quotes cancelled as stale")
    assert _sample("tentenone_maker_feed_age_seconds") > 1.0
    await stack.publish_price(P)
    await _ladder(stack, market, P)
    await wait_until(lambda: _sample("tentenone_maker_quoting") == 1, 5, what="quoting 1")


async def test_a_taken_quote_skews_the_ladder_against_the_inventory(stack: Stack) -> None:
    market = await stack.market()
    maker = await stack.start_maker(max_inventory=1_000, skew_bps=50, levels=2)
    await stack.publish_price(P)
    before = await _ladder(stack, market, P, levels=2)
    taken = await stack.bus.request(
        wire.PLACE_ORDER,
        wire.PlaceOrderRequest(
            market=market,
            trader_id=TRADER,
            side="buy",
            quantity=100,
            leverage=2,
            price=before.asks[0].price,
            time_in_force="ioc",
            available_margin_sat=10**10,
        ),
        timeout_s=15,
    )
    assert taken.order.filled == 100

    # Short 100 of 1,000: the ladder moves up by a tenth of 50 bps (45 USD).
    async def skewed() -> wire.BookSnapshot | None:
        book = await stack.book(market)
        if len(book.bids) == 2 and book.bids[0].price == before.bids[0].price + 4_500:
            return book
        return None

    after = await wait_until(skewed, 15, interval=0.1, what="a ladder skewed up")
    assert after.asks[0].price == before.asks[0].price + 4_500
    assert maker.ctx is not None
    async with maker.ctx.transaction() as session:
        assert await read_positions(session) == {market: -100}


async def test_kill_and_restart_finds_its_quotes_and_keeps_them(
    stack: Stack, spawn: Callable[..., PythonProcess]
) -> None:
    market = await stack.market()
    settings = stack.maker_settings()
    env = {f"TENTENONE_MAKER_{k.upper()}": str(v) for k, v in settings.items()}
    proc = spawn("tentenone_maker", env=env)
    await proc.wait_for_output(r"service maker ready", 60)
    await stack.publish_price(P)
    await _ladder(stack, market, P)
    before = sorted(o.order_id for o in await stack.house_orders())

    proc.kill()
    # Restarted with smaller quotes: the orders it finds are shrunk in place.
    proc.env["TENTENONE_MAKER_SIZE"] = "60"
    proc.start()
    await proc.wait_for_output(r"service maker ready", 60)
    await stack.publish_price(P)

    # Logged at the end of its first cycle with a price, once its commands are answered.
    await proc.wait_for_output(r"maker quoting", 15)
    after = await stack.house_orders()
    # The same index: the same six orders (amended, not replaced), none placed twice.
    assert sorted(o.order_id for o in after) == before
    assert {o.remaining for o in after} == {60}
    book = await stack.book(market)
    assert _two_sided(book, 3, P)
    assert all(level.orders == 1 and level.quantity == 60 for level in book.bids + book.asks)

    # Killed again and restarted with no index to hear: once its start is itself
    # stale, the quotes it was leaving for the index are pulled.
    proc.kill()
    proc.env["TENTENONE_MAKER_STALE_AFTER_S"] = "3.0"
    proc.start()
    await proc.wait_for_output(r"service maker ready", 60)
    assert sorted(o.order_id for o in await stack.house_orders()) == before

    async def empty() -> bool:
        return await stack.house_orders() == []

    await wait_until(empty, 10, interval=0.1, what="quotes pulled with no index")


async def test_an_account_that_is_not_the_house_gets_no_quotes_in(stack: Stack) -> None:
    market = await stack.market()
    before = _sample("tentenone_maker_quotes_rejected_total", code="insufficient_margin")
    await stack.start_maker(trader_id="not-the-house")
    await stack.publish_price(P)

    def refused() -> float:
        return _sample("tentenone_maker_quotes_rejected_total", code="insufficient_margin") - before

    # Without margin declared, the order book refuses every quote of a trader account.
    await wait_until(lambda: refused() >= 6, 15, interval=0.05, what="six quotes refused")
    book = await stack.book(market)
    assert not book.bids and not book.asks
