"""A small Bot-API-compatible HTTP server for offline end-to-end tests.

It serves ``/bot<TOKEN>/<method>`` like Telegram does, queues updates that tests inject
(messages, button presses, documents, stickers, edits, channel posts), records every call
the bot makes, and can be told to answer a chat with ``403 Forbidden`` or ``429`` (flood
control), so tests run the real python-telegram-bot ``Application`` (or the real
``consortium-bot run`` process) against ``TELEGRAM_API_BASE_URL`` and assert on what
users see.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

BOT_ID = 424242
BOT_USERNAME = "consortium_test_bot"


@dataclass
class Fault:
    """A misbehaviour of the server for one chat (or every chat: ``chat`` None) while it is active:
    for ``seconds`` after it was added (None: no time limit) and at most ``times`` requests (None: no
    limit). Kinds: ``429`` (flood control with ``retry_after``), ``500`` (server error), ``drop_before``
    (the connection is cut before the message is accepted), ``drop_after`` (accepted, then cut — the
    sender cannot know it went out), ``stall`` (accepted, the answer comes ``stall`` seconds late)."""

    kind: str
    chat: int | None = None
    seconds: float | None = None
    times: int | None = None
    retry_after: int = 1
    stall: float = 2.0
    added: float = field(default_factory=time.monotonic)
    hits: int = 0

    def active(self, chat: int) -> bool:
        if self.chat is not None and self.chat != chat:
            return False
        if self.seconds is not None and time.monotonic() - self.added > self.seconds:
            return False
        return self.times is None or self.hits < self.times


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)


def _maybe_json(value: str) -> Any:
    try:
        return json.loads(value)
    except (ValueError, TypeError):
        return value


class FakeBotAPI:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.calls: list[Call] = []
        self.updates: list[dict[str, Any]] = []
        self.blocked: set[int] = set()
        self.flood: dict[int, int] = {}  # chat -> how many sends still answer 429
        self.flood_seconds = 1
        self.files: dict[str, bytes] = {}
        self.drop_requests = 0  # the next N requests are cut off without an answer (a dead network)
        self.valid_token: str | None = None  # when set, any other token gets 401 Unauthorized
        self._cond = threading.Condition()
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}  # (chat, message_id) -> message
        self.faults: list[Fault] = []
        self.delivered: list[tuple[int, str]] = []  # (chat, text) of every message accepted, in order
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                # headers and body are two writes: without this, Nagle + delayed ACK add ~40 ms
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                self._serve()

            def _serve(self) -> None:
                parsed = urllib.parse.urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = parsed.path.strip("/").split("/")
                if len(parts) >= 3 and parts[0] == "file":
                    data = server.files.get("/".join(parts[2:]))
                    self._send(200 if data is not None else 404, data or b"not found", "application/octet-stream")
                    return
                if len(parts) != 2 or not parts[0].startswith("bot"):
                    self._send(404, b'{"ok":false,"error_code":404,"description":"Not Found"}')
                    return
                if server.drop_requests > 0:
                    server.drop_requests -= 1
                    self.close_connection = True
                    self.request.shutdown(socket.SHUT_RDWR)
                    return
                if server.valid_token is not None and parts[0] != f"bot{server.valid_token}":
                    self._send(401, b'{"ok":false,"error_code":401,"description":"Unauthorized"}')
                    return
                params, files = server._parse(self.headers.get("Content-Type", ""), body, parsed.query)
                fault = server._fault(parts[1], params)
                if fault is not None and fault.kind in ("429", "500"):
                    code, desc = (429, "Too Many Requests: retry after") if fault.kind == "429" else \
                        (500, "Internal Server Error")
                    payload: dict[str, Any] = {"ok": False, "error_code": code, "description": desc}
                    if fault.kind == "429":
                        payload["parameters"] = {"retry_after": fault.retry_after}
                    self._send(code, json.dumps(payload).encode())
                    return
                if fault is not None and fault.kind == "drop_before":
                    self.close_connection = True
                    self.request.shutdown(socket.SHUT_RDWR)
                    return
                status, payload = server.dispatch(parts[1], params, files)
                if fault is not None and fault.kind == "drop_after":
                    self.close_connection = True
                    self.request.shutdown(socket.SHUT_RDWR)
                    return
                if fault is not None and fault.kind == "stall":
                    time.sleep(fault.stall)
                self._send(status, json.dumps(payload).encode())

            def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # clients that hang up mid-poll (the bot stopping) are normal here

        self.httpd = Server((host, port), Handler)
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    # -- lifecycle -------------------------------------------------------
    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://{host}:{port}"

    def start(self) -> FakeBotAPI:
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._cond:
            self._cond.notify_all()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> FakeBotAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- faults ------------------------------------------------------------
    def add_fault(self, kind: str, chat: int | None = None, **kw: Any) -> Fault:
        fault = Fault(kind, chat, **kw)
        with self._cond:
            self.faults.append(fault)
        return fault

    def _fault(self, method: str, params: dict[str, Any]) -> Fault | None:
        if method not in ("sendMessage", "sendDocument") or "chat_id" not in params:
            return None
        try:
            chat = int(params["chat_id"])
        except (TypeError, ValueError):
            return None
        with self._cond:
            for fault in self.faults:
                if fault.active(chat):
                    fault.hits += 1
                    return fault
        return None

    # -- request parsing -------------------------------------------------
    @staticmethod
    def _parse(ctype: str, body: bytes, query: str) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]]]:
        params: dict[str, Any] = {k: _maybe_json(v) for k, v in urllib.parse.parse_qsl(query)}
        files: dict[str, tuple[str, bytes]] = {}
        if ctype.startswith("application/json") and body:
            params.update(json.loads(body))
        elif ctype.startswith("application/x-www-form-urlencoded"):
            params.update({k: _maybe_json(v) for k, v in urllib.parse.parse_qsl(body.decode())})
        elif ctype.startswith("multipart/form-data"):
            msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                f"Content-Type: {ctype}\r\n\r\n".encode() + body
            )
            for part in msg.iter_parts():
                name = part.get_param("name", header="content-disposition")
                filename = part.get_filename()
                raw = part.get_payload(decode=True)
                payload = raw if isinstance(raw, bytes) else b""
                if filename is not None:
                    files[str(name)] = (filename, payload)
                else:
                    params[str(name)] = _maybe_json(payload.decode())
        return params, files

    # -- the Bot API ---------------------------------------------------------
    def dispatch(self, method: str, params: dict[str, Any], files: dict[str, tuple[str, bytes]]) -> tuple[int, Any]:
        with self._cond:
            if method != "getUpdates":
                self.calls.append(Call(method, params, files))
                self._cond.notify_all()
        handler = getattr(self, f"api_{method}", None)
        if handler is None:
            return 200, {"ok": True, "result": True}
        result = handler(params, files)
        if isinstance(result, tuple):
            return result
        return 200, {"ok": True, "result": result}

    def _chat_error(self, chat_id: int) -> tuple[int, Any] | None:
        if chat_id in self.blocked:
            return 403, {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}
        if self.flood.get(chat_id, 0) > 0:
            self.flood[chat_id] -= 1
            return 429, {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 1",
                         "parameters": {"retry_after": self.flood_seconds}}
        return None

    def api_getMe(self, params: dict[str, Any], files: Any) -> dict[str, Any]:
        return {"id": BOT_ID, "is_bot": True, "first_name": "Consortium", "username": BOT_USERNAME,
                "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}

    def api_getUpdates(self, params: dict[str, Any], files: Any) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        deadline = time.monotonic() + min(timeout, 2.0)
        with self._cond:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
            while not self.updates and time.monotonic() < deadline:
                self._cond.wait(max(0.0, deadline - time.monotonic()))
            return list(self.updates[:100])

    def _new_message(self, chat_id: int, **fields: Any) -> dict[str, Any]:
        msg = {"message_id": next(self._message_ids), "date": int(time.time()),
               "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
               "from": {"id": BOT_ID, "is_bot": True, "first_name": "Consortium"}, **fields}
        self.messages[(chat_id, msg["message_id"])] = msg
        self.delivered.append((chat_id, str(fields.get("text") or fields.get("caption") or "")))
        return msg

    def api_sendMessage(self, params: dict[str, Any], files: Any) -> Any:
        chat_id = int(params["chat_id"])
        err = self._chat_error(chat_id)
        if err:
            return err
        text = str(params.get("text", ""))
        if not text.strip():
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: message text is empty"}
        if len(text) > 4096:
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: message is too long"}
        fields: dict[str, Any] = {"text": text}
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            fields["reply_markup"] = markup
        return self._new_message(chat_id, **fields)

    def api_sendDocument(self, params: dict[str, Any], files: dict[str, tuple[str, bytes]]) -> Any:
        chat_id = int(params["chat_id"])
        err = self._chat_error(chat_id)
        if err:
            return err
        name, content = files.get("document", ("file", b""))
        file_id = f"doc{len(self.files) + 1}"
        self.files[f"documents/{file_id}"] = content
        return self._new_message(chat_id, document={"file_id": file_id, "file_unique_id": file_id,
                                                    "file_name": name, "file_size": len(content)},
                                 caption=params.get("caption") or "")

    def api_editMessageText(self, params: dict[str, Any], files: Any) -> Any:
        chat_id, mid = int(params["chat_id"]), int(params["message_id"])
        msg = self.messages.get((chat_id, mid))
        if msg is None:
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: message to edit not found"}
        markup = params.get("reply_markup")
        if msg.get("text") == params.get("text") and msg.get("reply_markup") == markup:
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: message is not modified"}
        msg["text"] = params.get("text")
        if isinstance(markup, dict):
            msg["reply_markup"] = markup
        else:
            msg.pop("reply_markup", None)
        return msg

    def api_editMessageReplyMarkup(self, params: dict[str, Any], files: Any) -> Any:
        msg = self.messages.get((int(params["chat_id"]), int(params["message_id"])))
        if msg is None:
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: message to edit not found"}
        msg["reply_markup"] = params.get("reply_markup")
        return msg

    def api_getFile(self, params: dict[str, Any], files: Any) -> Any:
        file_id = str(params["file_id"])
        path = f"documents/{file_id}"
        if path not in self.files:
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: invalid file_id"}
        return {"file_id": file_id, "file_unique_id": file_id, "file_size": len(self.files[path]), "file_path": path}

    # -- what tests do -----------------------------------------------------------
    def _push(self, update: dict[str, Any]) -> int:
        with self._cond:
            update["update_id"] = next(self._update_ids)
            self.updates.append(update)
            self._cond.notify_all()
            return int(update["update_id"])

    @staticmethod
    def _user(user_id: int, first_name: str = "Tester", language_code: str = "zh-hans") -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": language_code}

    def _incoming(self, chat_id: int, user_id: int | None, chat_type: str = "private", **fields: Any) -> dict[str, Any]:
        uid = user_id if user_id is not None else chat_id
        chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat["first_name"] = "Tester"
        else:
            chat["title"] = "A group"
        msg = {"message_id": next(self._message_ids), "date": int(time.time()), "chat": chat, **fields}
        if chat_type != "channel":
            msg["from"] = self._user(uid, language_code=fields.pop("language_code", "zh-hans"))
        return msg

    def send_text(self, chat_id: int, text: str, user_id: int | None = None, chat_type: str = "private",
                  language_code: str = "zh-hans") -> int:
        msg = self._incoming(chat_id, user_id, chat_type, text=text)
        msg["from"]["language_code"] = language_code
        if text.startswith("/"):
            msg["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return self._push({"message": msg})

    def send_sticker(self, chat_id: int) -> int:
        sticker = {"file_id": "stk1", "file_unique_id": "stk1", "type": "regular", "width": 512, "height": 512,
                   "is_animated": False, "is_video": False}
        return self._push({"message": self._incoming(chat_id, None, sticker=sticker)})

    def send_photo(self, chat_id: int) -> int:
        photo = [{"file_id": "ph1", "file_unique_id": "ph1", "width": 90, "height": 90}]
        return self._push({"message": self._incoming(chat_id, None, photo=photo)})

    def send_voice(self, chat_id: int) -> int:
        voice = {"file_id": "vc1", "file_unique_id": "vc1", "duration": 2}
        return self._push({"message": self._incoming(chat_id, None, voice=voice)})

    def send_document(self, chat_id: int, filename: str, content: bytes, user_id: int | None = None,
                      caption: str = "") -> int:
        file_id = f"up{len(self.files) + 1}"
        self.files[f"documents/{file_id}"] = content
        doc = {"file_id": file_id, "file_unique_id": file_id, "file_name": filename, "file_size": len(content)}
        extra = {"caption": caption} if caption else {}
        return self._push({"message": self._incoming(chat_id, user_id, document=doc, **extra)})

    def edit_text(self, chat_id: int, text: str) -> int:
        msg = self._incoming(chat_id, None, text=text, edit_date=int(time.time()))
        return self._push({"edited_message": msg})

    def channel_post(self, chat_id: int, text: str) -> int:
        return self._push({"channel_post": self._incoming(chat_id, None, chat_type="channel", text=text)})

    def press(self, chat_id: int, message_id: int, data: str, user_id: int | None = None) -> int:
        uid = user_id if user_id is not None else chat_id
        msg = self.messages.get((chat_id, message_id)) or {
            "message_id": message_id, "date": int(time.time()), "chat": {"id": chat_id, "type": "private"}}
        query = {"id": str(next(self._update_ids) * 7919), "from": self._user(uid), "chat_instance": str(chat_id),
                 "message": msg, "data": data}
        return self._push({"callback_query": query})

    # -- assertions --------------------------------------------------------------
    def calls_of(self, method: str, chat_id: int | None = None) -> list[Call]:
        with self._cond:
            return [c for c in self.calls if c.method == method
                    and (chat_id is None or int(c.params.get("chat_id", 0)) == chat_id)]

    def sent_texts(self, chat_id: int) -> list[str]:
        return [str(c.params.get("text", "")) for c in self.calls_of("sendMessage", chat_id)]

    def wait_for(self, predicate: Callable[[list[Call]], Any], timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                result = predicate(list(self.calls))
                if result:
                    return result
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out waiting; calls so far: {[c.method for c in self.calls][-20:]}")
                self._cond.wait(remaining)

    def wait_reply(self, chat_id: int | None, after: int = 0, method: str = "sendMessage",
                   timeout: float = 10.0) -> Call:
        """The first ``method`` call to ``chat_id`` (None: any chat) beyond the first ``after`` such calls."""

        def pred(calls: list[Call]) -> Call | None:
            mine = [c for c in calls if c.method == method
                    and (chat_id is None or int(c.params.get("chat_id", 0)) == chat_id)]
            return mine[after] if len(mine) > after else None

        return self.wait_for(pred, timeout)

    def last_message(self, chat_id: int) -> dict[str, Any]:
        mine = [m for (c, _), m in self.messages.items() if c == chat_id]
        return mine[-1]

    @staticmethod
    def buttons(message: dict[str, Any]) -> list[tuple[str, str]]:
        rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
        return [(b["text"], b.get("callback_data", "")) for row in rows for b in row]
