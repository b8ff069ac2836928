"""A service as its own process: ``tentenone-<name>`` (what each Kubernetes pod runs)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from tentenone.config import BaseServiceSettings
from tentenone.errors import TentenoneError
from tentenone.logging import configure_logging
from tentenone.service.definition import Service
from tentenone.service.runner import ServiceRunner

__all__ = ["run_service", "serve_until_signalled"]

_log = logging.getLogger(__name__)


def run_service(service: Service, argv: list[str] | None = None) -> int:
    """Parse the (few) arguments, read settings from the environment, run until SIGTERM."""
    parser = argparse.ArgumentParser(
        prog=f"tentenone-{service.name}",
        description=(
            f"Run the {service.name} service. Settings come from the environment: "
            f"TENTENONE_{service.name.upper().replace('-', '_')}_<FIELD>, then TENTENONE_<FIELD> "
            "(e.g. TENTENONE_AMQP_URL, TENTENONE_DATABASE_URL, TENTENONE_HTTP_PORT)."
        ),
    )
    parser.parse_args(argv)
    settings = service.settings_cls()
    configure_logging(service.name, settings.log_level, settings.log_json)
    return asyncio.run(serve_until_signalled(service, settings))


async def serve_until_signalled(service: Service, settings: BaseServiceSettings) -> int:
    runner = ServiceRunner(service, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await runner.start()
    except TentenoneError as exc:
        _log.error("%s could not start: %s", service.name, exc, extra={"code": exc.code})
        return 1
    await stop.wait()
    await runner.stop(settings.shutdown_grace_s)
    return 0
