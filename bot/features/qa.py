"""The qa feature's chat handlers (registered on the router)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.app import App


def register(app: App) -> None:
    pass
