"""The crash floor, small: a few kill -9 trials on SQLite and PostgreSQL (benchmarks/reminders_kill.py
runs ≥ 20 by hand): at most one doubled message per kill, none lost."""

from __future__ import annotations

import pytest

from benchmarks.reminders_kill import main
from tests.conftest import PG_ADMIN_URL, pg_available


@pytest.mark.slow
def test_kill_minus_nine_floor(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--trials", "3", "--consortia", "10", "--pg", PG_ADMIN_URL]
    if pg_available():
        args.append("--no-pg")
    code = main(args)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "SQLite: 3 kill -9 trials" in out and "lost total 0" in out and "floor held: yes" in out
