"""Engine and session factory; SQLite by default (foreign keys on, WAL), PostgreSQL by URL."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class DatabaseError(Exception):
    """The database cannot be reached or migrated; the message is one line for a person.

    ``failure`` is True when it is not a configuration mistake but a fault of the machine (a full disk).
    """

    def __init__(self, message: str, *, failure: bool = False) -> None:
        super().__init__(message)
        self.failure = failure


def _normalise_url(url: str) -> str:
    # Accept the common "postgresql://" and "postgres://" spellings and use psycopg 3.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


_PASSWORD_RE = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")
URL_EXAMPLES = "use e.g. postgresql://user:password@host:5432/dbname or sqlite:///data/consortium-bot.sqlite3"


def hide_password(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for messages and logs)."""
    return _PASSWORD_RE.sub(r"\1***@", url)


def url_problem(url: str) -> str | None:
    """Why ``url`` is not a database URL this program can use (one line, no password), or None."""
    shown = hide_password(url)
    try:
        parsed = make_url(_normalise_url(url))
    except ArgumentError:
        return f"'{shown}' is not a database URL ({URL_EXAMPLES})"
    except ValueError:
        port = re.search(r"@[^/]*?:([^/@]*)(?:/|$)", url)
        what = f"the port '{port.group(1)}' is not a number" if port else "it cannot be parsed"
        return f"'{shown}' is not a valid database URL: {what} ({URL_EXAMPLES})"
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        return f"'{shown}': the {backend!r} database is not supported (use PostgreSQL or SQLite)"
    if parsed.port is not None and not 0 < parsed.port < 65536:
        return f"'{shown}': the port {parsed.port} is out of range (1-65535)"
    return None


def make_engine(url: str, **kwargs: Any) -> Engine:
    problem = url_problem(url)
    if problem is not None:
        raise DatabaseError(f"DATABASE_URL: {problem}")
    url = _normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if db and db != ":memory:":
            Path(db).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    try:
        return create_engine(url, **kwargs)
    except (ArgumentError, ImportError) as exc:
        raise DatabaseError(f"cannot use DATABASE_URL {parsed.render_as_string(hide_password=True)}: {exc}") from exc


def check_connection(engine: Engine) -> None:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except (OperationalError, SQLAlchemyError, OSError) as exc:
        where = engine.url.render_as_string(hide_password=True)
        cause = str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc) else type(exc).__name__
        hint = _sqlite_hint(engine) if engine.dialect.name == "sqlite" else None
        if hint is not None:
            raise DatabaseError(f"cannot open the SQLite database {where}: {hint[0]}", failure=hint[1]) from None
        raise DatabaseError(f"cannot reach the database at {where}: {cause}") from None


def _sqlite_hint(engine: Engine) -> tuple[str, bool] | None:
    """Why a SQLite file cannot be opened when its directory tells (read-only, no permission, full),
    and whether that is a fault of the machine (True) rather than of the configuration."""
    import os

    db = engine.url.database
    if not db or db == ":memory:":
        return None
    folder = Path(db).resolve().parent
    try:
        st = os.statvfs(folder)
    except OSError:
        return f"its directory {folder} does not exist or cannot be read", False
    if st.f_flag & os.ST_RDONLY:
        return (f"its directory {folder} is on a read-only file system (SQLite needs to write there; "
                "set DATA_DIR or DATABASE_URL to a writable place)"), False
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"no permission to write its directory {folder} (SQLite needs to write there)", False
    if st.f_bavail * st.f_frsize < 64 * 1024:
        return f"no space left on the disk holding {folder}: free some space and try again", True
    return None


def check_schema(engine: Engine, cfg: Any | None = None) -> None:
    """Refuse a schema this code does not manage: a newer (unknown) revision, or tables without Alembic."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import inspect

    import storage.models  # noqa: F401  (registers every table on the metadata)
    from storage.base import Base

    with engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
        tables = set(inspect(conn).get_table_names())
    script = ScriptDirectory.from_config(cfg or _alembic_config())
    known = {rev.revision for rev in script.walk_revisions()}
    where = engine.url.render_as_string(hide_password=True)
    unknown = sorted(current - known)
    if unknown:
        newest = ", ".join(script.get_heads())
        raise DatabaseError(
            f"the database at {where} is at schema revision {', '.join(unknown)}, which this version of "
            f"consortium-bot does not know (its newest is {newest}): a newer version migrated it — run that "
            "version, or point DATABASE_URL at another database")
    ours = sorted(tables & set(Base.metadata.tables))
    if not current and ours:
        raise DatabaseError(
            f"the database at {where} has consortium-bot tables ({', '.join(ours[:3])}"
            f"{', …' if len(ours) > 3 else ''}) but no alembic_version: it was not created by "
            "'consortium-bot db upgrade', so it will not be migrated — use an empty database, or restore "
            "a backup made by this program")


def _alembic_config() -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def upgrade(engine: Engine) -> None:
    """Create or migrate the schema to the newest Alembic revision."""
    from alembic import command

    check_connection(engine)
    cfg = _alembic_config()
    check_schema(engine, cfg)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")


@dataclass
class Database:
    engine: Engine

    def __post_init__(self) -> None:
        self._factory = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite allows one writer; its busy handler sleeps in coarse steps, so threads of this
        # process take turns on a lock instead (other processes still rely on busy_timeout).
        self._lock: threading.RLock | None = threading.RLock() if self.dialect == "sqlite" else None

    @classmethod
    def from_url(cls, url: str, migrate: bool = True) -> Database:
        db = cls(make_engine(url))
        if migrate:
            upgrade(db.engine)
        else:
            check_connection(db.engine)
            check_schema(db.engine)
        return db

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error."""
        if self._lock is None:
            with self._factory() as s, s.begin():
                yield s
            return
        with self._lock, self._factory() as s, s.begin():
            yield s

    def dispose(self) -> None:
        self.engine.dispose()


@contextmanager
def savepoint(s: Session) -> Iterator[None]:
    """A SAVEPOINT in ``s``'s transaction: an exception in the block rolls back only what the block did
    (and goes on to the caller); the rest of the transaction stays and commits with it.

    :func:`make_engine` keeps pysqlite's own transaction handling, which sends BEGIN only before the
    first INSERT/UPDATE/DELETE. A SAVEPOINT before that would open a transaction of its own that its
    RELEASE commits at once (an outer rollback would not undo it), so on SQLite the transaction is
    begun here first when the driver has not begun it yet.
    """
    if s.get_bind().dialect.name == "sqlite":
        conn = s.connection()
        if not getattr(conn.connection.dbapi_connection, "in_transaction", True):
            conn.exec_driver_sql("BEGIN")
    with s.begin_nested():
        yield
