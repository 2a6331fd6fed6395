"""SQLite persistence: every command is one transaction, so a crash loses nothing committed.

Documents are attrs objects stored as JSON through one cattrs converter. The database runs
in WAL mode with ``synchronous=FULL`` so a committed command survives a crash of the
process or the machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import cattrs

from ldtui.core.model import Domain, HostSettings, User, Vcc, Vds, Vsw
from ldtui.core.state_health import ensure_usable

T = TypeVar("T")

converter = cattrs.Converter()
"""The one converter for stored documents (and the wire's JSON payloads)."""

SERVICE_KINDS: dict[str, type] = {"vcc": Vcc, "vsw": Vsw, "vds": Vds}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS domains (name TEXT PRIMARY KEY, uuid TEXT NOT NULL UNIQUE, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS services (kind TEXT NOT NULL, name TEXT NOT NULL, doc TEXT NOT NULL,
                                     PRIMARY KEY (kind, name));
CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS journal (id TEXT PRIMARY KEY, role TEXT NOT NULL, domain TEXT NOT NULL,
                                    phase TEXT NOT NULL, doc TEXT NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS migrations (id TEXT PRIMARY KEY, domain TEXT NOT NULL, finished REAL NOT NULL,
                                       doc TEXT NOT NULL);
"""

RESERVE_BYTES = 4 << 20
"""Room kept beside the database for the commits that undo on a full disk (see ``_keep_reserve``)."""

HISTORY_KEPT = 200
"""Finished migrations a host remembers; the newest of each domain is kept beyond that."""


def dumps(obj: Any) -> str:
    return json.dumps(converter.unstructure(obj), sort_keys=True)


def loads(text: str, cls: type[T]) -> T:
    return converter.structure(json.loads(text), cls)


class Store:
    """The host's configuration database."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        ensure_usable(self.path)
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(_SCHEMA)
        self._depth = 0
        self.reserve = self.path.with_name(self.path.name + "-reserve")
        self._keep_reserve()

    def close(self) -> None:
        self.db.close()

    def _keep_reserve(self) -> None:
        """Keep room for the next commit on a file system that fills up.

        A reserve file of ``RESERVE_BYTES`` sits beside the database. When the free space
        falls below that, the reserve is given up before the transaction begins, so the
        commands that undo (removing a half-received domain, recording a failure) still
        commit on a full disk; it is made again once there is room for it twice over."""
        try:
            st = os.statvfs(self.path.parent)
        except OSError:
            return
        free = st.f_bavail * st.f_frsize
        try:
            if free < RESERVE_BYTES:
                self.reserve.unlink(missing_ok=True)
            elif free > 2 * RESERVE_BYTES and not self.reserve.exists():
                with open(self.reserve, "wb") as f:
                    os.posix_fallocate(f.fileno(), 0, RESERVE_BYTES)
        except OSError:
            with contextlib.suppress(OSError):
                self.reserve.unlink(missing_ok=True)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Nested calls join the outermost transaction; an exception rolls it all back."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._keep_reserve()
        self.db.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        except BaseException:
            self._depth = 0
            self.db.execute("ROLLBACK")
            raise
        self._depth = 0
        self.db.execute("COMMIT")

    # -- meta ------------------------------------------------------------------------------
    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def set_meta(self, key: str, value: Any) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    @property
    def initialized(self) -> bool:
        return bool(self.get_meta("initialized", False))

    def host_settings(self) -> HostSettings:
        raw = self.get_meta("settings")
        return converter.structure(raw, HostSettings) if raw else HostSettings()

    def save_host_settings(self, s: HostSettings) -> None:
        self.set_meta("settings", converter.unstructure(s))

    # -- domains ---------------------------------------------------------------------------
    def domains(self) -> list[Domain]:
        rows = self.db.execute("SELECT doc FROM domains ORDER BY rowid").fetchall()
        return [loads(r[0], Domain) for r in rows]

    def save_domain(self, d: Domain, *, old_name: str | None = None) -> None:
        if old_name and old_name != d.name:
            self.db.execute("DELETE FROM domains WHERE name=?", (old_name,))
        cur = self.db.execute("UPDATE domains SET uuid=?, doc=? WHERE name=?", (d.uuid, dumps(d), d.name))
        if cur.rowcount == 0:
            self.db.execute("INSERT INTO domains (name, uuid, doc) VALUES (?, ?, ?)", (d.name, d.uuid, dumps(d)))

    def delete_domain(self, name: str) -> None:
        self.db.execute("DELETE FROM domains WHERE name=?", (name,))

    # -- services --------------------------------------------------------------------------
    def services(self, kind: str) -> list:
        cls = SERVICE_KINDS[kind]
        rows = self.db.execute("SELECT doc FROM services WHERE kind=? ORDER BY rowid", (kind,)).fetchall()
        return [loads(r[0], cls) for r in rows]

    def save_service(self, kind: str, svc) -> None:
        cur = self.db.execute("UPDATE services SET doc=? WHERE kind=? AND name=?", (dumps(svc), kind, svc.name))
        if cur.rowcount == 0:
            self.db.execute("INSERT INTO services (kind, name, doc) VALUES (?, ?, ?)", (kind, svc.name, dumps(svc)))

    def delete_service(self, kind: str, name: str) -> None:
        self.db.execute("DELETE FROM services WHERE kind=? AND name=?", (kind, name))

    # -- users -----------------------------------------------------------------------------
    def users(self) -> list[User]:
        return [loads(r[0], User) for r in self.db.execute("SELECT doc FROM users ORDER BY name")]

    def user(self, name: str) -> User | None:
        row = self.db.execute("SELECT doc FROM users WHERE name=?", (name,)).fetchone()
        return loads(row[0], User) if row else None

    def save_user(self, u: User) -> None:
        self.db.execute("INSERT OR REPLACE INTO users VALUES (?, ?)", (u.name, dumps(u)))

    # -- migration journal: each migration's phase, so a restart ends in a recoverable state
    def journal_write(self, mig_id: str, role: str, domain: str, phase: str, doc: dict, now: float) -> None:
        self.db.execute("INSERT OR REPLACE INTO journal VALUES (?, ?, ?, ?, ?, ?)",
                        (mig_id, role, domain, phase, json.dumps(doc, sort_keys=True), now))

    def journal_entries(self) -> list[dict]:
        rows = self.db.execute("SELECT id, role, domain, phase, doc, updated FROM journal ORDER BY updated")
        return [{"id": r[0], "role": r[1], "domain": r[2], "phase": r[3], "doc": json.loads(r[4]),
                 "updated": r[5]} for r in rows]

    def journal_delete(self, mig_id: str) -> None:
        self.db.execute("DELETE FROM journal WHERE id=?", (mig_id,))

    # -- finished migrations (what ``ldm list -o status --completed`` reads) ----------------
    def migration_write(self, mig_id: str, domain: str, finished: float, doc: dict) -> None:
        with self.transaction():
            self.db.execute("INSERT OR REPLACE INTO migrations VALUES (?, ?, ?, ?)",
                            (mig_id, domain, finished, json.dumps(doc, sort_keys=True)))
            # Bounded, but never forgetting a domain's newest record: that one is its
            # "last migration" until the domain migrates again.
            self.db.execute(
                "DELETE FROM migrations WHERE id NOT IN (SELECT id FROM migrations ORDER BY finished DESC LIMIT ?)"
                " AND finished < (SELECT MAX(m.finished) FROM migrations m WHERE m.domain = migrations.domain)",
                (HISTORY_KEPT,))

    def migrations(self, limit: int) -> list[dict]:
        """The newest ``limit`` finished migrations, oldest first."""
        rows = self.db.execute("SELECT doc FROM migrations ORDER BY finished DESC, rowid DESC LIMIT ?",
                               (limit,)).fetchall()
        return [json.loads(r[0]) for r in reversed(rows)]

    def last_migration(self, domain: str) -> dict | None:
        row = self.db.execute("SELECT doc FROM migrations WHERE domain=? ORDER BY finished DESC, rowid DESC LIMIT 1",
                              (domain,)).fetchone()
        return json.loads(row[0]) if row else None

    def migrated_domains(self) -> list[str]:
        """Names with a finished migration on record, newest first."""
        rows = self.db.execute("SELECT domain, MAX(finished) AS f FROM migrations GROUP BY domain ORDER BY f DESC")
        return [r[0] for r in rows]
