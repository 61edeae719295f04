"""Faults of the machine the bot runs on, turned into one line for a person.

A read-only or full data directory, a database file that cannot be opened: these surface as
``OSError``, SQLite's ``OperationalError`` or Chroma's ``InternalError`` deep inside a library.
:func:`explain` walks an exception's chain and, when it recognises such a fault, returns a
:class:`~bot.errors.UserError` (exit 2: the configuration points somewhere unusable — a read-only
or inaccessible directory) or a :class:`~bot.errors.Failure` (exit 1: the disk is full), whose
message says what is wrong, where, and what to do. Anything else is ``None``.

:func:`check_writable` is the preflight the bot and the shell run at start, so that such a
fault is one line before anything else happens rather than an error on the first question.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from collections.abc import Iterator
from pathlib import Path

from bot.errors import Failure, UserError

READ_ONLY = (errno.EROFS,)
NO_ACCESS = (errno.EACCES, errno.EPERM)
FULL = (errno.ENOSPC, errno.EDQUOT)

# What SQLite (through Python or through Chroma's Rust bindings) says for the same faults.
_FULL_RE = re.compile(r"database or disk is full|no space left on device|\(code: 13\)", re.I)
_RO_RE = re.compile(r"readonly database|read-only file system|\(code: 8\)", re.I)
_NO_OPEN_RE = re.compile(r"unable to open database file|\(code: 14\)", re.I)
_NO_ACCESS_RE = re.compile(r"permission denied", re.I)
_TEXT_SOURCES = ("sqlite3", "chromadb", "chromadb_rust_bindings")  # whose messages are matched by text


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)  # SQLAlchemy keeps the driver's exception here
        if isinstance(orig, BaseException) and id(orig) not in seen:
            seen.add(id(orig))
            yield orig
        current = current.__cause__ or current.__context__


def _where(exc: BaseException, fallback: Path | str | None) -> str:
    for e in _chain(exc):
        if isinstance(e, OSError) and e.filename:
            return str(e.filename)
    return str(fallback) if fallback else "the data directory"


def explain(exc: BaseException, data_dir: Path | str | None = None) -> UserError | Failure | None:
    """One line for a read-only, inaccessible or full disk behind ``exc``; None for anything else."""
    for e in _chain(exc):
        if isinstance(e, OSError) and e.errno is not None:
            if e.errno in FULL:
                return full(_where(e, data_dir))
            if e.errno in READ_ONLY:
                return read_only(_where(e, data_dir))
            if e.errno in NO_ACCESS:
                return no_access(_where(e, data_dir))
    for e in _chain(exc):
        if not type(e).__module__.startswith(_TEXT_SOURCES):
            continue  # e.g. PostgreSQL's "permission denied for table" is not about the disk
        text = str(e)
        if _FULL_RE.search(text):
            return full(_where(exc, data_dir))
        if _RO_RE.search(text):
            return read_only(_where(exc, data_dir))
        if _NO_ACCESS_RE.search(text):
            return no_access(_where(exc, data_dir))
        if _NO_OPEN_RE.search(text):
            return UserError(f"cannot open a database file under {_where(exc, data_dir)}: check that the directory "
                             "exists and is writable (DATA_DIR, DATABASE_URL)")
    return None


def read_only(where: str) -> UserError:
    return UserError(f"{where} is on a read-only file system: make it writable, or set DATA_DIR "
                     "(and DATABASE_URL) to a writable directory")


def no_access(where: str) -> UserError:
    return UserError(f"no permission to write {where}: give the bot's user write access, or set DATA_DIR "
                     "(and DATABASE_URL) to a directory it may write")


def full(where: str) -> Failure:
    return Failure(f"no space left on the disk holding {where}: free some space and try again")


def check_writable(directory: Path) -> None:
    """Create ``directory`` if needed and write (then remove) a small probe file in it.

    Raises the :func:`explain` error for a read-only, inaccessible or full directory.
    """
    probe = directory / f".write-probe-{os.getpid()}"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with open(probe, "wb") as fh:
            fh.write(b"\0" * 16384)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        where = f"the data directory {directory} (DATA_DIR)"
        if exc.errno in FULL:
            raise full(where) from None
        if exc.errno in READ_ONLY:
            raise read_only(where) from None
        if exc.errno in NO_ACCESS:
            raise no_access(where) from None
        raise UserError(f"cannot use the data directory {directory}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            probe.unlink(missing_ok=True)
