"""Stable identifiers on the controls people and tests act on (ADR 0120).

Flutter draws on a canvas; its semantics tree is what a screen reader (and
Playwright) can see. :func:`tag` wraps a control in a semantics node whose
``identifier`` becomes the DOM attribute ``flt-semantics-identifier`` on the
web, ``resource-id`` on Android and ``accessibilityIdentifier`` on iOS. Names
are ``<screen>.<thing>``, e.g. ``ticket.submit``; they are not shown to
anyone and never change with the wording or the language.
"""

from __future__ import annotations

import flet as ft

__all__ = ["tag"]


def tag(identifier: str, control: ft.Control, *, label: str | None = None) -> ft.Semantics:
    return ft.Semantics(content=control, identifier=identifier, container=True, label=label)
