"""``ldmd``: run one host — its manager, its hypervisor model and its SSH endpoint.

    ldmd --config HOST.toml --state DIR [--listen ADDR:PORT] [--port-file FILE] [--peers FILE]
         [--socket PATH]
    ldmd --check --state DIR

Test knobs (fault and load tests, demonstrations; an operator never needs them):
``--page-delay SECONDS`` pauses after each batch of ``--batch-pages N`` memory pages so a
migration can be watched and broken in the middle of its memory stream;
``--keepalive SECONDS:COUNT`` and ``--wait-timeout SECONDS`` shorten how long it takes to
notice a dead peer; ``--hold-phase ROLE:PHASE:SECONDS`` freezes the whole process for that
long right after it journals PHASE (role ``source`` or ``target``), so a fault can be
injected exactly at that phase boundary.

The state directory holds the configuration database, the hypervisor's runtime files, the
SSH host key and the log; nothing is written anywhere else. SIGTERM stops it cleanly; a
SIGKILL loses nothing either, because every command is committed to SQLite before it is
answered. A lock on the state directory keeps a second ``ldmd`` off the same host.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import gc
import logging
import os
import signal
import sys
from pathlib import Path

from ldtui.core.errors import LdmError
from ldtui.net.memtrim import limit_arenas

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(state_dir: Path, level: int = logging.INFO) -> None:
    """Log to ``STATE/ldmd.log`` only: a daemon's terminal is nobody's screen."""
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = logging.FileHandler(state_dir / "ldmd.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("asyncssh").setLevel(logging.WARNING)


def lock_state_dir(state_dir: Path):
    """Hold an exclusive lock for the process's life; the kernel drops it if we are killed."""
    f = open(state_dir / "ldmd.lock", "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise LdmError("state-locked", f"{state_dir}: another ldmd is running on this state directory") from None
    f.seek(0)
    f.truncate()
    f.write(f"{os.getpid()}\n")
    f.flush()
    return f


def write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def parse_listen(text: str) -> tuple[str, int]:
    addr, colon, port = text.rpartition(":")
    if not colon or not port.isdigit() or int(port) > 65535:
        raise LdmError("usage", f"--listen: expected ADDRESS:PORT, got {text!r}")
    return (addr.strip("[]") or "127.0.0.1"), int(port)


async def serve(args: argparse.Namespace) -> int:
    from ldtui.core.hostconfig import load_host_config
    from ldtui.net.migrate import install as install_migration
    from ldtui.net.server import Ldmd

    config = load_host_config(args.config)
    state = Path(args.state)
    listen = parse_listen(args.listen) if args.listen else None
    keepalive = parse_keepalive(args.keepalive) if args.keepalive else None
    extra = {"keepalive_interval": keepalive[0], "keepalive_count_max": keepalive[1]} if keepalive else {}
    ldmd = Ldmd(config, state, listen=listen, peers_file=args.peers, **extra)
    options: dict = {}
    if args.page_delay is not None:
        options["page_delay"] = args.page_delay
    if args.batch_pages is not None:
        options["batch_pages"] = args.batch_pages
    if args.wait_timeout is not None:
        options["wait_timeout"] = args.wait_timeout
    if keepalive:
        options["keepalive"] = keepalive
    if args.hold_phase:
        hold_after_phase(ldmd.manager.store, *parse_hold(args.hold_phase))
    install_migration(ldmd, **options)
    try:
        await ldmd.start()
    except OSError as e:
        ldmd.manager.close()
        host, port = ldmd.listen
        raise LdmError("listen", f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    local = None
    if args.socket:
        from ldtui.net.localsock import LocalEndpoint
        local = LocalEndpoint(ldmd, args.socket)
        try:
            await local.start()
        except OSError as e:
            await ldmd.stop()
            raise LdmError("listen", f"cannot listen on {args.socket}: {e.strerror or e}") from None
    if args.port_file:
        write_atomically(Path(args.port_file), f"{ldmd.port}\n")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # What is loaded by now lives as long as the daemon: keep it out of the collector's
    # scans, which otherwise walk all of it again and again while a migration allocates
    # (a measurable share of each side's CPU during a migration: docs/PERFORMANCE.md).
    gc.collect()
    gc.freeze()
    logging.getLogger("ldtui.ldmd").info("pid %d serving %s on port %d", os.getpid(), config.name, ldmd.port)
    await stop.wait()
    if local is not None:
        await local.stop()
    await ldmd.stop()
    return 0


def parse_keepalive(text: str) -> tuple[float, int]:
    seconds, _, count = text.partition(":")
    try:
        value = (float(seconds), int(count or 3))
    except ValueError:
        value = (0.0, 0)
    if value[0] <= 0 or value[1] <= 0:
        raise LdmError("usage", f"--keepalive: expected SECONDS:COUNT, got {text!r}")
    return value


def parse_hold(text: str) -> tuple[str, str, float]:
    role, _, rest = text.partition(":")
    phase, _, seconds = rest.partition(":")
    try:
        hold = float(seconds)
    except ValueError:
        hold = -1.0
    if role not in ("source", "target") or not phase or hold < 0:
        raise LdmError("usage", f"--hold-phase: expected source|target:PHASE:SECONDS, got {text!r}")
    return role, phase, hold


def hold_after_phase(store, role: str, phase: str, seconds: float) -> None:
    """Test knob: freeze the process once, right after the journal records ``phase``.

    Everything of an ``ldmd`` runs on one thread, so a blocking sleep here stops the host
    exactly at that boundary: the phase is committed, nothing after it has happened.
    """
    import time
    write = store.journal_write
    held = []

    def journal_write(mig_id, jrole, domain, jphase, doc, now):
        write(mig_id, jrole, domain, jphase, doc, now)
        if jrole == role and jphase == phase and not held:
            held.append(mig_id)
            logging.getLogger("ldtui.ldmd").warning("holding %.1fs after journaling %s %s", seconds, role, phase)
            time.sleep(seconds)
    store.journal_write = journal_write


def parser() -> argparse.ArgumentParser:
    """``ldmd``'s command line (its man page and shell completion are made from it)."""
    p = argparse.ArgumentParser(prog="ldmd", description="Logical Domains Manager for one simulated host")
    p.add_argument("--config", help="host configuration (TOML); required unless --check")
    p.add_argument("--state", required=True, help="state directory (database, runtimes, host key, log)")
    p.add_argument("--listen", help="ADDRESS:PORT to listen on (overrides the file; port 0 picks one)")
    p.add_argument("--port-file", help="write the port actually listened on to this file")
    p.add_argument("--peers", help="TOML file with [peers] host = \"addr:port\", re-read when it changes")
    p.add_argument("--socket", help="also serve ldm and ldtui-rpc on this unix socket (for ldmd-bridge behind sshd)")
    p.add_argument("--debug", action="store_true", help="log at debug level")
    p.add_argument("--check", action="store_true",
                   help="check the state directory and its configuration database without changing them, say "
                        "what is wrong and how to recover, and exit (0: sound, 1: not)")
    knobs = p.add_argument_group("test knobs (fault and load tests)")
    knobs.add_argument("--page-delay", type=float, help="seconds to pause after each batch of memory pages sent")
    knobs.add_argument("--batch-pages", type=int, help="memory pages per batch")
    knobs.add_argument("--keepalive", help="SECONDS:COUNT of SSH keepalive, for clients and peer links")
    knobs.add_argument("--wait-timeout", type=float, help="longest wait for a peer's next migration message")
    knobs.add_argument("--hold-phase", help="ROLE:PHASE:SECONDS: freeze once after journaling that phase")
    return p


def main(argv: list[str] | None = None) -> None:
    p = parser()
    args = p.parse_args(argv)
    state = Path(args.state)
    if args.check:
        from ldtui.core.state_health import check_report
        code, lines = check_report(state)
        sys.stdout.write("".join(line + "\n" for line in lines))
        raise SystemExit(code)
    if not args.config:
        p.error("the following arguments are required: --config")
    try:
        state.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        sys.stderr.write(f"ldmd: {state}: {e.strerror}\n")
        raise SystemExit(2)
    from ldtui.core.state_health import DATABASE_NAME, ensure_usable, state_dir_problem
    problem = state_dir_problem(state)
    if problem:
        # Refused before the lock, the log or the host key are written into it.
        sys.stderr.write(f"ldmd: {problem}\n")
        raise SystemExit(2)
    try:
        ensure_usable(state / DATABASE_NAME)
    except LdmError as e:
        sys.stderr.write(f"ldmd: {e.message}\n")
        raise SystemExit(2)
    try:
        lock = lock_state_dir(state)
    except LdmError as e:
        # Not our state directory to log into: the running ldmd owns its log.
        sys.stderr.write(f"ldmd: {e.message}\n")
        raise SystemExit(2)
    setup_logging(state, logging.DEBUG if args.debug else logging.INFO)
    limit_arenas()  # before any thread exists
    try:
        code = asyncio.run(serve(args))
    except LdmError as e:
        logging.getLogger("ldtui.ldmd").error("%s", e.message)
        sys.stderr.write(f"ldmd: {e.message}\n")
        raise SystemExit(2)
    lock.close()
    raise SystemExit(code)


if __name__ == "__main__":
    main()
