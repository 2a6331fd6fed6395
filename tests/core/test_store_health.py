"""A damaged or unusable store is refused and never changed; ``ldmd --check`` says why (M-5)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from ldtui.core.errors import LdmError
from ldtui.core.model import Domain
from ldtui.core.state_health import check_report, inspect_database, state_dir_problem
from ldtui.core.store import Store


def a_configured_store(state: Path, domains: int = 40) -> Path:
    s = Store(state / "ldom.db")
    with s.transaction():
        s.set_meta("initialized", True)
        for i in range(domains):
            s.save_domain(Domain(name=f"ldg{i}", uuid=f"00000000-0000-0000-0000-{i:012d}"))
    s.close()
    return state / "ldom.db"


def fingerprint(state: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(state.iterdir())}


def test_a_sound_store_is_counted(tmp_path):
    a_configured_store(tmp_path, domains=3)
    code, lines = check_report(tmp_path)
    assert code == 0
    assert lines[0] == f"State directory {tmp_path}: ok (owned by {lines[0].split('owned by ')[1].split(',')[0]}, writable)"
    assert lines[1] == (f"Configuration database {tmp_path}/ldom.db: ok (SQLite integrity check passed; 3 domains, "
                        "0 virtual services, 0 users, 0 migrations in the journal, 0 finished migrations)")


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "overwritten-page", "foreign"])
def test_a_damaged_store_is_refused_and_left_as_it_was(tmp_path, damage):
    db = a_configured_store(tmp_path)
    data = db.read_bytes()
    if damage == "truncated":
        db.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        db.write_bytes(b"this is no database at all\n" * 100)
    elif damage == "empty":
        db.write_bytes(b"")
    elif damage == "overwritten-page":
        page = int.from_bytes(data[16:18], "big")
        db.write_bytes(data[: 2 * page] + os.urandom(page) + data[3 * page:])
    else:
        db.unlink()
        import sqlite3
        other = sqlite3.connect(db)
        other.execute("CREATE TABLE photos (name TEXT)")
        other.commit()
        other.close()
    before = fingerprint(tmp_path)
    with pytest.raises(LdmError) as refused:
        Store(db)
    assert refused.value.code == "store-damaged"
    message = refused.value.message
    assert message.startswith(f"{db}: the configuration database is damaged (")
    assert message.endswith(f"ldmd has not changed it and will not start on it: run 'ldmd --check --state {tmp_path}' "
                            "for what is wrong and how to recover")
    assert "\n" not in message
    code, lines = check_report(tmp_path)
    assert code == 1
    assert lines[1] == f"Configuration database {db}: damaged; SQLite says:"
    assert "How to recover (ldmd never changes a damaged database itself):" in lines
    assert fingerprint(tmp_path) == before, "looking at a damaged store changed it"


def test_an_unfinished_first_start_is_not_mistaken_for_a_host(tmp_path):
    # An empty file would otherwise open as a new database and the host be configured afresh.
    (tmp_path / "ldom.db").write_bytes(b"")
    report = inspect_database(tmp_path / "ldom.db")
    assert not report.ok
    assert report.problems == ("the file is empty (0 bytes): it was truncated, or ldmd stopped while creating it",)


def test_no_store_yet_is_fine(tmp_path):
    assert inspect_database(tmp_path / "ldom.db").ok
    code, lines = check_report(tmp_path)
    assert code == 0
    assert lines[1].endswith("none yet (ldmd creates it, and configures the host from its configuration file, "
                             "at its first start)")


def test_a_read_only_state_directory_is_named(tmp_path):
    state = tmp_path / "st"
    state.mkdir(mode=0o555)
    try:
        assert state_dir_problem(state) == (f"{state}: the state directory is read-only (mode 0555); ldmd writes "
                                            "its database, runtimes and log there: chmod u+w it")
    finally:
        state.chmod(0o755)
    assert state_dir_problem(state) is None
    assert list(state.iterdir()) == [], "the write probe was left behind"


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a directory to another user needs root")
def test_a_state_directory_of_another_user_is_named(tmp_path):
    state = tmp_path / "st"
    state.mkdir()
    os.chown(state, 65534, -1)
    problem = state_dir_problem(state)
    assert problem.startswith(f"{state}: the state directory belongs to ")
    assert "(uid 65534), not to " in problem and problem.endswith("chown it to that user or run ldmd as its owner")


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_a_database_of_another_user_is_named(tmp_path):
    db = a_configured_store(tmp_path, domains=1)
    os.chown(db, 65534, -1)
    assert "ldom.db: belongs to " in state_dir_problem(tmp_path)
