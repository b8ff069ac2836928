"""``python -m tentenone_gateway``: the gateway as a process (as ``tentenone-gateway``)."""

import sys

from tentenone_gateway.service import service

sys.exit(service.main())
