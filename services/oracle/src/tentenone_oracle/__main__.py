"""``python -m tentenone_oracle``: the same as ``tentenone-oracle``."""

import sys

from tentenone_oracle.service import main

sys.exit(main())
