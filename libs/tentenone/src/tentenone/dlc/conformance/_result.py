"""The result of one conformance case."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CaseResult"]


@dataclass(frozen=True, slots=True)
class CaseResult:
    name: str
    passed: bool
    detail: str = ""
