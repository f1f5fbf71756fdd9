"""Slack surface: one small module per surface, each with `register(app, services)`.

`register_all` wires them all. Modules owned by other helpers (approvals, daily) are optional
at import time so the app still starts while they are being written.
"""
from __future__ import annotations

import importlib
import logging
from typing import Any

log = logging.getLogger(__name__)

#: Modules whose `register(app, services)` is called, in order.
SURFACES = ("handlers.commands", "handlers.actions", "handlers.approvals", "handlers.daily")
_OPTIONAL = {"handlers.approvals", "handlers.daily"}


def register_all(app: Any, services: Any) -> None:
    """Register every surface's listeners on the Bolt app."""
    for name in SURFACES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if name in _OPTIONAL and exc.name == name:
                log.debug("surface %s not present", name)
                continue
            raise
        register = getattr(module, "register", None)
        if register is None:
            if name in _OPTIONAL:
                continue
            raise AttributeError(f"{name} has no register(app, services)")
        register(app, services)
