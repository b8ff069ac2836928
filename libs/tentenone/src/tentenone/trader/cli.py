"""``tentenone-trader``: trade from a terminal on the devnet (or any network the gateway serves).

Settings come from ``TENTENONE_TRADER_*`` (``--data-dir`` and ``--gateway`` on
the command line win); the passphrase from ``--passphrase``,
``TENTENONE_TRADER_PASSPHRASE`` or a prompt. Commands::

    create | restore --words "..." [--backup-file F]   the wallet, sealed under the passphrase
    address | balance | fund --btc 0.5                 devnet faucet: the node pays us
    order --market M --side buy --quantity 1000 --leverage 5 [--price 50000]
    orders | positions [--all] | close ID | roll-over ID | cancel ID
    backup                                             write a backup now (file + gateway)
    sync                                               one pass of the protocol engine
    run                                                the engine until stopped (Ctrl-C)
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from tentenone.dlc.protocol.states import TraderState as T
from tentenone.errors import TentenoneError
from tentenone.trader.trader import OrderRequest, Trader, TraderSettings
from tentenone.wallet import generate_mnemonic

__all__ = ["main", "roll_over"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tentenone-trader", description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", type=Path, help="where the key store, database, backup live")
    p.add_argument("--gateway", help="the coordinator's gateway URL")
    p.add_argument("--passphrase", help="the key store's passphrase (or a prompt)")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("create", help="a new wallet: shows its words once")
    restore = sub.add_parser("restore", help="a wallet from its words and the newest backup")
    restore.add_argument("--words", required=True)
    restore.add_argument("--backup-file", type=Path)
    sub.add_parser("address", help="a new receive address")
    sub.add_parser("balance", help="confirmed and unconfirmed sats")
    fund = sub.add_parser("fund", help="devnet only: the node's faucet pays us")
    fund.add_argument("--btc", type=Decimal, default=Decimal("0.5"))
    fund.add_argument("--rpc-url", default=os.environ.get("TENTENONE_DEVNET_RPC_URL", ""))
    fund.add_argument("--rpc-user", default=os.environ.get("TENTENONE_DEVNET_RPC_USER", "devnet"))
    fund.add_argument(
        "--rpc-password", default=os.environ.get("TENTENONE_DEVNET_RPC_PASSWORD", "devnet")
    )
    order = sub.add_parser("order", help="place an order")
    order.add_argument("--market", required=True, help="the expiry's market id")
    order.add_argument("--side", required=True, choices=["buy", "sell", "long", "short"])
    order.add_argument("--quantity", type=int, required=True, help="USD contracts")
    order.add_argument("--leverage", type=int, default=1)
    order.add_argument("--price", type=Decimal, help="limit in USD (none: market order)")
    sub.add_parser("orders", help="your orders, what is happening, what you can do")
    positions = sub.add_parser("positions", help="your positions")
    positions.add_argument("--all", action="store_true", help="closed ones too")
    for name, what, aliases in (
        ("close", "close at the quoted price", []),
        ("roll-over", "renew the position into the next expiry", ["rollover"]),
    ):
        cmd = sub.add_parser(name, help=what, aliases=aliases)
        cmd.add_argument("position_id")
    cancel = sub.add_parser("cancel", help="cancel an order")
    cancel.add_argument("order_id")
    sub.add_parser("backup", help="write an encrypted backup now")
    sub.add_parser("sync", help="one pass: send, receive, look at the chain")
    sub.add_parser("run", help="run the protocol engine until stopped")
    return p


def _settings(args: argparse.Namespace) -> TraderSettings:
    extra: dict[str, Any] = {}
    if args.data_dir is not None:
        extra["data_dir"] = args.data_dir
    if args.gateway is not None:
        extra["gateway_url"] = args.gateway
    return TraderSettings(**extra)


def _passphrase(args: argparse.Namespace, *, twice: bool = False) -> str:
    given = args.passphrase or os.environ.get("TENTENONE_TRADER_PASSPHRASE")
    if given:
        return str(given)
    first = getpass.getpass("Passphrase: ")
    if twice and getpass.getpass("Again: ") != first:
        raise SystemExit("the passphrases differ")
    return first


def _sats(value: int | None) -> str:
    return "-" if value is None else f"{value:,} sat"


def _usd(cents: int | None) -> str:
    return "market" if cents is None else f"${Decimal(cents).scaleb(-2):,.2f}"


async def _with_trader(
    args: argparse.Namespace, work: Callable[[Trader], Awaitable[None]], *, engine: bool = True
) -> None:
    trader = await Trader.open(_settings(args), _passphrase(args))
    try:
        if engine:
            await trader.start()
        else:
            await trader.db.migrate()
        await work(trader)
    finally:
        await trader.close()


async def _create(args: argparse.Namespace) -> None:
    words = generate_mnemonic(12)
    trader = await Trader.create_wallet(_settings(args), words, _passphrase(args, twice=True))
    print("Your 12 words (write them down, they are shown only once):\n")
    print(f"    {words}\n")
    print(f"Node key: {trader.node_pubkey}")
    await trader.close()


async def _restore(args: argparse.Namespace) -> None:
    trader = await Trader.restore_wallet(
        _settings(args), args.words, _passphrase(args, twice=True), backup_file=args.backup_file
    )
    count = len(await trader.contract_rows())
    print(f"Restored node {trader.node_pubkey}: {count} contract(s) from the backup")
    report = trader.restore_report
    if count and report is None:
        print("The coordinator could not be asked whether this backup is the latest.")
    elif report is not None and report.behind:
        print(
            f"The backup (state {report.backup_state_number}) is behind the coordinator "
            f"(state {report.coordinator_state_number}): the app catches up from it and "
            "the chain before it broadcasts anything."
        )
    await trader.close()


async def _fund(args: argparse.Namespace, trader: Trader) -> None:
    if not args.rpc_url:
        raise SystemExit("give --rpc-url (or TENTENONE_DEVNET_RPC_URL): the devnet node's RPC")
    address = await trader.new_address()
    body = {
        "jsonrpc": "1.0",
        "id": "trader-cli",
        "method": "devnet_fund",
        "params": [address, str(args.btc), True],
    }
    async with httpx.AsyncClient(timeout=30) as http:
        reply = await http.post(args.rpc_url, json=body, auth=(args.rpc_user, args.rpc_password))
    answer = reply.json()
    if answer.get("error"):
        raise SystemExit(f"the faucet refused: {answer['error']}")
    print(f"Faucet paid {args.btc} BTC to {address} in {answer['result']['txid']}")


async def _print_orders(trader: Trader) -> None:
    rows = await trader.orders()
    if not rows:
        print("No orders yet")
    for o in rows:
        print(
            f"{o.order_id}  {o.side:<4} {o.quantity:>7,} @ {_usd(o.price_cents):>12} "
            f"{o.leverage:>2}x  {o.market}  {o.state:<16} filled {o.filled_quantity:,}"
        )
        print(f"    {o.happening}; you can: {o.can_do}")


async def _print_positions(trader: Trader, include_final: bool) -> None:
    rows = await trader.positions(include_final=include_final)
    if not rows:
        print("No positions")
    for p in rows:
        print(
            f"{p.position_id}  {p.side:<5} {p.quantity:>7,} @ {_usd(p.price_cents):>12} "
            f"{p.leverage:>2}x  margin {_sats(p.margin_sat)}  {p.state:<12} "
            f"expiry {p.maturity:%Y-%m-%d %H:%M:%S}Z  P&L {_sats(p.realized_pnl_sat)}"
        )
        print(f"    {p.note}")


async def roll_over(trader: Trader, position_id: str, within_s: float = 30) -> list[str]:
    """Ask, then run engine passes until the renewal is signed (or refused, or time is up);
    what happened, in lines for a person."""
    old = await trader.roll_over(position_id)
    lines = [f"Rollover of {position_id} (expiry {old.maturity:%Y-%m-%d %H:%M:%S}Z) requested"]
    engine = trader.require_engine()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    row = old
    while loop.time() < deadline:
        await engine.run_once()
        row = await trader.contract_of(old.id)
        refused = row.state == T.OPEN and row.version > old.version  # offered, then refused
        if row.state not in _ROLLING_ASKED or refused:
            break
        await asyncio.sleep(trader.settings.poll_interval_s)
    if row.renewed_by is None:
        return [*lines, f"    {row.note or 'waiting for the renewal offer'}"]
    new = await trader.contract_of(row.renewed_by)
    return [
        *lines,
        f"    into {new.market} (expiry {new.maturity:%Y-%m-%d %H:%M:%S}Z) as {new.position_id}:",
        f"    {new.note}",
        "    the old position stays open until the renewal transaction confirms",
    ]


async def _run(args: argparse.Namespace) -> None:
    async def forever(trader: Trader) -> None:
        print(f"Trader {trader.node_pubkey} running; Ctrl-C stops it", flush=True)
        await trader.require_engine().run(trader.settings.poll_interval_s)

    await _with_trader(args, forever)


async def _dispatch(args: argparse.Namespace) -> None:
    cmd = args.command
    if cmd == "create":
        await _create(args)
    elif cmd == "restore":
        await _restore(args)
    elif cmd == "run":
        await _run(args)
    else:
        await _with_trader(args, lambda t: _command(args, t), engine=cmd not in _DB_ONLY)


_DB_ONLY = {"orders", "backup"}
#: the old contract's states while the renewal is not signed yet (the CLI waits)
_ROLLING_ASKED = {int(T.OPEN), int(T.ROLLOVER_OFFERED), int(T.ROLLOVER_ACCEPTED)}


async def _command(args: argparse.Namespace, trader: Trader) -> None:
    cmd = args.command
    if cmd == "address":
        print(await trader.new_address())
    elif cmd == "balance":
        b = trader.balance()
        print(f"confirmed {_sats(b.confirmed)}, unconfirmed {_sats(b.unconfirmed)}")
        print(f"locked in pending contracts {_sats(b.locked)}")
    elif cmd == "fund":
        await _fund(args, trader)
    elif cmd == "order":
        row = await trader.place_order(
            OrderRequest(args.market, args.side, args.quantity, args.leverage, args.price)
        )
        print(f"Order {row.id}: {row.note} (order book id {row.remote_id or '-'})")
    elif cmd == "orders":
        await _print_orders(trader)
    elif cmd == "positions":
        await trader.require_engine().run_once()
        await _print_positions(trader, args.all)
    elif cmd == "close":
        quote = await trader.close_position(args.position_id)
        print(f"Close quoted at ${quote.price}: you receive {_sats(quote.trader_payout_sat)}")
        await trader.require_engine().run_once()
    elif cmd in ("roll-over", "rollover"):
        print("\n".join(await roll_over(trader, args.position_id)))
    elif cmd == "cancel":
        row = await trader.cancel_order(args.order_id)
        print(f"Order {row.id}: {row.note}")
    elif cmd == "backup":
        print(f"Backup version {await trader.backup_now()} written")
    elif cmd == "sync":
        await trader.require_engine().run_once()
        await _print_positions(trader, False)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        asyncio.run(_dispatch(args))
    except TentenoneError as exc:
        print(f"error ({exc.code}): {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
