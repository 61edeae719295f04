"""Features plug into the router here. Each module has ``register(app)``."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.app import App

# Order matters only for interceptors: dialogs waiting for typed input come before Q&A.
FEATURES = ("general", "admin", "check", "deadlines", "documents", "qa", "gaps")


def register_all(app: App) -> None:
    for name in FEATURES:
        module = importlib.import_module(f"bot.features.{name}")
        module.register(app)
