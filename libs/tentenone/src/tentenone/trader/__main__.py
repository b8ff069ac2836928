"""``python -m tentenone.trader``: the ``tentenone-trader`` CLI."""

from tentenone.trader.cli import main

raise SystemExit(main())
