"""CLI commands of the registry feature (parsers are light; work is imported lazily)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parsers(sub: Any) -> None:  # argparse._SubParsersAction
    _ = argparse
