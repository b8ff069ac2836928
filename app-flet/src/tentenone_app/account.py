"""The trader's wallet as the app holds it: the key store, and once unlocked, the trader.

The app keeps no key, wallet or protocol logic of its own: words come from
``tentenone.wallet``, are sealed by ``tentenone.trader``'s ``FileKeyStore``,
and everything after unlocking is ``tentenone.trader.Trader`` (wallet,
gateway session, the DLC protocol engine, backups). Slow steps (the key
derivation takes a second on purpose) run off the event loop so the screen
keeps drawing.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from tentenone.errors import Unavailable
from tentenone.trader.errors import KeyStoreExists, TraderInputError
from tentenone.trader.keystore import FileKeyStore, SecretWords
from tentenone.wallet import generate_mnemonic, normalize_mnemonic
from tentenone_app.preferences import Preferences
from tentenone_app.settings import AppSettings

__all__ = ["Account", "TraderApi"]


class TraderApi(Protocol):
    """What the screens use of ``tentenone.trader.Trader``."""

    @property
    def node_pubkey(self) -> str: ...

    def balance(self) -> Any: ...

    async def new_address(self) -> str: ...

    async def place_order(self, request: Any) -> Any: ...

    async def cancel_order(self, order_id: str) -> Any: ...

    async def orders(self) -> Sequence[Any]: ...

    async def positions(self, *, include_final: bool = False) -> Sequence[Any]: ...

    async def close_position(self, position_id: str) -> Any: ...

    async def rollover(self, position_id: str) -> None: ...

    async def backup_now(self) -> int: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


class Account:
    def __init__(self, settings: AppSettings, prefs: Preferences) -> None:
        self.settings = settings
        self.prefs = prefs
        self.keystore = FileKeyStore(self.keystore_path)
        self.trader: TraderApi | None = None
        #: why the trader is not running although the wallet is unlocked
        self.trader_problem: str | None = None
        self.unlocked = False

    @property
    def keystore_path(self) -> Path:
        return self.settings.data_dir / "keystore.json"

    @property
    def backup_path(self) -> Path:
        return self.settings.data_dir / "backup.bin"

    def exists(self) -> bool:
        return self.keystore.exists()

    @staticmethod
    def new_words() -> str:
        return generate_mnemonic(12)

    @staticmethod
    def check_words(words: str) -> str:
        """The words normalized (lower case, single spaces), or ``InvalidMnemonic``."""
        return normalize_mnemonic(words)

    async def create(self, words: str, passphrase: str) -> None:
        if self.exists():
            raise KeyStoreExists(f"a wallet already exists in {self.settings.data_dir}")
        secret = SecretWords(self.check_words(words))
        await asyncio.to_thread(self.keystore.create, secret, passphrase)
        self.unlocked = True
        await self._open_trader(passphrase)

    async def restore(self, words: str, passphrase: str, backup_file: Path | None) -> None:
        """A new device from the words and the newest backup (the coordinator's or a file).

        The trader refuses a backup older than the coordinator's state before
        anything is written; without the trader engine only the keys come back.
        """
        if self.exists():
            raise KeyStoreExists(f"a wallet already exists in {self.settings.data_dir}")
        normalized = self.check_words(words)
        if backup_file is not None and not await asyncio.to_thread(backup_file.is_file):
            raise TraderInputError(f"no backup file at {backup_file}")
        module = _trader_module()
        if module is None or not hasattr(module, "Trader"):
            if backup_file is not None:
                raise Unavailable("this build cannot read backups (no trader engine)")
            await self.create(normalized, passphrase)
            return
        trader: TraderApi = await module.Trader.restore_wallet(
            _trader_settings(module, self.settings, self.prefs),
            normalized,
            passphrase,
            backup_file=backup_file,
        )
        try:
            await trader.start()
        except Unavailable as exc:  # restored; the trader runs once its servers answer
            await trader.close()
            self.trader, self.trader_problem, self.unlocked = None, exc.message, True
            return
        self.trader, self.trader_problem, self.unlocked = trader, None, True

    async def unlock(self, passphrase: str) -> None:
        await asyncio.to_thread(self.keystore.unlock, passphrase)
        self.unlocked = True
        await self._open_trader(passphrase)

    async def _open_trader(self, passphrase: str) -> None:
        try:
            self.trader = await _open_trader(self.settings, self.prefs, passphrase)
            self.trader_problem = None
        except Unavailable as exc:
            self.trader_problem = exc.message

    async def place_order(
        self, market: str, side: str, quantity: int, leverage: int, price: Decimal | None
    ) -> str:
        """Send an order through the trader (saved before it is sent); its id."""
        trader = self.require_trader()
        module = _trader_module()
        request = module.OrderRequest(market, side, quantity, leverage, price)
        row = await trader.place_order(request)
        return str(row.id)

    async def close(self) -> None:
        if self.trader is not None:
            await self.trader.close()
            self.trader = None

    def require_trader(self) -> TraderApi:
        if self.trader is None:
            raise Unavailable(self.trader_problem or "unlock the wallet first")
        return self.trader


def _trader_module() -> Any:
    try:
        return importlib.import_module("tentenone.trader")
    except ImportError:
        return None


def _trader_settings(module: Any, settings: AppSettings, prefs: Preferences) -> Any:
    return module.TraderSettings(
        data_dir=settings.data_dir,
        gateway_url=settings.gateway_url,
        electrum_servers=settings.electrum_servers,
        auto_liquidation=prefs.auto_liquidation,
        auto_rollover=prefs.auto_rollover,
    )


async def _open_trader(settings: AppSettings, prefs: Preferences, passphrase: str) -> TraderApi:
    """``tentenone.trader.Trader`` on the app's data directory, started."""
    module = _trader_module()
    if module is None or not hasattr(module, "Trader"):
        raise Unavailable("this build has no trader engine (tentenone.trader.Trader)")
    trader: TraderApi = await module.Trader.open(
        _trader_settings(module, settings, prefs), passphrase
    )
    await trader.start()
    return trader
