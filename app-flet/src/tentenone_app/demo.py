"""The app as a ``tentenone demo`` component: the trader app served as a web page.

Started after the services (order 200), so it finds the gateway's URL among
the components' URLs and the devnet's Electrum server and RPC (for the
faucet) in the environment the devnet component exported. ``make demo``
prints its URL in the table; open it in a browser.
"""

from __future__ import annotations

import os

from tentenone.service.demo import Component, DemoEnvironment
from tentenone_app.server import AppServer
from tentenone_app.settings import AppSettings
from tentenone_app.shell import AppCore

__all__ = ["AppComponent", "component"]


class AppComponent(Component):
    name = "app"
    order = 200

    def __init__(self, env: DemoEnvironment) -> None:
        self._env = env
        self._core: AppCore | None = None
        self._server: AppServer | None = None

    def _settings(self) -> AppSettings:
        settings = AppSettings()
        update: dict[str, object] = {}
        fields = settings.model_fields_set
        if "data_dir" not in fields:
            update["data_dir"] = self._env.data_dir / "app"
        gateway = self._env.urls.get("gateway", {}).get("http")
        if gateway and "gateway_url" not in fields:
            update["gateway_url"] = gateway
        # The devnet component exports these after this settings class could read them.
        for field, var in (
            ("electrum_servers", "TENTENONE_ELECTRUM_SERVERS"),
            ("bitcoind_rpc_url", "TENTENONE_BITCOIND_RPC_URL"),
            ("bitcoind_rpc_user", "TENTENONE_BITCOIND_RPC_USER"),
            ("bitcoind_rpc_password", "TENTENONE_BITCOIND_RPC_PASSWORD"),
        ):
            value = os.environ.get(var)
            if value and field not in fields:
                update[field] = value
        return AppSettings.model_validate({**settings.model_dump(), **update})

    async def start(self) -> None:
        settings = self._settings()
        self._core = AppCore(settings)
        self._server = AppServer(self._core.page_main, settings.host, settings.port)
        await self._server.start()

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
        if self._core is not None:
            await self._core.close()

    def urls(self) -> dict[str, str]:
        return {"open": self._server.url} if self._server is not None and self._server.url else {}


def component(env: DemoEnvironment) -> AppComponent:
    return AppComponent(env)
