"""``tentenone-devnet``: run the devnet node and ElectrumX, mine, fund, reorg.

tentenone-devnet start [--datadir .devnet] [--no-electrum] [--detach]
tentenone-devnet mine N [--to ADDR]
tentenone-devnet fund ADDR AMOUNT_BTC [--confirm]
tentenone-devnet reorg --from HEIGHT [--blocks N]
tentenone-devnet status
tentenone-devnet stop
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from tentenone.errors import TentenoneError
from tentenone.logging import configure_logging
from tentenone_devnet.info import read_info
from tentenone_devnet.processes import ELECTRUMX_INFO, ElectrumXProcess, NodeProcess
from tentenone_devnet.rpcclient import BitcoindRpc

__all__ = ["main"]

DEFAULT_DATADIR = Path(".devnet")


def _rpc(datadir: Path) -> BitcoindRpc:
    info = read_info(datadir)
    if info is None:
        raise SystemExit(f"no devnet node running in {datadir} (tentenone-devnet start)")
    return BitcoindRpc(info.rpc_url, info.auth())


def _electrum_address(datadir: Path) -> str | None:
    try:
        data: dict[str, Any] = json.loads((datadir / "electrumx" / ELECTRUMX_INFO).read_text())
    except (OSError, ValueError):
        return None
    return str(data["address"]) if _pid_alive(int(data["pid"])) else None


def _cmd_node(args: argparse.Namespace) -> int:
    from tentenone_devnet.daemon import NodeConfig, run_node  # the heavy part: libbitcoinkernel

    configure_logging("devnet", level=args.log_level, json_logs=True)
    config = NodeConfig(
        datadir=args.datadir,
        host="127.0.0.1",
        port=args.port,
        rpcauth=args.rpcauth or os.environ.get("TENTENONE_DEVNET_RPCAUTH"),
        mine_interval=args.mine_every,
        initial_blocks=args.initial_blocks,
    )
    return run_node(config)


def _cmd_start(args: argparse.Namespace) -> int:
    datadir: Path = args.datadir.absolute()
    running = read_info(datadir)
    if running is not None and _pid_alive(running.pid):
        print(f"a devnet node already runs in {datadir} (pid {running.pid})")
        return 1
    node = NodeProcess(
        datadir, port=args.rpc_port, mine_interval=args.mine_every, initial_blocks=101
    )
    info = node.start(detach=args.detach)
    electrumx = None
    if not args.no_electrum:
        user, password = info.auth()
        url = info.rpc_url.replace("http://", f"http://{user}:{password}@")
        electrumx = ElectrumXProcess(datadir / "electrumx", url, port=args.electrum_port)
        electrumx.start(detach=args.detach)
    print(f"devnet node     {info.rpc_url}  (regtest, pid {info.pid})")
    print(f"rpc cookie      {info.cookie_path}")
    if electrumx is not None:
        print(f"electrum (tcp)  {electrumx.address}  (ElectrumX, pid {electrumx.pid})")
    print(f"data            {datadir}  (logs: node.log, electrumx/electrumx.log)")
    if args.detach:
        print("detached; stop with: tentenone-devnet stop")
        return 0
    print("running; Ctrl-C stops both")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(1.0):
        if not node.alive() or (electrumx is not None and not electrumx.alive()):
            print("a devnet process exited; stopping", file=sys.stderr)
            break
    if electrumx is not None:
        electrumx.stop()
    node.stop()
    return 0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _cmd_stop(args: argparse.Namespace) -> int:
    datadir: Path = args.datadir
    stopped = False
    try:
        ex = json.loads((datadir / "electrumx" / ELECTRUMX_INFO).read_text())
        if _pid_alive(int(ex["pid"])):
            os.kill(int(ex["pid"]), signal.SIGTERM)
            print(f"ElectrumX (pid {ex['pid']}) stopping")
            stopped = True
    except (OSError, ValueError):
        pass
    info = read_info(datadir)
    if info is not None and _pid_alive(info.pid):
        os.kill(info.pid, signal.SIGTERM)
        print(f"devnet node (pid {info.pid}) stopping")
        stopped = True
    if not stopped:
        print(f"nothing running in {datadir}")
    return 0


def _cmd_mine(args: argparse.Namespace) -> int:
    with _rpc(args.datadir) as rpc:
        address = args.to or rpc.call("devnet_faucetaddress")
        hashes = rpc.call("generatetoaddress", args.blocks, address)
        height = rpc.call("getblockcount")
    print(f"mined {len(hashes)} block(s) to {address}; height {height}")
    if hashes:
        print(f"tip {hashes[-1]}")
    return 0


def _cmd_fund(args: argparse.Namespace) -> int:
    with _rpc(args.datadir) as rpc:
        result = rpc.call("devnet_fund", args.address, args.amount, args.confirm)
    state = f"confirmed in {result['blockhash']}" if "blockhash" in result else "in the mempool"
    print(f"sent {args.amount} BTC to {args.address}: {result['txid']}:0 ({state})")
    return 0


def _cmd_reorg(args: argparse.Namespace) -> int:
    with _rpc(args.datadir) as rpc:
        result = rpc.call("devnet_reorg", args.from_height, args.blocks)
        height = rpc.call("getblockcount")
    print(f"reorg: tip {result['old_tip']} -> {result['new_tip']}")
    print(f"{len(result['blocks'])} new block(s) from height {args.from_height}; height {height}")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    with _rpc(args.datadir) as rpc:
        chain = rpc.call("getblockchaininfo")
        mempool = rpc.call("getmempoolinfo")
        faucet = rpc.call("devnet_faucetaddress")
        url = rpc.url
    print(f"node      {url}")
    print(f"height    {chain['blocks']}  tip {chain['bestblockhash']}")
    print(f"mempool   {mempool['size']} tx, {mempool['bytes']} vB")
    print(f"faucet    {faucet}")
    print(f"electrum  {_electrum_address(args.datadir) or '(not running)'}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tentenone-devnet", description=__doc__.split("\n")[0])
    parser.add_argument("--datadir", type=Path, default=DEFAULT_DATADIR)
    # --datadir is accepted before or after the command.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--datadir", type=Path, default=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True)

    node = sub.add_parser(
        "node", parents=[common], help="run the node in the foreground (what start spawns)"
    )
    node.add_argument("--port", type=int, default=0)
    node.add_argument("--rpcauth", help="user:password accepted besides the cookie")
    node.add_argument("--mine-every", type=float, default=0.0, help="seconds; 0 = off")
    node.add_argument("--initial-blocks", type=int, default=0)
    node.add_argument("--log-level", default="INFO")
    node.set_defaults(func=_cmd_node)

    start = sub.add_parser("start", parents=[common], help="start the node and ElectrumX")
    start.add_argument("--rpc-port", type=int, default=0)
    start.add_argument("--electrum-port", type=int, default=0)
    start.add_argument("--mine-every", type=float, default=0.0)
    start.add_argument("--no-electrum", action="store_true")
    start.add_argument("--detach", action="store_true", help="return once both are ready")
    start.set_defaults(func=_cmd_start)

    sub.add_parser(
        "stop", parents=[common], help="stop a detached node and ElectrumX"
    ).set_defaults(func=_cmd_stop)

    mine = sub.add_parser("mine", parents=[common], help="mine N blocks")
    mine.add_argument("blocks", type=int)
    mine.add_argument("--to", help="address (default: the faucet)")
    mine.set_defaults(func=_cmd_mine)

    fund = sub.add_parser("fund", parents=[common], help="pay AMOUNT BTC from the faucet to ADDR")
    fund.add_argument("address")
    fund.add_argument("amount")
    fund.add_argument("--confirm", action="store_true", help="mine a block after")
    fund.set_defaults(func=_cmd_fund)

    reorg = sub.add_parser(
        "reorg", parents=[common], help="replace blocks from HEIGHT with a longer branch"
    )
    reorg.add_argument("--from", dest="from_height", type=int, required=True)
    reorg.add_argument("--blocks", type=int, default=None)
    reorg.set_defaults(func=_cmd_reorg)

    sub.add_parser("status", parents=[common], help="chain, mempool, addresses").set_defaults(
        func=_cmd_status
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except TentenoneError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
