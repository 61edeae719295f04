"""The Bot API transport over aiohttp (python-telegram-bot's ``BaseRequest``).

python-telegram-bot's default transport is httpx. On the event loop, where every reply is sent, an httpx request
costs about 1.2 ms more CPU than the same request over aiohttp (``benchmarks/bot_figures.py``); a burst of
replies is sent from one thread under the GIL, so that is time every other answer waits. The semantics follow
python-telegram-bot's own transport: parameters as form fields (JSON-encoded values), files as multipart,
``TimedOut`` on a timeout and ``NetworkError`` on any other failure of the connection.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

# python-telegram-bot's own defaults for its httpx transport (a ``DefaultValue`` argument means "the transport's")
DEFAULTS = {"connect": 5.0, "read": 5.0, "write": 5.0, "pool": 1.0}
MEDIA_WRITE = 20.0


class AiohttpRequest(BaseRequest):
    """One ``aiohttp.ClientSession`` (keep-alive, at most ``connection_pool_size`` connections), made on
    ``initialize`` inside the running loop and closed on ``shutdown``."""

    def __init__(self, connection_pool_size: int = 1, read_timeout: float | None = DEFAULTS["read"],
                 write_timeout: float | None = DEFAULTS["write"], connect_timeout: float | None = DEFAULTS["connect"],
                 pool_timeout: float | None = DEFAULTS["pool"]) -> None:
        self._size = max(1, connection_pool_size)
        self._read, self._write, self._connect, self._pool = read_timeout, write_timeout, connect_timeout, pool_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._size, enable_cleanup_closed=True),
                headers={"User-Agent": self.USER_AGENT}, auto_decompress=True)

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         read_timeout: Any = BaseRequest.DEFAULT_NONE, write_timeout: Any = BaseRequest.DEFAULT_NONE,
                         connect_timeout: Any = BaseRequest.DEFAULT_NONE,
                         pool_timeout: Any = BaseRequest.DEFAULT_NONE) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data and request_data.contains_files else None
        fields = request_data.json_parameters if request_data else None
        read = self._read if isinstance(read_timeout, DefaultValue) else read_timeout
        connect = self._connect if isinstance(connect_timeout, DefaultValue) else connect_timeout
        pool = self._pool if isinstance(pool_timeout, DefaultValue) else pool_timeout
        write = ((max(MEDIA_WRITE, self._write or 0.0) if files else self._write)
                 if isinstance(write_timeout, DefaultValue) else write_timeout)
        # aiohttp has no separate write timeout: the whole request may take the read and write budgets together
        total = None if read is None or write is None else read + write + (connect or 0.0) + (pool or 0.0)
        timeout = aiohttp.ClientTimeout(total=total, connect=None if pool is None or connect is None else pool + connect,
                                        sock_connect=connect, sock_read=read)
        body: Any = None
        if files:
            form = aiohttp.FormData(quote_fields=False)  # file names as UTF-8, as Telegram and httpx have them
            for name, value in (fields or {}).items():
                form.add_field(name, value)
            for name, part in files.items():
                if isinstance(part, tuple):
                    filename, content, *mime = part
                    form.add_field(name, content, filename=filename,
                                   content_type=mime[0] if mime else "application/octet-stream")
                else:
                    form.add_field(name, part)
            body = form
        elif fields:
            body = fields
        try:
            async with self._session.request(method, url, data=body, timeout=timeout) as res:
                return res.status, await res.read()
        except TimeoutError as err:
            raise TimedOut from err
        except aiohttp.ClientError as err:
            raise NetworkError(f"aiohttp.{err.__class__.__name__}: {err}") from err
