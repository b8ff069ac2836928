"""Finding the installed services and demo components through entry points.

A service package registers its ``Service`` object::

    [project.entry-points."tentenone.services"]
    orderbook = "tentenone_orderbook.service:service"

and anything else ``tentenone demo`` should start (devnet node, Electrum
server, the app's web server) registers a factory ``(DemoEnvironment) ->
Component``::

    [project.entry-points."tentenone.components"]
    devnet = "tentenone_devnet.demo:component"

so the library never imports a service or component by name.
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points
from typing import Any

from tentenone.service.definition import Service

__all__ = ["COMPONENTS_GROUP", "SERVICES_GROUP", "discover_components", "discover_services"]

SERVICES_GROUP = "tentenone.services"
COMPONENTS_GROUP = "tentenone.components"

_log = logging.getLogger(__name__)


def discover_services() -> list[Service]:
    """Every installed service, by name; one that fails to load is logged and skipped."""
    found: dict[str, Service] = {}
    for ep in entry_points(group=SERVICES_GROUP):
        try:
            obj = ep.load()
        except Exception:
            _log.exception("cannot load service entry point %s", ep.value)
            continue
        if not isinstance(obj, Service):
            _log.error("entry point %s is a %s, not a Service", ep.value, type(obj).__name__)
            continue
        found.setdefault(obj.name, obj)
    return [found[name] for name in sorted(found)]


def discover_components() -> list[tuple[str, Any]]:
    """(name, factory) of every installed demo component, by name."""
    found: list[tuple[str, Any]] = []
    for ep in entry_points(group=COMPONENTS_GROUP):
        try:
            found.append((ep.name, ep.load()))
        except Exception:
            _log.exception("cannot load component entry point %s", ep.value)
    return sorted(found, key=lambda item: item[0])
