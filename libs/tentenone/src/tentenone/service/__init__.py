"""The service runner every tentenone service is built on.

Declare a ``Service`` (``tentenone.service.definition``), run it with
``service.main()`` as a process or with ``ServiceRunner`` in-process; route
handlers take ``ctx: Context``.
"""

from tentenone.service.context import ServiceContext
from tentenone.service.definition import Service
from tentenone.service.discovery import (
    COMPONENTS_GROUP,
    SERVICES_GROUP,
    discover_components,
    discover_services,
)
from tentenone.service.http import Context, get_context
from tentenone.service.runner import RunnerState, ServiceRunner

__all__ = [
    "COMPONENTS_GROUP",
    "SERVICES_GROUP",
    "Context",
    "RunnerState",
    "Service",
    "ServiceContext",
    "ServiceRunner",
    "discover_components",
    "discover_services",
    "get_context",
]
