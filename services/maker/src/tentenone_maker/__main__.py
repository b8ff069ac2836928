"""``python -m tentenone_maker``: the service as a process (like ``tentenone-maker``)."""

import sys

from tentenone_maker.service import main

sys.exit(main())
