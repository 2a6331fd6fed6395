"""Two hosts in one process, their migration engines wired by an in-memory queue.

Every frame goes through the real codec. ``Pair.migrate`` runs a migration one message
boundary at a time and can inject a fault before any boundary: drop the link, crash and
restart either manager (a new Manager on the same state directory, then ``recover``), or
cancel from the source.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

from ldtui.core.errors import LdmError
from ldtui.core.manager import Manager
from ldtui.core.migration import (
    SourceRun, TargetRun, cancel_migration, decode, encode, recover,
)
from ldtui.core.migration.messages import DataChannel, PageBatch
from ldtui.core.migration.source_session import SourceSession
from ldtui.core.migration.target_session import TargetSession
from ldtui.core.model import MigrationRole
from ldtui.hv.hypervisor import RunState
from ldtui.hv.machine import MachineSpec, MemoryRange

G = 1 << 30


class Clock:
    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def machine(hostname: str, **kw) -> MachineSpec:
    kw.setdefault("cores", 4)
    kw.setdefault("strands_per_core", 8)
    kw.setdefault("memory", (MemoryRange(0, 8 * G),))
    return MachineSpec(hostname=hostname, **kw)


class Host:
    """One host: its machine, state directory and (re)startable manager."""

    def __init__(self, root: Path, spec: MachineSpec, clock: Clock) -> None:
        self.spec = spec
        self.dir = root / spec.hostname
        self.clock = clock
        self.manager = Manager(spec, self.dir, clock=clock)

    @classmethod
    def fresh(cls, root: Path, clock: Clock, hostname: str, *, services: dict | None = None, **machine_kw) -> "Host":
        host = cls(root, machine(hostname, **machine_kw), clock)
        host.setup_services(**(services or {}))
        return host

    @property
    def m(self) -> Manager:
        return self.manager

    def setup_services(self, *, volumes=("vol1",), switch="primary-vsw0", vcc=(5000, 5100),
                       vcpus: int = 8, memory: int = 2 * G, io=("pci@400",)) -> None:
        m = self.m
        m.add_user("root", password="solaris")
        m.create_control_domain(vcpus, memory, io=io)
        if vcc:
            m.add_vcc("primary-vcc0", "primary", *vcc)
        m.add_vds("primary-vds0", "primary")
        for vol in volumes:
            m.add_vdsdev(f"/dev/dsk/{vol}", vol, "primary-vds0")
        if switch:
            m.add_vsw(switch, "primary")

    def restart(self) -> list[str]:
        self.manager.close()
        self.manager = Manager(self.spec, self.dir, clock=self.clock)
        return recover(self.manager)

    def running_copies(self, uuid: str) -> int:
        hv = self.m.hv
        return int(hv.has(uuid) and hv.get(uuid).run_state is RunState.RUNNING)

    def names(self) -> list[str]:
        return [d.name for d in self.m.domains()]


def make_guest(host: Host, name: str = "ldg1", *, vcpus: int = 4, memory: int = 1 * G, state: str = "active",
               write_rate: int = 2 << 20, seconds: int = 3, vnet: bool = True, vdisk: bool = True) -> str:
    """A guest domain like the seed's, its memory dirtied by the guest workload."""
    m = host.m
    m.add_domain(name)
    m.add_vcpu(vcpus, name)
    m.add_memory(memory, name)
    if vdisk:
        m.add_vdisk("vdisk1", "vol1", "primary-vds0", name)
    if vnet:
        m.add_vnet("vnet1", "primary-vsw0", name)
    if state in ("bound", "active"):
        m.bind_domain(name)
    if state == "active":
        m.start_domain(name)
        m.set_guest(name, write_rate=write_rate)
        for _ in range(seconds):
            host.clock.advance(1.0)
            m.tick()
        m.set_guest(name, write_rate=0)  # so digests taken before and after agree
    return m.domain(name).uuid


class DataFrame(bytes):
    """A frame that travels on the data connections (``seq`` is its number); plain
    ``bytes`` in the same queue are control frames."""

    seq: int = -1


def data_frame(seq: int, frame: bytes) -> DataFrame:
    f = DataFrame(frame)
    f.seq = seq
    return f


class Pair:
    """A source and a target host and the links between their managers, driven through the
    same sessions ``ldmd`` drives (``SourceSession``/``TargetSession``).

    ``to_target`` holds what the source sent, in order: control frames (``bytes``) and data
    frames (:class:`DataFrame`). By default they cross in that order (as if tunnelled);
    with ``shuffle`` (a ``random.Random``) data frames overtake each other within a window
    and control frames overtake data frames, as independent connections allow.
    ``transport="tunnelled"`` makes the source decline the data connections.
    """

    def __init__(self, source: Host, target: Host, *, between=None, shuffle=None,
                 transport: str = "native", window: int | None = None) -> None:
        self.source = source
        self.target = target
        self.between = between
        """Called after each batch of pages is read: the guest's time passes (live runs)."""
        self.shuffle = shuffle
        self.transport = transport
        self.window = window
        self.to_target: deque[bytes] = deque()
        self.to_source: deque[bytes] = deque()
        self.src: SourceRun | None = None
        self.tgt: TargetRun | None = None
        self.ss: SourceSession | None = None
        self.ts: TargetSession | None = None
        self.steps = 0
        self.trace: list[str] = []

    def _to_source(self, messages) -> None:
        for msg in messages:
            self.to_source.append(encode(msg))

    def _flush_source(self) -> None:
        if self.ss is None:
            return
        for out in self.ss.take_outgoing():
            frame = encode(out.message)
            native = out.data and self.ss.transport == "native"
            self.to_target.append(data_frame(out.seq, frame) if native else frame)
            if isinstance(out.message, PageBatch):
                self.src.release_pages(out.message.data)  # the frame holds its own bytes now

    def begin(self, name: str, *, target_name: str | None = None, dry_run: bool = False,
              batch_pages: int = 64, user: str = "root", target_user: str | None = None, live: bool = False,
              downtime_limit_ms: float = 300.0) -> SourceRun:
        self.src = SourceRun(self.source.m, name, target_host=self.target.spec.hostname,
                             target_name=target_name, user=user, dry_run=dry_run, batch_pages=batch_pages,
                             live=live, downtime_limit_ms=downtime_limit_ms)
        self.tgt = TargetRun(self.target.m, user=target_user)
        kw = {"window": self.window} if self.window else {}
        self.ss = SourceSession(self.src, transport=self.transport, **kw)
        self.ts = TargetSession(self.tgt, **({"horizon": self.window} if self.window else {}))
        self.ss.start()
        self._flush_source()
        return self.src

    def _next_to_target(self) -> bytes:
        if self.shuffle is None or len(self.to_target) < 2:
            return self.to_target.popleft()
        horizon = min(len(self.to_target), 8)
        first_control = next((i for i in range(horizon) if not isinstance(self.to_target[i], DataFrame)), None)
        choices = [i for i in range(horizon) if isinstance(self.to_target[i], DataFrame)]
        if first_control is not None:
            choices.append(first_control)
        i = self.shuffle.choice(choices)
        frame = self.to_target[i]
        del self.to_target[i]
        return frame

    def _choose(self) -> str:
        """What happens next: in order, or (``shuffle``) any of what could happen now."""
        can = []
        if self.to_target and self.ts is not None:
            can.append("to_target")
        if self.to_source and self.ss is not None:
            can.append("to_source")
        if self.ss is not None and self.ss.wants_read:
            can.append("read")
        if not can:
            return "idle"
        return self.shuffle.choice(can) if self.shuffle is not None else can[0]

    def step(self) -> bool:
        """Cross one message boundary; False when neither side has anything to do."""
        what = self._choose()
        if what == "to_target":
            frame = self._next_to_target()
            msg = decode(frame)
            self.trace.append(f"→ {type(msg).__name__}")
            if isinstance(frame, DataFrame):
                self._to_source(self.ts.data(frame.seq, msg))
            else:
                self._to_source(self.ts.control(msg))
            if self.ts.wants_listener:
                self._to_source(self.ts.listener_ready(DataChannel(
                    address="127.0.0.1", port=1, streams=1, cipher="aes-256-gcm", secret="00" * 32)))
        elif what == "to_source":
            msg = decode(self.to_source.popleft())
            self.trace.append(f"← {type(msg).__name__}")
            self.ss.received(msg)
            if self.ss.data_channel is not None:
                self.src.reuse_buffers = True
                self.ss.data_connected(1)
            self._flush_source()
        elif what == "read":
            self.trace.append("pump")
            self.ss.begin_read()
            self.ss.read_done(self.ss.read())
            self._flush_source()
            if self.between is not None:
                self.between(self)
        elif self.ts is not None and (acks := self.ts.caught_up()):
            self.trace.append("caught up")
            self._to_source(acks)
        else:
            return False
        self.steps += 1
        return True

    def run(self, *, limit: int = 100_000) -> None:
        for _ in range(limit):
            if not self.step():
                return
        raise AssertionError("migration did not settle")

    # -- faults ----------------------------------------------------------------------------
    def _forget(self) -> None:
        self.to_target.clear()
        self.to_source.clear()
        self.src = self.tgt = self.ss = self.ts = None

    def drop_link(self) -> None:
        if self.ss is not None:
            self.ss.link_lost("Lost connection with the target machine")
        if self.ts is not None:
            self.ts.link_lost()
        self._forget()

    def drop_data(self) -> None:
        """Only the data connections break (the control link stays up)."""
        self.to_target = deque(f for f in self.to_target if not isinstance(f, DataFrame))
        if self.ss is not None:
            self.ss.data_lost("Lost the data connection to the target machine")
            self._flush_source()

    def crash_source(self) -> None:
        if self.ts is not None:
            self.ts.link_lost()
        self._forget()
        self.source.restart()

    def crash_target(self) -> None:
        if self.ss is not None:
            self.ss.link_lost("Lost connection with the target machine")
        self._forget()
        self.target.restart()

    def crash_both(self) -> None:
        """A power cut takes both hosts: neither hears of the other's end, both restart."""
        self._forget()
        self.source.restart()
        self.target.restart()

    def cancel(self, name: str) -> str:
        try:
            cancel_migration(self.source.m, name)  # the session is handed the Abort to send
        except LdmError as e:
            return e.code
        self._flush_source()
        return "cancelled"


def migrate(source: Host, target: Host, name: str = "ldg1", **kw):
    """``ldm migrate-domain [-n] NAME TARGET[:NEW]`` between two in-process hosts; the outcome."""
    p = Pair(source, target)
    p.begin(name, **kw)
    p.run()
    return p.src.outcome


def copies(pair: Pair, uuid: str) -> int:
    return pair.source.running_copies(uuid) + pair.target.running_copies(uuid)


def role_of(host: Host, name: str) -> MigrationRole | None:
    d = next((x for x in host.m.domains() if x.name == name), None)
    return d.migration_role if d else None


def guest_time(seconds: float = 0.01):
    """A ``between`` hook: the source's guests run for ``seconds`` after each batch."""
    def run(pair: Pair) -> None:
        pair.source.clock.advance(seconds)
        pair.source.m.tick()
    return run


def rewrite_pages(pages_per_batch: int = 2, seconds: float = 0.01):
    """A ``between`` hook: time passes and the guest stores the same bytes again into a few
    pages — they are dirty (sent again) but the memory's digest does not change."""
    state = {"next": 0}

    def run(pair: Pair) -> None:
        pair.source.clock.advance(seconds)
        m = pair.source.m
        d = next((x for x in m.domains() if x.name == "ldg1"), None)
        if d is None or not m.hv.has(d.uuid) or m.hv.get(d.uuid).run_state is not RunState.RUNNING:
            return
        mem = m.hv.memory(d.uuid)
        for _ in range(pages_per_batch):
            page = (state["next"] * 7919) % mem.pages
            state["next"] += 1
            mem.write_page(page, mem.read_page(page))
    return run


def run_until_frame(pair: Pair, message_name: str) -> None:
    """Step until the frame named ``message_name`` is the next one to cross."""
    while True:
        nxt = pair.to_target[0] if pair.to_target else (pair.to_source[0] if pair.to_source else None)
        if nxt is not None and f'"type":"{message_name}"'.encode() in nxt[:200]:
            return
        assert pair.step(), f"{message_name} never came"
