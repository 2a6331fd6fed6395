"""The fault matrix: every fault at every phase boundary of a migration (SPEC G-12, G-13, B-3).

A case is (mode, point, fault). ``point`` says where the fault strikes: right after one side
journaled a phase (that host is frozen there by ``ldmd --hold-phase``), or in the middle of
the memory stream (progress seen by ``ldm list -o status -p``). ``fault`` is what happens
then. ``run_case`` returns what was seen and raises :class:`CaseFailure` when a promise was
broken:

* never two runnable copies, at any time after the fault;
* never zero copies unless the source shows ``e`` with its memory intact;
* once every ``e`` is resolved with the recovery logic (``assess_error``): exactly one copy,
  running, its memory digest equal to the one taken before the migration (a guest writing
  nothing), or its counter not behind (a guest that writes);
* no orphan target domain; every other domain's constraints and bindings unchanged on both
  hosts; free resources as before when the domain stayed;
* the outcome is the one the specification gives for that fault and phase.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import signal
import tempfile
import time
from pathlib import Path

import attrs

from tests.faults.harness import DOMAIN, SOURCE, TARGET, CaseFailure, FaultLab, LdmClient, check

HOLD_SECONDS = 1.0
MIDSTREAM_PERCENT = 40

POINTS: tuple[tuple[str, str | None, str | None], ...] = (
    # (point name, host side that journals it, journal phase); mid-stream has no journal phase
    ("source:check", "source", "check"),
    ("target:prepare", "target", "prepare"),
    ("source:prepare", "source", "prepare"),
    ("source:precopy", "source", "precopy"),
    ("source:transfer", "source", "transfer"),
    ("target:transfer", "target", "transfer"),
    ("mid-stream", None, None),
    ("target:ready", "target", "ready"),
    ("source:go_sent", "source", "go_sent"),
    ("target:go", "target", "go"),
    ("target:done", "target", "done"),
)
POINT_NAMES = tuple(p[0] for p in POINTS)
LIVE_ONLY = frozenset({"source:precopy"})
"""Pre-copy rounds (B-1) run only in a live migration; a warm one never journals them."""


def points_of(mode: str) -> tuple[str, ...]:
    return tuple(p for p in POINT_NAMES if mode == "live" or p not in LIVE_ONLY)
FAULTS = ("kill-source", "kill-target", "cut", "blackhole", "cut-data", "blackhole-data", "kill-ldm", "hup-ldm",
          "cancel-source", "cancel-target")
FREEZES = ("stop-source", "stop-target")
"""A host frozen with SIGSTOP for ``FREEZE_SECONDS``, then SIGCONT: to its peer it is dead
(keepalive and every wait time out long before it thaws). Not in the default matrix (a
minute a case); ``--fault stop-target`` runs them."""
FREEZE_SECONDS = 60.0
DATA_FAULTS = ("cut-data", "blackhole-data")
"""Faults of the data connections only; the SSH control link stays up (B-5)."""
BEFORE_DATA = ("source:check", "target:prepare")
"""Points before the data connections are opened: a data fault there strikes nothing (a
blackhole makes the connections that follow fail, and the source tunnels instead)."""
PAST_DATA = ("target:ready", "source:go_sent")
"""Points after every data message was written on the target."""
MODES = ("warm", "live")
AFTER_GO = ("target:go", "target:done")


def expected_outcome(point: str, fault: str, mode: str = "warm") -> tuple[str, ...]:
    """Where the domain may end up: ``stayed`` on the source or ``moved`` to the target.

    Before the GO nothing is committed: every fault that ends the migration rolls it back.
    A hang-up or a cancel on the target ends nothing (G-12). A source frozen just after it
    journaled ``go_sent`` still sends the GO when it thaws, unless it died or its link did.
    Live, the runtime image is the last data message: when the target journals
    ``transfer`` the data streams carry only its last acknowledgements, which the fault
    (injected once the journal shows the phase, up to 10 ms later) may or may not catch.
    """
    if fault in ("hup-ldm", "cancel-target") or point in AFTER_GO:
        return ("moved",)
    if fault in FREEZES and point == "source:go_sent":
        # A frozen target never confirms: the source ends in e, and recovery finds the
        # target holding the domain it resumed after it thawed, or not.
        return ("stayed", "moved") if fault == "stop-target" else ("stayed",)
    if fault in DATA_FAULTS:
        if mode == "live" and point == "target:transfer":
            return ("stayed", "moved")
        return ("moved",) if point in BEFORE_DATA + PAST_DATA else ("stayed",)
    if point == "source:go_sent":
        return ("moved",) if fault in ("kill-ldm", "cancel-source") else ("stayed",)
    return ("stayed",)


@attrs.define
class CaseResult:
    mode: str
    point: str
    fault: str
    ok: bool = False
    outcome: str = ""
    recovery: str = ""
    seconds: float = 0.0
    error: str = ""
    skipped: str = ""
    writes: bool = False
    kept: str = ""
    """Where a failed case's state and logs were left."""


_VOLATILE = re.compile(r"\|(util|uptime)=[^|\n]*")


def _norm(text: str) -> str:
    return _VOLATILE.sub("", text)


def _copies(rows_by_host: dict) -> dict[str, dict]:
    return {h: rows[DOMAIN] for h, rows in rows_by_host.items() if DOMAIN in rows}


def _check_copies(rows_by_host: dict, when: str) -> None:
    copies = _copies(rows_by_host)
    running = [h for h, r in copies.items() if r["state"] == "active"]
    check(len(running) <= 1, f"{when}: two runnable copies of {DOMAIN}: {running}")
    if not running:
        src = copies.get(SOURCE)
        check(src is not None and src["flags"][5:6] == "e",
              f"{when}: no running copy and no error state on {SOURCE}: {copies}")


async def _inject(lab: FaultLab, client: LdmClient, fault: str) -> str:
    """Do the fault; returns the text of a cancel's answer (empty otherwise)."""
    if fault == "kill-source":
        await lab[SOURCE].kill()
    elif fault == "kill-target":
        await lab[TARGET].kill()
    elif fault in FREEZES:
        host = lab[SOURCE if fault == "stop-source" else TARGET]
        host.proc.send_signal(signal.SIGSTOP)
        try:
            await asyncio.sleep(FREEZE_SECONDS)
        finally:
            host.proc.send_signal(signal.SIGCONT)
    elif fault == "cut":
        lab.proxy.cut()
    elif fault == "blackhole":
        lab.proxy.blackhole()
    elif fault == "cut-data":
        lab.data_proxy.cut()
    elif fault == "blackhole-data":
        lab.data_proxy.blackhole()
    elif fault == "kill-ldm":
        client.signal(signal.SIGKILL)
    elif fault == "hup-ldm":
        client.signal(signal.SIGHUP)
    elif fault in ("cancel-source", "cancel-target"):
        host = SOURCE if fault == "cancel-source" else TARGET
        code, out, err = await lab.ldm(host, f"cancel-operation migration {DOMAIN}", timeout=30)
        return f"{code}:{err.strip()}"
    else:
        raise ValueError(fault)
    return ""


async def run_case(root: Path, mode: str, point: str, fault: str, *, writes: bool = False) -> CaseResult:
    result = CaseResult(mode, point, fault, writes=writes)
    started = time.monotonic()
    side, phase = next((s, p) for name, s, p in POINTS if name == point)
    lab = FaultLab(root, hold=(side, phase, HOLD_SECONDS) if side else None)
    try:
        await lab.start()
        await _run(lab, result, mode, point, fault, writes)
        result.ok = not result.skipped
    except CaseFailure as e:
        result.error = str(e)
    except Exception as e:          # the harness itself broke: report it as this case's failure
        result.error = f"{type(e).__name__}: {e}"
    finally:
        result.seconds = time.monotonic() - started
        await lab.close()
    return result


async def _run(lab: FaultLab, result: CaseResult, mode: str, point: str, fault: str, writes: bool) -> None:
    # A guest with ~1000 written pages, then quiet (exact digest) or still writing (counter).
    await lab.ldm(SOURCE, f"set-guest write-rate=8M {DOMAIN}")
    await asyncio.sleep(1.0)
    await lab.ldm(SOURCE, f"set-guest write-rate={'256K' if writes else '0'} {DOMAIN}")
    await asyncio.sleep(0.1)
    before = await lab.picture()
    guest_before = await lab.guest(SOURCE)

    client = LdmClient(lab, live=mode == "live")
    await client.start()
    side, phase = next((s, p) for name, s, p in POINTS if name == point)
    reach = asyncio.ensure_future(lab.wait_progress(MIDSTREAM_PERCENT) if side is None else
                                  lab.wait_phase(SOURCE if side == "source" else TARGET, side, phase))
    ended = asyncio.ensure_future(client.wait())
    await asyncio.wait({reach, ended}, return_when=asyncio.FIRST_COMPLETED)
    if not reach.done():
        reach.cancel()
        await asyncio.gather(reach, return_exceptions=True)
        err = client.stderr.decode(errors="replace")
        if mode == "live" and "--live" in err and "not available" in err:
            result.skipped = "live migration is refused by this manager"
            return
        raise CaseFailure(f"the migration ended before {point}: {err.strip()[:200]}")
    reach.result()
    answer = await _inject(lab, client, fault)

    if fault == "blackhole":
        # The partition lasts until both ends have given up on the link (keepalive, S-4).
        await asyncio.sleep(HOLD_SECONDS + 8.0)
        lab.proxy.restore()
    elif fault == "blackhole-data":
        # Until both ends gave up on the data path (every wait has its timeout).
        status_early = await asyncio.wait_for(asyncio.shield(ended), 60)
        lab.data_proxy.restore()
        del status_early
    restarted = await lab.restart_dead()
    status = None
    if fault != "kill-ldm":
        status = await ended
    else:
        ended.cancel()
    err = client.stderr.decode(errors="replace")
    await lab.settled()
    mid = {h: await lab.rows(h) for h in lab.hosts}
    _check_copies(mid, "after the fault")
    copies = _copies(mid)
    if SOURCE in copies and copies[SOURCE]["flags"][5:6] == "e":
        info = await lab.guest(SOURCE)
        if not writes:
            check(info["digest"] == guest_before["digest"], "the source in e lost its memory contents")
    result.recovery = await lab.resolve_errors()
    await lab.settled()
    after = await lab.picture()
    rows = {h: after[h]["rows"] for h in lab.hosts}
    _check_copies(rows, "after recovery")
    copies = _copies(rows)
    check(len(copies) == 1, f"{DOMAIN} should exist on exactly one host, found on {sorted(copies)}")
    (where, row), = copies.items()
    check(row["state"] == "active" and row["flags"][5] == "-",
          f"{DOMAIN} on {where} is {row['state']} {row['flags']}, not running normally")
    result.outcome = "stayed" if where == SOURCE else "moved"
    info = await lab.guest(where)
    check(info["run-state"] == "running", f"{DOMAIN} on {where}: guest is {info['run-state']}")
    if writes:
        check(int(info["counter"]) >= int(guest_before["counter"]),
              f"guest counter went back: {guest_before['counter']} -> {info['counter']}")
    else:
        check(info["digest"] == guest_before["digest"],
              f"memory digest changed: {guest_before['digest']} -> {info['digest']}")
    for h in lab.hosts:
        for name, text in before[h]["constraints"].items():
            if name != DOMAIN:
                check(after[h]["constraints"].get(name) == text, f"constraints of {name} on {h} changed")
        for name, text in before[h]["bindings"].items():
            if name != DOMAIN:
                check(_norm(after[h]["bindings"].get(name, "")) == _norm(text), f"bindings of {name} on {h} changed")
    if result.outcome == "stayed":
        check(_norm(after[SOURCE]["bindings"][DOMAIN]) == _norm(before[SOURCE]["bindings"][DOMAIN]),
              f"bindings of {DOMAIN} on {SOURCE} differ from before the migration")
        for h in lab.hosts:
            check(after[h]["devices"] == before[h]["devices"], f"free resources of {h} differ from before")
    else:
        check(after[TARGET]["constraints"][DOMAIN] == before[SOURCE]["constraints"][DOMAIN],
              f"constraints of {DOMAIN} did not arrive unchanged on {TARGET}")
        check(after[TARGET]["devices"] != before[TARGET]["devices"], f"{TARGET} bound nothing for {DOMAIN}")
    want = expected_outcome(point, fault, mode)
    check(result.outcome in want, f"{DOMAIN} {result.outcome} but should have {' or '.join(want)}"
                                  f" (ldm exit {status}, {err.strip()[:120]!r}, restarted {restarted})")
    if fault == "cancel-target":
        code, _, text = answer.partition(":")
        check(code != "0" and text and "\n" not in text, f"cancel on the target not refused in one line: {answer!r}")
    if fault == "hup-ldm":
        check(status == 0, f"ldm hung up should still end with status 0, got {status}: {err.strip()}")


async def run_cases(cases, *, parallel: int = 1, progress=None) -> list[CaseResult]:
    """Runs ``cases``; the state and logs of a failed case stay in ``result.kept`` for a
    look, those of a passed one are removed (a whole matrix would leave gigabytes)."""
    sem = asyncio.Semaphore(parallel)
    base = Path(tempfile.mkdtemp(prefix="ldtui-faults-"))

    async def one(i: int, case) -> CaseResult:
        async with sem:
            mode, point, fault, *rest = case
            root = base / f"case{i:03d}"
            r = await run_case(root, mode, point, fault, writes=bool(rest and rest[0]))
            if r.ok or r.skipped:
                await asyncio.to_thread(shutil.rmtree, root, True)
            else:
                r.kept = str(root)
            if progress:
                progress(r)
            return r
    try:
        return list(await asyncio.gather(*(one(i, c) for i, c in enumerate(cases))))
    finally:
        with contextlib.suppress(OSError):
            base.rmdir()            # only when every case's directory is gone
