"""``python -m tentenone_orderbook``: the service as a process (like ``tentenone-orderbook``)."""

import sys

from tentenone_orderbook.service import main

sys.exit(main())
