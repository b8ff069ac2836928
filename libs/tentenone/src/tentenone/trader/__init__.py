"""The trader's side of tentenone: keys, wallet, gateway client, the DLC protocol engine.

``Trader`` (``tentenone.trader.trader``) is what the app and the
``tentenone-trader`` CLI use; the engine is ``tentenone.trader.engine``.
"""

from tentenone.trader.trader import (
    OrderRequest,
    OrderView,
    PositionView,
    Trader,
    TraderSettings,
)

__all__ = ["OrderRequest", "OrderView", "PositionView", "Trader", "TraderSettings"]
