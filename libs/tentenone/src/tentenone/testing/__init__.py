"""Test helpers shared by every package's tests (the fixtures are in ``tentenone.testing.plugin``).

Importing this package does not import the store; ``check_migrations`` is
imported from ``tentenone.testing.migrations``.
"""

from tentenone.testing.ports import free_port
from tentenone.testing.processes import PythonProcess
from tentenone.testing.waiting import wait_until, wait_until_sync

__all__ = ["PythonProcess", "free_port", "wait_until", "wait_until_sync"]
