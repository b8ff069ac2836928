"""``tentenone-app``: serve the trader app as a web page on this machine.

Settings come from the environment (``TENTENONE_APP_<FIELD>``, see
:class:`AppSettings`); the options below override them. It prints the URL to
open and runs until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from tentenone.logging import configure_logging
from tentenone_app.server import AppServer
from tentenone_app.settings import AppSettings
from tentenone_app.shell import AppCore

__all__ = ["main", "serve"]


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tentenone-app", description=__doc__.splitlines()[0])
    parser.add_argument("--host", help="address to serve on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (0: any free one; default 8550)")
    parser.add_argument("--data-dir", type=Path, help="key store, database, backups")
    parser.add_argument("--gateway", help="the coordinator's gateway URL")
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(list(argv))


def _settings(args: argparse.Namespace) -> AppSettings:
    settings = AppSettings()
    update: dict[str, object] = {}
    for key, value in (
        ("host", args.host),
        ("port", args.port),
        ("data_dir", args.data_dir),
        ("gateway_url", args.gateway),
    ):
        if value is not None:
            update[key] = value
    return settings.model_copy(update=update) if update else settings


async def serve(settings: AppSettings, stop: asyncio.Event) -> int:
    core = AppCore(settings)
    server = AppServer(core.page_main, settings.host, settings.port)
    try:
        url = await server.start()
        print(f"tentenone-app: open {url}", flush=True)
        await stop.wait()
    finally:
        await server.stop()
        await core.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    configure_logging(None, args.log_level, json_logs=True)
    settings = _settings(args)

    async def run() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        return await serve(settings, stop)

    return asyncio.run(run())


if __name__ == "__main__":
    sys.exit(main())
