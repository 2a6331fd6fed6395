"""Real ``ldmd`` processes on loopback, a breakable link between them, and the checks that
say a migration fault ended well (SPEC G-12, G-13, B-3, S-4).

``FaultLab`` starts two hosts of the default lab as ``python -m ldtui.net.daemon``
processes, each in its own state directory. The source reaches the target through a
``LinkProxy`` that runs in this process, so the link can be reset or blackholed; killed
hosts are restarted on the same port and state directory. Everything the checks look at
is what an operator sees: ``ldm list -p``, ``ldm guest-info``, ``ldm list-bindings -p``,
``ldm list-devices -p``, plus the journal table read from the host's database (read-only)
to know which phase a migration reached.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import time
import tomllib
from pathlib import Path

import asyncssh
import tomli_w

from ldtui.core.hostconfig import lab_host_tables
from ldtui.core.migration.errorstate import ErrorAction, TargetReport, assess_error
from ldtui.core.model import Domain
from ldtui.core.store import loads
from ldtui.net.lab import default_lab_file
from ldtui.net.peer import report_from
from ldtui.net.proxy import LinkProxy

PASSWORD = "solaris"
SOURCE, TARGET = "t5440-sys-1", "t5440-sys-2"
DOMAIN = "ldg1"
START_TIMEOUT = 30.0
SETTLE_TIMEOUT = 60.0
KEEPALIVE = "2.0:3"
"""Both ends notice a dead or frozen peer within ~6 s (the machine may be busy with other work);
a phase hold must stay well below that."""
WAIT_TIMEOUT = "10"


class CaseFailure(AssertionError):
    """One check of a fault case did not hold; the message says which and what was seen."""


def check(cond: bool, message: str) -> None:
    if not cond:
        raise CaseFailure(message)


class HostProcess:
    """One ``ldmd`` process: started, killed, restarted on the same port and state."""

    def __init__(self, name: str, root: Path, table: dict, knobs: list[str]) -> None:
        self.name = name
        self.dir = root / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = self.dir / "host.toml"
        table = dict(table)
        table["host"] = dict(table["host"], listen="127.0.0.1", port=0)
        self.config.write_text(tomli_w.dumps(table), encoding="utf-8")
        self.knobs = knobs
        self.port = 0
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def db(self) -> Path:
        return self.dir / "ldom.db"

    async def start(self, *extra: str) -> None:
        port_file = self.dir / "port"
        port_file.unlink(missing_ok=True)
        listen = ["--listen", f"127.0.0.1:{self.port}"] if self.port else []
        out = open(self.dir / "ldmd.out", "ab")
        try:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "ldtui.net.daemon", "--config", str(self.config), "--state", str(self.dir),
                "--port-file", str(port_file), "--peers", str(self.dir / "peers.toml"), *listen, *self.knobs,
                *extra, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out)
        finally:
            out.close()
        deadline = time.monotonic() + START_TIMEOUT
        while not port_file.exists():
            if self.proc.returncode is not None or time.monotonic() > deadline:
                tail = (self.dir / "ldmd.out").read_text(errors="replace").strip().splitlines()[-3:]
                raise RuntimeError(f"ldmd {self.name} did not start: {' | '.join(tail)}")
            await asyncio.sleep(0.05)
        self.port = int(port_file.read_text().strip())

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def kill(self) -> None:
        if self.alive:
            self.proc.send_signal(signal.SIGKILL)
            await asyncio.wait_for(self.proc.wait(), 10)

    async def stop(self) -> None:
        if self.alive:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except TimeoutError:
                await self.kill()

    def journal(self) -> list[tuple[str, str, str]]:
        """(role, domain, phase) rows of the host's migration journal, read-only."""
        if not self.db.exists():
            return []
        try:
            db = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=2)
            try:
                return [tuple(r) for r in db.execute("SELECT role, domain, phase FROM journal")]
            finally:
                db.close()
        except sqlite3.Error:
            return []

    def stored_domain(self, name: str) -> Domain | None:
        db = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=2)
        try:
            row = db.execute("SELECT doc FROM domains WHERE name=?", (name,)).fetchone()
        finally:
            db.close()
        return loads(row[0], Domain) if row else None


async def start_mesh(procs: list[HostProcess], root: Path) -> Path:
    """Start the hosts and make each a peer of every other; returns their known_hosts file."""
    await asyncio.gather(*(p.start() for p in procs))
    known = root / "known_hosts"
    lines = []
    for p in procs:
        key = " ".join((p.dir / "ssh_host_ed25519_key.pub").read_text().split()[:2])
        lines.append(f"{p.name} {key}\n[127.0.0.1]:{p.port} {key}\n")
    known.write_text("".join(lines))
    for p in procs:
        (p.dir / "peers.toml").write_text(tomli_w.dumps({"known_hosts": str(known), "peers": {
            o.name: f"127.0.0.1:{o.port}" for o in procs if o is not p}}))
    return known


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FaultLab:
    """Source and target ``ldmd`` processes; the source's way to the target is a LinkProxy,
    and so is its way to the target's data listener (``data_proxy``): the target listens on
    one port and offers the relay's (a forwarded address, ``[migration] data_address``)."""

    def __init__(self, root: Path, *, page_delay: float = 0.05, batch_pages: int = 16,
                 hold: tuple[str, str, float] | None = None) -> None:
        self.root = root
        lab_file = default_lab_file()
        tables = {t["host"]["name"]: t for t in
                  lab_host_tables(tomllib.loads(lab_file.read_text(encoding="utf-8")), lab_file.name)}
        knobs = ["--page-delay", str(page_delay), "--batch-pages", str(batch_pages),
                 "--keepalive", KEEPALIVE, "--wait-timeout", WAIT_TIMEOUT]
        if os.environ.get("LDTUI_FAULTS_DEBUG"):
            knobs.append("--debug")      # the hosts' ldmd.log at debug level, to study a failure
        self.data_port = free_port()
        self.data_proxy = LinkProxy("127.0.0.1", self.data_port, name=f"{SOURCE}->{TARGET} data")
        self._tables = tables
        self._knobs = knobs
        self.hosts: dict[str, HostProcess] = {}
        self.hold = hold
        self.known_hosts = root / "known_hosts"
        self.proxy: LinkProxy | None = None
        self._conns: dict[str, asyncssh.SSHClientConnection] = {}

    def __getitem__(self, name: str) -> HostProcess:
        return self.hosts[name]

    async def start(self) -> None:
        relay = await self.data_proxy.start()
        target = dict(self._tables[TARGET], migration={"data_ports": f"{self.data_port}-{self.data_port}",
                                                       "data_address": f"127.0.0.1:{relay}"})
        self.hosts = {SOURCE: HostProcess(SOURCE, self.root, self._tables[SOURCE], self._knobs),
                      TARGET: HostProcess(TARGET, self.root, target, self._knobs)}
        for name, h in self.hosts.items():
            extra = []
            if self.hold and self.hold[0] == ("source" if name == SOURCE else "target"):
                extra = ["--hold-phase", f"{self.hold[0]}:{self.hold[1]}:{self.hold[2]}"]
            await h.start(*extra)
        src, tgt = self.hosts[SOURCE], self.hosts[TARGET]
        self.proxy = LinkProxy("127.0.0.1", tgt.port, name=f"{SOURCE}->{TARGET}")
        await self.proxy.start()
        lines = []
        for h in self.hosts.values():
            key = " ".join((h.dir / "ssh_host_ed25519_key.pub").read_text().split()[:2])
            lines.append(f"{h.name} {key}\n[127.0.0.1]:{h.port} {key}\n")
        self.known_hosts.write_text("".join(lines), encoding="utf-8")
        (src.dir / "peers.toml").write_text(tomli_w.dumps(
            {"known_hosts": str(self.known_hosts), "peers": {TARGET: f"127.0.0.1:{self.proxy.port}"}}))
        (tgt.dir / "peers.toml").write_text(tomli_w.dumps(
            {"known_hosts": str(self.known_hosts), "peers": {SOURCE: f"127.0.0.1:{src.port}"}}))

    async def restart_dead(self) -> list[str]:
        restarted = []
        for h in self.hosts.values():
            if not h.alive:
                self._conns.pop(h.name, None)
                await h.start()
                restarted.append(h.name)
        return restarted

    async def close(self) -> None:
        for c in self._conns.values():
            c.close()
        self._conns.clear()
        if self.proxy:
            await self.proxy.stop()
        await self.data_proxy.stop()
        for h in self.hosts.values():
            await h.stop()

    # -- what an operator types ------------------------------------------------------------
    async def _conn(self, host: str) -> asyncssh.SSHClientConnection:
        conn = self._conns.get(host)
        if conn is None or conn.is_closed():
            conn = await asyncio.wait_for(asyncssh.connect(
                "127.0.0.1", self.hosts[host].port, username="root", password=PASSWORD,
                known_hosts=str(self.known_hosts), client_keys=None, agent_path=None, config=None), 15)
            self._conns[host] = conn
        return conn

    async def ldm(self, host: str, line: str, *, timeout: float = 30.0) -> tuple[int, str, str]:
        """``ssh root@HOST ldm LINE``: (exit status, stdout, stderr)."""
        for attempt in range(2):
            try:
                conn = await self._conn(host)
                done = await asyncio.wait_for(conn.run("ldm " + line, check=False), timeout)
                return done.exit_status, done.stdout, done.stderr
            except (asyncssh.Error, OSError):
                self._conns.pop(host, None)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def rows(self, host: str) -> dict[str, dict[str, str]]:
        """``ldm list -p`` as {name: {field: value}}."""
        code, out, err = await self.ldm(host, "list -p")
        check(code == 0, f"ldm list -p on {host} failed: {err.strip()}")
        rows = {}
        for line in out.splitlines():
            if line.startswith("DOMAIN|"):
                fields = dict(f.split("=", 1) for f in line.split("|")[1:] if "=" in f)
                rows[fields["name"]] = fields
        return rows

    async def guest(self, host: str, name: str = DOMAIN) -> dict[str, str]:
        code, out, err = await self.ldm(host, f"guest-info {name}")
        check(code == 0, f"ldm guest-info {name} on {host} failed: {err.strip()}")
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    async def sections(self, host: str, command: str) -> dict[str, str]:
        """A ``-p`` listing split per domain (``DOMAIN|name=…`` starts a section)."""
        code, out, err = await self.ldm(host, command)
        check(code == 0, f"ldm {command} on {host} failed: {err.strip()}")
        out_sections: dict[str, list[str]] = {}
        current = "_head"
        for line in out.splitlines():
            if line.startswith("DOMAIN|"):
                current = line.split("|")[1].split("=", 1)[1]
            out_sections.setdefault(current, []).append(line)
        return {k: "\n".join(v) for k, v in out_sections.items()}

    async def picture(self) -> dict:
        """Everything the checks compare before and after."""
        pic = {}
        for host in self.hosts:
            pic[host] = {
                "bindings": await self.sections(host, "list-bindings -p"),
                "constraints": await self.sections(host, "list-constraints -p"),
                "devices": (await self.ldm(host, "list-devices -p"))[1],
                "rows": await self.rows(host),
            }
        return pic

    async def wait_phase(self, host: str, role: str, phase: str, timeout: float = 30.0) -> None:
        h = self.hosts[host]
        deadline = time.monotonic() + timeout
        while (role, DOMAIN, phase) not in h.journal():
            if time.monotonic() > deadline:
                raise CaseFailure(f"{host} never journaled {role} phase {phase}")
            await asyncio.sleep(0.01)

    async def wait_progress(self, percent: int, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while True:
            code, out, _ = await self.ldm(SOURCE, f"list -o status -p {DOMAIN}")
            for line in out.splitlines():
                if line.startswith("|op=migration"):
                    fields = dict(f.split("=", 1) for f in line.split("|")[1:] if "=" in f)
                    value = int(fields.get("progress", "0") or 0)
                    if value >= percent:
                        return value
            if time.monotonic() > deadline:
                raise CaseFailure(f"the migration's progress never reached {percent}%")
            await asyncio.sleep(0.05)

    async def settled(self, timeout: float = SETTLE_TIMEOUT) -> None:
        """Neither host shows a migration in progress (``s`` or ``t``); ``e`` may remain.

        Every look on the way also checks that no two hosts run the domain at once.
        """
        deadline = time.monotonic() + timeout
        while True:
            busy = []
            running = []
            for host in self.hosts:
                for name, r in (await self.rows(host)).items():
                    if r.get("flags", "------")[5:6] in ("s", "t"):
                        busy.append(f"{name}@{host}={r['flags']}")
                    if name == DOMAIN and r.get("state") == "active":
                        running.append(host)
            check(len(running) <= 1, f"{DOMAIN} runs on {running} at the same time")
            if not busy:
                return
            if time.monotonic() > deadline:
                raise CaseFailure(f"migration still shown after {timeout:.0f}s: {', '.join(busy)}")
            await asyncio.sleep(0.1)

    async def resolve_errors(self) -> str:
        """Settle an ``e`` on the source with the recovery logic the console's wizard uses."""
        rows = await self.rows(SOURCE)
        row = rows.get(DOMAIN)
        if not row or row.get("flags", "")[5:6] != "e":
            return ""
        source = self.hosts[SOURCE].stored_domain(DOMAIN)
        check(source is not None, f"{DOMAIN} shows e but is not stored on {SOURCE}")
        try:
            raw = await report_from(TARGET, {TARGET: ("127.0.0.1", self.hosts[TARGET].port)}, "root", PASSWORD,
                                    source.migration.peer_domain, known_hosts=self.known_hosts, timeout=10)
            report = TargetReport(**raw)
        except Exception as e:
            report = TargetReport(reachable=False, detail=str(e))
        advice = assess_error(source, report)
        if advice.action is ErrorAction.DESTROY_SOURCE:
            code, _, err = await self.ldm(SOURCE, f"remove-domain {DOMAIN}")
        elif advice.action is ErrorAction.RESTORE_SOURCE:
            code, _, err = await self.ldm(SOURCE, f"cancel-operation migration {DOMAIN}")
        else:
            raise CaseFailure(f"recovery can only wait: {advice.title}")
        check(code == 0, f"recovery action {advice.action.value} failed: {err.strip()}")
        return advice.action.value


class LdmClient:
    """The operator's ``ldm migrate-domain`` as its own process, to kill or hang up."""

    def __init__(self, lab: FaultLab, *, live: bool = False) -> None:
        self.lab = lab
        self.live = live
        self.proc: asyncio.subprocess.Process | None = None
        self.stdout = b""
        self.stderr = b""
        self._comm: asyncio.Task | None = None

    async def start(self) -> None:
        pw = self.lab.root / "target-password"
        fd = os.open(pw, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(PASSWORD + "\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("LDM_")}
        env.update(LDM_PASSWORD=PASSWORD, LDM_KNOWN_HOSTS=str(self.lab.known_hosts), HOME=str(self.lab.root))
        argv = ["-H", f"root@127.0.0.1:{self.lab[SOURCE].port}", "migrate-domain", "-p", str(pw)]
        if self.live:
            argv.append("--live")
        argv += [DOMAIN, TARGET]
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "from ldtui.net.client import main; main()", *argv,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
        self._comm = asyncio.ensure_future(self.proc.communicate())

    def signal(self, sig: int) -> None:
        if self.proc and self.proc.returncode is None:
            self.proc.send_signal(sig)

    async def wait(self, timeout: float = SETTLE_TIMEOUT) -> int:
        try:
            self.stdout, self.stderr = await asyncio.wait_for(asyncio.shield(self._comm), timeout)
        except TimeoutError:
            self.signal(signal.SIGKILL)
            self.stdout, self.stderr = await asyncio.wait_for(self._comm, 10)
            raise CaseFailure(f"ldm migrate-domain did not end within {timeout:.0f}s") from None
        return self.proc.returncode
