"""Run ElectrumX with a shorter hold on small replies (tests only).

ElectrumX 2 pads replies on TCP/TLS sessions and holds a small one until
more output accumulates, up to ``PaddedRSTransport.WAIT_FOR_BUFFER_GROWTH_SECONDS``
(1 s) after its last send: a defence against traffic analysis that also
makes a sequence of dependent requests cost about a second each. ElectrumX
offers no setting for it, so this launcher sets the class attribute from
``TENTENONE_ELECTRUMX_REPLY_HOLD_S`` and then runs the unmodified server.
Padding itself stays on; only the hold is shorter. The demo and the CLI do
not use this launcher: they run ElectrumX exactly as operators do.
"""

from __future__ import annotations

import math
import os
import sys

from electrumx.cli.electrumx_server import main as electrumx_main  # type: ignore[import-untyped]
from electrumx.server.transport import PaddedRSTransport  # type: ignore[import-untyped]

from tentenone_devnet.processes import REPLY_HOLD_ENV

__all__ = ["main"]


def _hold_from_env() -> float | None:
    text = os.environ.get(REPLY_HOLD_ENV)
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 10.0:
        sys.exit(f"{REPLY_HOLD_ENV} must be a number of seconds in 0..10, got {text!r}")
    return value


def main() -> None:
    hold = _hold_from_env()
    if hold is not None:
        PaddedRSTransport.WAIT_FOR_BUFFER_GROWTH_SECONDS = hold
    electrumx_main()


if __name__ == "__main__":
    main()
