"""``python -m tentenone_dlc``: the same as ``tentenone-dlc``."""

import sys

from tentenone_dlc.service import main

sys.exit(main())
