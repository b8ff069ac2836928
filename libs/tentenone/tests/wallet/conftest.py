"""Wallet devnet tests reuse the chain tests' helpers: put that folder on the path."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "chain"))
