"""``python -m tentenone_chain_monitor``: the same as ``tentenone-chain-monitor``."""

import sys

from tentenone_chain_monitor.service import main

sys.exit(main())
