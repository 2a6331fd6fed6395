"""Whether a host's state directory and configuration database can be used, in an operator's words.

``ldmd`` asks before it opens anything for writing: a database it cannot read as a whole is
never opened read-write (SQLite would happily add tables to a damaged file, and an empty file
would become a freshly configured host), and a state directory it cannot write or does not
own is refused before the lock file, the log or the host key are created in it.
``ldmd --check`` prints the full report; nothing here writes to the store.
"""

from __future__ import annotations

import os
import pwd
import sqlite3
import stat
from pathlib import Path
from urllib.parse import quote

import attrs

from ldtui.core.errors import LdmError

SQLITE_HEADER = b"SQLite format 3\x00"
DATABASE_NAME = "ldom.db"
DATABASE_COMPANIONS = ("-wal", "-shm")
_CHECK_LINES = 20
"""Lines of SQLite's integrity report shown; the rest is counted, not printed."""


@attrs.frozen
class DatabaseReport:
    """What a read-only look at the configuration database found."""

    path: Path
    exists: bool
    problems: tuple[str, ...] = ()
    """SQLite's own words (or ours, for files SQLite cannot open at all); empty when sound."""
    counts: tuple[tuple[str, int], ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


def _owner(uid: int) -> str:
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def state_dir_problem(state: Path) -> str | None:
    """One line saying why ``ldmd`` cannot keep its state in ``state``, or None."""
    try:
        st = state.stat()
    except OSError as e:
        return f"{state}: {e.strerror}"
    if not stat.S_ISDIR(st.st_mode):
        return f"{state}: the state directory is not a directory"
    me = os.geteuid()
    if st.st_uid != me:
        return (f"{state}: the state directory belongs to {_owner(st.st_uid)}, not to {_owner(me)} that ldmd "
                "runs as; chown it to that user or run ldmd as its owner")
    if not st.st_mode & stat.S_IWUSR:
        return (f"{state}: the state directory is read-only (mode {stat.S_IMODE(st.st_mode):04o}); "
                "ldmd writes its database, runtimes and log there: chmod u+w it")
    probe = state / f".ldmd-write-test-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as e:
        return f"{state}: ldmd cannot write in the state directory ({e.strerror})"
    os.close(fd)
    probe.unlink()
    for name in (DATABASE_NAME, *(DATABASE_NAME + c for c in DATABASE_COMPANIONS)):
        path = state / name
        try:
            fst = path.stat()
        except FileNotFoundError:
            continue
        except OSError as e:
            return f"{path}: {e.strerror}"
        if fst.st_uid != me:
            return (f"{path}: belongs to {_owner(fst.st_uid)}, not to {_owner(me)} that ldmd runs as; "
                    "chown it to that user")
        if not fst.st_mode & stat.S_IWUSR or not os.access(path, os.R_OK | os.W_OK):
            return f"{path}: ldmd cannot write the configuration database (mode {stat.S_IMODE(fst.st_mode):04o})"
    return None


def _read_only(path: Path) -> sqlite3.Connection:
    # Without a write-ahead log there is nothing but the file to read, and "immutable" keeps
    # SQLite from creating the log's companion files beside it; with one, the log must be read.
    wal = path.with_name(path.name + "-wal").exists()
    mode = "mode=ro" if wal else "immutable=1"
    return sqlite3.connect(f"file:{quote(str(path))}?{mode}", uri=True, isolation_level=None,
                           check_same_thread=False)


def inspect_database(path: Path, *, thorough: bool = False) -> DatabaseReport:
    """Look at the database without changing it: the header, then SQLite's integrity check
    (``quick_check`` at every start, the full ``integrity_check`` when ``thorough``)."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return DatabaseReport(path, exists=False)
    except OSError as e:
        return DatabaseReport(path, exists=True, problems=(e.strerror or str(e),))
    if size == 0:
        wal = path.with_name(path.name + "-wal")
        if not wal.exists() or wal.stat().st_size == 0:
            return DatabaseReport(path, exists=True, problems=(
                "the file is empty (0 bytes): it was truncated, or ldmd stopped while creating it",))
    try:
        with open(path, "rb") as f:
            head = f.read(len(SQLITE_HEADER))
    except OSError as e:
        return DatabaseReport(path, exists=True, problems=(e.strerror or str(e),))
    if size and head != SQLITE_HEADER:
        return DatabaseReport(path, exists=True, problems=(
            f"the file is not an SQLite database (it starts with {head[:8]!r})",))
    try:
        db = _read_only(path)
    except sqlite3.Error as e:
        return DatabaseReport(path, exists=True, problems=(str(e),))
    try:
        rows = db.execute("PRAGMA integrity_check" if thorough else "PRAGMA quick_check").fetchall()
        # SQLite heads a report with "*** in database main ***" and may pack several findings
        # into one row: one finding a line, the heading dropped.
        found = [line for r in rows for line in str(r[0]).splitlines()
                 if line.strip() and not line.startswith("*** in database")]
        if found != ["ok"]:
            shown = found[:_CHECK_LINES]
            if len(found) > _CHECK_LINES:
                shown.append(f"... and {len(found) - _CHECK_LINES} more")
            return DatabaseReport(path, exists=True, problems=tuple(shown))
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and "meta" not in tables:
            return DatabaseReport(path, exists=True, problems=(
                "it is an SQLite database but not an ldmd configuration (no meta table; it has "
                + ", ".join(sorted(tables)) + ")",))
        counts = tuple((t, db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0])
                       for t in ("domains", "services", "users", "journal", "migrations") if t in tables)
        return DatabaseReport(path, exists=True, counts=counts)
    except sqlite3.Error as e:
        return DatabaseReport(path, exists=True, problems=(str(e),))
    finally:
        db.close()


def ensure_usable(path: Path) -> None:
    """Raise an :class:`LdmError` with one line when the database must not be opened read-write."""
    report = inspect_database(path)
    if report.ok:
        return
    state = Path(path).parent
    raise LdmError("store-damaged",
                   f"{path}: the configuration database is damaged ({report.problems[0]}); ldmd has not "
                   f"changed it and will not start on it: run 'ldmd --check --state {state}' for what "
                   "is wrong and how to recover")


_NOUNS = {"domains": ("domain", "domains"), "services": ("virtual service", "virtual services"),
          "users": ("user", "users"), "journal": ("migration in the journal", "migrations in the journal"),
          "migrations": ("finished migration", "finished migrations")}


def check_report(state: Path) -> tuple[int, list[str]]:
    """What ``ldmd --check --state DIR`` prints, and its exit status (0 sound, 1 not)."""
    state = Path(state)
    lines: list[str] = []
    problem = state_dir_problem(state) if state.exists() else f"{state}: no such state directory"
    if problem:
        lines.append(f"State directory: {problem}")
    else:
        lines.append(f"State directory {state}: ok (owned by {_owner(state.stat().st_uid)}, writable)")
    db = state / DATABASE_NAME
    report = inspect_database(db, thorough=True) if state.is_dir() else DatabaseReport(db, exists=False)
    if not report.exists:
        lines.append(f"Configuration database {db}: none yet (ldmd creates it, and configures the host "
                     "from its configuration file, at its first start)")
    elif report.ok:
        told = ", ".join(f"{n} {_NOUNS[t][n != 1]}" for t, n in report.counts)
        lines.append(f"Configuration database {db}: ok (SQLite integrity check passed; {told or 'empty'})")
    else:
        lines.append(f"Configuration database {db}: damaged; SQLite says:")
        lines += [f"  {p}" for p in report.problems]
        lines += recovery_lines(db)
    return (0 if not problem and report.ok else 1), lines


def recovery_lines(db: Path) -> list[str]:
    companions = " ".join(str(db) + c for c in DATABASE_COMPANIONS if Path(str(db) + c).exists())
    keep = f"cp -p {db} {companions} {db.parent}/damaged/".replace("  ", " ")
    return [
        "How to recover (ldmd never changes a damaged database itself):",
        f"  1. Keep the damaged files: mkdir {db.parent}/damaged && {keep}",
        f"  2. Put back this host's last backup of {db}, or salvage what SQLite can still read:",
        f"       sqlite3 {db.parent}/damaged/{db.name} .recover | sqlite3 {db}.recovered",
        f"     then replace {db} (and remove {db}-wal, {db}-shm) with the salvaged copy",
        f"  3. Run 'ldmd --check --state {db.parent}' again, then start ldmd: at its start it reconciles",
        "     the configuration with the hypervisor's runtime files",
        f"  Removing {db} instead starts the host unconfigured, as from its configuration file:",
        "  the configuration of every domain added since is lost.",
    ]
