"""embit modules, loaded without type information (embit ships none)."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["bip32", "bip39", "descriptor", "ec", "networks", "psbt", "script", "transaction"]

bip32: Any = importlib.import_module("embit.bip32")
bip39: Any = importlib.import_module("embit.bip39")
descriptor: Any = importlib.import_module("embit.descriptor")
ec: Any = importlib.import_module("embit.ec")
networks: Any = importlib.import_module("embit.networks")
psbt: Any = importlib.import_module("embit.psbt")
script: Any = importlib.import_module("embit.script")
transaction: Any = importlib.import_module("embit.transaction")
