"""The redacting log filter and the rate-limited failure log, through the logging module itself."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bot.logging_setup import RateLimitedLog, RedactTokens, add_secret, redact


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactTokens())
    logger = logging.getLogger("tests.faults.redact")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    yield logger, stream
    logger.removeHandler(handler)


@pytest.mark.parametrize("token", ["5:abcdefgh", "1234567890:" + "Zz_-9" * 7, "77:" + "q" * 120])
def test_configured_tokens_of_any_length_are_hidden_everywhere(captured: tuple[logging.Logger, io.StringIO],
                                                                token: str) -> None:
    logger, stream = captured
    add_secret(token)
    secret = token.split(":", 1)[1]
    logger.info("POST %s failed", f"https://proxy.example/bot{token}/sendMessage")
    logger.warning("page: <a href='/bot%s/getMe'>", token.replace(":", "%3A"))
    try:
        raise RuntimeError(f"upstream said: /bot{token}/getUpdates and {secret}")
    except RuntimeError:
        logger.exception("request failed")
    out = stream.getvalue()
    assert secret not in out and token not in out
    assert out.count("<redacted>") >= 4
    assert "RuntimeError: upstream said" in out  # the traceback is kept, only the secret is gone


def test_unregistered_token_shapes_are_hidden() -> None:
    assert redact("GET /bot9:x/getMe") == "GET /bot<redacted>/getMe"
    assert redact("token 123456:" + "A" * 35 + " leaked") == "token <redacted> leaked"
    assert redact("at 12:30:45 on 2026-12-01") == "at 12:30:45 on 2026-12-01"  # times are not tokens


def test_rate_limited_log_logs_once_per_interval_and_counts_the_rest(caplog: pytest.LogCaptureFixture) -> None:
    clock = [0.0]
    limited = RateLimitedLog(logging.getLogger("tests.faults.rate"), interval=600, clock=lambda: clock[0])
    caplog.set_level(logging.ERROR, logger="tests.faults.rate")
    assert limited.error("k", "boom %s", 1)
    for i in range(50):
        clock[0] = i
        assert not limited.error("k", "boom %s", i)
    assert limited.error("other", "different failure")  # another kind is logged on its own
    clock[0] = 601
    assert limited.error("k", "boom %s", 2)
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["boom 1", "different failure",
                        "boom 2 [50 more like this in the last 10 min were not logged]"]
