"""Dispatch of vector files to their handlers."""

from __future__ import annotations

import importlib
import traceback
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from tentenone.dlc.conformance._result import CaseResult

__all__ = ["Handler", "handler_for", "run_file"]

Handler = Callable[[Path], list[CaseResult]]

_HANDLER_MODULES = ("tentenone.dlc.conformance._messages", "tentenone.dlc.conformance._crypto")


def _modules() -> list[ModuleType]:
    found = []
    for name in _HANDLER_MODULES:
        try:
            found.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a missing dependency inside an existing module
                raise
    return found


def handler_for(path: Path) -> Handler | None:
    names = [f"run_{path.stem}"]
    if path.parent.name == "test_vectors":
        names.append("run_test_vectors")
    for name in names:
        for module in _modules():
            handler = getattr(module, name, None)
            if callable(handler):
                return handler  # type: ignore[no-any-return]
    return None


def run_file(path: Path) -> list[CaseResult]:
    """Every case of ``path``; a handler that crashes counts as one failed case."""
    handler = handler_for(path)
    if handler is None:
        return [CaseResult(path.name, False, f"no handler run_{path.stem} for this file")]
    try:
        return handler(path)
    except Exception as exc:  # a crash must be reported, not abort the other files
        detail = "".join(traceback.format_exception_only(exc)).strip()
        return [CaseResult(path.name, False, f"handler raised {detail}")]
