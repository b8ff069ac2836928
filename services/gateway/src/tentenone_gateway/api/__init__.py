"""The REST routes under ``/api/v1``, a module per resource."""

from tentenone_gateway.api.auth import router as auth_router
from tentenone_gateway.api.backups import router as backups_router
from tentenone_gateway.api.book import router as book_router
from tentenone_gateway.api.markets import router as markets_router
from tentenone_gateway.api.node import router as node_router
from tentenone_gateway.api.orders import router as orders_router
from tentenone_gateway.api.positions import router as positions_router
from tentenone_gateway.api.prices import router as prices_router
from tentenone_gateway.api.ws import router as ws_router

__all__ = ["ROUTERS"]

ROUTERS = [
    auth_router,
    markets_router,
    book_router,
    orders_router,
    prices_router,
    positions_router,
    backups_router,
    node_router,
    ws_router,
]
