"""The layering holds: the pure core never imports adapters, storage or Telegram."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PURE = ("knowledge", "checks")
FORBIDDEN_IN_PURE = ("bot", "storage", "telegram", "sqlalchemy")
CLOCK_CALLS = ("datetime.now", "date.today", "time.time", "datetime.utcnow", "os.environ", "os.getenv")


def test_import_linter_contracts_hold() -> None:
    exe = Path(sys.executable).parent / "lint-imports"
    res = subprocess.run([str(exe), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_pure_core_imports_nothing_impure_and_reads_no_clock() -> None:
    problems = []
    for package in PURE:
        for path in _modules(package):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                for name in names:
                    if name.split(".")[0] in FORBIDDEN_IN_PURE:
                        problems.append(f"{path.relative_to(ROOT)} imports {name}")
            source = path.read_text(encoding="utf-8")
            problems += [f"{path.relative_to(ROOT)} calls {c}" for c in CLOCK_CALLS if c + "(" in source
                         or (c.startswith("os.") and c in source)]
    assert problems == []


def test_only_bot_imports_telegram() -> None:
    offenders = []
    for package in ("knowledge", "checks", "storage"):
        for path in _modules(package):
            if "import telegram" in path.read_text(encoding="utf-8") or "from telegram" in path.read_text(
                    encoding="utf-8"):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
