"""The hypervisor: runtimes of bound and active domains.

Each runtime lives in ``<state>/hv/<uuid>/``: ``runtime.json`` (written atomically when it
changes), ``regs`` (the vCPU register file, rewritten in place every tick) and ``memory``
(sparse guest memory). A killed process finds all three as it left them.

Resume is guarded by generation numbers: suspending freezes an image of generation ``g``;
resuming it runs the domain as ``g + 1``. Once an image has been resumed — here or, after a
handoff, elsewhere — it is *consumed* and this hypervisor refuses to resume it again.
"""

from __future__ import annotations

import enum
import itertools
import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import attrs
import cattrs

from ldtui.hv.guest import REGS_SIZE, GuestError, GuestOS, GuestSettings, Registers
from ldtui.hv.machine import MachineSpec
from ldtui.hv.memory import GuestMemory


class HvError(Exception):
    """A hypervisor operation was refused; ``str()`` is the operator-facing reason."""


class RunState(str, enum.Enum):
    STOPPED = "stopped"
    RUNNING = "running"
    SUSPENDED = "suspended"


@attrs.frozen
class MemoryBlock:
    """A block of guest memory: real address ``ra`` backed by physical address ``pa``."""

    ra: int
    pa: int
    size: int


@attrs.define(kw_only=True)
class DomainRuntime:
    """What the hypervisor holds for one bound or active domain."""

    uuid: str
    name: str
    strands: tuple[int, ...]
    blocks: tuple[MemoryBlock, ...]
    run_state: RunState = RunState.STOPPED
    generation: int = 0
    consumed: int = -1
    """The highest image generation already resumed (or handed off); never resumed again."""
    guest: GuestSettings = attrs.Factory(GuestSettings)
    devices: dict = attrs.Factory(dict)
    started_at: float = 0.0
    """Wall-clock time of the last boot, for UPTIME; kept across resume and migration."""
    cpu_dr_disabled: bool = False
    """Set on a migrated-in domain until it reboots: CPU dynamic reconfiguration stays off."""
    throttle: int = 0
    """Percent of its vCPU time taken away from the guest (live migration's auto-converge).
    A host setting: it never travels with the domain."""

    @property
    def memory_size(self) -> int:
        return sum(b.size for b in self.blocks)


@attrs.frozen(kw_only=True)
class RuntimeState:
    """Everything of a suspended domain but its memory pages: what a migration ships first."""

    uuid: str
    generation: int
    regs: bytes
    devices: dict
    guest: GuestSettings
    started_at: float
    vcpus: int


_conv = cattrs.Converter()

_DISCARDED = ".discarded-"
"""Prefix of a destroyed runtime's directory while its files are being removed."""
_discards = itertools.count(1)


class Hypervisor:
    """Owns the runtimes of one machine's domains."""

    def __init__(self, machine: MachineSpec, state_dir: str | os.PathLike[str], *, clock=time.time) -> None:
        self.machine = machine
        self.root = Path(state_dir) / "hv"
        self.root.mkdir(parents=True, exist_ok=True)
        self.clock = clock
        self._rt: dict[str, DomainRuntime] = {}
        self._mem: dict[str, GuestMemory] = {}
        self._regs: dict[str, Registers] = {}
        self._regs_fd: dict[str, int] = {}
        self._guest: dict[str, GuestOS] = {}
        self._last_tick: float | None = None
        self._reclaiming: list[subprocess.Popen] = []
        for d in sorted(self.root.iterdir()):
            if d.name.startswith(_DISCARDED):
                self._reclaim(d)  # a runtime destroyed before a restart: finish giving it back
            elif (d / "runtime.json").exists():
                self._load(d.name)

    # -- persistence -----------------------------------------------------------------------
    def _dir(self, uuid: str) -> Path:
        return self.root / uuid

    def _load(self, uuid: str) -> None:
        raw = json.loads((self._dir(uuid) / "runtime.json").read_text())
        rt = _conv.structure(raw, DomainRuntime)
        self._attach(rt)

    def _attach(self, rt: DomainRuntime) -> None:
        d = self._dir(rt.uuid)
        self._rt[rt.uuid] = rt
        self._mem[rt.uuid] = GuestMemory(d / "memory", rt.memory_size)
        fd = os.open(d / "regs", os.O_RDWR | os.O_CREAT, 0o600)
        raw = os.pread(fd, REGS_SIZE, 0)
        self._regs_fd[rt.uuid] = fd
        self._regs[rt.uuid] = Registers(raw if len(raw) == REGS_SIZE else None)
        self._guest[rt.uuid] = GuestOS(rt.guest)

    def _save(self, rt: DomainRuntime) -> None:
        d = self._dir(rt.uuid)
        tmp = d / "runtime.json.tmp"
        with open(tmp, "w") as f:
            json.dump(_conv.unstructure(rt), f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, d / "runtime.json")

    def _save_regs(self, uuid: str) -> None:
        os.pwrite(self._regs_fd[uuid], self._regs[uuid].pack(), 0)

    def close(self) -> None:
        """Let go of every runtime. Destroyed runtimes' files go on being removed by their
        own processes after this returns; one cut short (the machine went down) is finished
        at the next start."""
        for uuid in list(self._rt):
            self._detach(uuid)
        self._reclaiming = [p for p in self._reclaiming if p.poll() is None]

    def _reclaim(self, path: Path) -> None:
        """Remove ``path`` in a process of its own.

        Not a thread: the kernel lets go of a file only once those of its pages already on
        their way to the disk have arrived, seconds for a guest's memory that was written
        a moment ago, and a thread waiting in that removal would hold up this process's
        exit as well. A process of its own finishes the job after we are gone.
        """
        self._reclaiming = [p for p in self._reclaiming if p.poll() is None]
        try:
            self._reclaiming.append(subprocess.Popen(
                ["rm", "-rf", "--", os.fspath(path)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, close_fds=True))
        except OSError:     # no rm on this system: remove it on a thread after all
            threading.Thread(target=shutil.rmtree, args=(path,), kwargs={"ignore_errors": True},
                             name=f"reclaim-{path.name}", daemon=True).start()

    def _detach(self, uuid: str) -> None:
        self._mem.pop(uuid).close()
        os.close(self._regs_fd.pop(uuid))
        self._regs.pop(uuid)
        self._guest.pop(uuid)
        self._rt.pop(uuid)

    # -- queries ---------------------------------------------------------------------------
    def runtimes(self) -> list[DomainRuntime]:
        return list(self._rt.values())

    def get(self, uuid: str) -> DomainRuntime:
        try:
            return self._rt[uuid]
        except KeyError:
            raise HvError(f"no runtime for domain {uuid}") from None

    def has(self, uuid: str) -> bool:
        return uuid in self._rt

    def memory(self, uuid: str) -> GuestMemory:
        self.get(uuid)
        return self._mem[uuid]

    def registers(self, uuid: str) -> Registers:
        self.get(uuid)
        return self._regs[uuid]

    def counter(self, uuid: str) -> int:
        return self.registers(uuid).counter

    # -- lifecycle -------------------------------------------------------------------------
    def create(self, uuid: str, name: str, strands, blocks, *, guest: GuestSettings | None = None,
               devices: dict | None = None) -> DomainRuntime:
        """A runtime for a newly bound domain: stopped, memory all zeros."""
        if uuid in self._rt:
            raise HvError(f"domain {name} already has a runtime")
        d = self._dir(uuid)
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
        rt = DomainRuntime(uuid=uuid, name=name, strands=tuple(strands), blocks=tuple(blocks),
                           guest=guest or GuestSettings(), devices=dict(devices or {}))
        self._save(rt)
        self._attach(rt)
        return rt

    def destroy(self, uuid: str) -> None:
        """The runtime is gone when this returns (one rename); its memory file is given back
        to the host in the background: tmpfs frees a file's pages one by one, which takes
        long for a large memory (docs/PERFORMANCE.md), and a migrated domain's source copy
        would otherwise hold up the end of the operator's command and every other request for
        that long."""
        if uuid in self._rt:
            self._detach(uuid)
        d = self._dir(uuid)
        if not d.exists():
            return
        gone = self.root / f"{_DISCARDED}{uuid}-{next(_discards)}"
        try:
            os.rename(d, gone)
        except OSError:
            shutil.rmtree(d, ignore_errors=True)
            return
        self._reclaim(gone)

    def update(self, uuid: str, **changes) -> DomainRuntime:
        """Change bindings or settings of a runtime (rename, new strands, guest settings)."""
        rt = self.get(uuid)
        for key, value in changes.items():
            setattr(rt, key, value)
        if "guest" in changes:
            self._guest[uuid] = GuestOS(rt.guest)
        self._save(rt)
        return rt

    def start(self, uuid: str) -> None:
        rt = self.get(uuid)
        if rt.run_state is not RunState.STOPPED:
            raise HvError(f"domain {rt.name} is {rt.run_state.value}, not stopped")
        self._mem[uuid].wipe()
        regs = self._regs[uuid]
        self._guest[uuid].boot(regs)
        self._save_regs(uuid)
        rt.run_state = RunState.RUNNING
        rt.generation += 1
        rt.started_at = self.clock()
        rt.cpu_dr_disabled = False
        rt.devices.setdefault("console", "")
        rt.devices["console"] = (rt.devices["console"] + f"\n{rt.name} console login: ")[-4096:]
        self._save(rt)

    def stop(self, uuid: str) -> None:
        rt = self.get(uuid)
        rt.run_state = RunState.STOPPED
        self._save(rt)

    def suspend(self, uuid: str) -> int:
        """Freeze the domain; returns the generation of the frozen image."""
        rt = self.get(uuid)
        if rt.run_state is RunState.SUSPENDED:
            return rt.generation
        if rt.run_state is not RunState.RUNNING:
            raise HvError(f"domain {rt.name} is not running")
        self._save_regs(uuid)
        self._mem[uuid].flush()
        rt.run_state = RunState.SUSPENDED
        self._save(rt)
        return rt.generation

    def resume(self, uuid: str, generation: int) -> None:
        """Run the suspended image of ``generation``; refused if that image was consumed."""
        rt = self.get(uuid)
        if rt.run_state is not RunState.SUSPENDED:
            raise HvError(f"domain {rt.name} is not suspended")
        if generation != rt.generation:
            raise HvError(f"domain {rt.name} holds image generation {rt.generation}, not {generation}")
        if generation <= rt.consumed:
            raise HvError(f"image generation {generation} of domain {rt.name} has already run")
        rt.consumed = generation
        rt.generation = generation + 1
        rt.run_state = RunState.RUNNING
        self._save(rt)
        self._last_tick = self.clock()

    def hand_off(self, uuid: str) -> None:
        """Mark the suspended image as given away: it must never resume here by itself."""
        rt = self.get(uuid)
        rt.consumed = max(rt.consumed, rt.generation)
        self._save(rt)

    def reclaim(self, uuid: str) -> None:
        """Recovery: the operator established the image never ran elsewhere; allow a resume."""
        rt = self.get(uuid)
        rt.consumed = rt.generation - 1
        self._save(rt)

    def shrink_vcpus(self, uuid: str, strands) -> None:
        """CPU DR removal: the guest must agree (bound processes / psets make it fail)."""
        rt = self.get(uuid)
        if len(strands) < len(rt.strands) and rt.run_state is RunState.RUNNING:
            if rt.cpu_dr_disabled:
                raise HvError("CPU dynamic reconfiguration is disabled until the domain reboots")
            try:
                self._guest[uuid].check_cpu_dr()
            except GuestError as e:
                raise HvError(f"Unable to remove CPUs from domain {rt.name}: {e}") from None
        self.update(uuid, strands=tuple(strands))

    def set_throttle(self, uuid: str, percent: int) -> None:
        """Take ``percent`` (0–99) of the guest's running time away, so it dirties memory
        more slowly; 0 gives it all back."""
        rt = self.get(uuid)
        percent = max(0, min(int(percent), 99))
        if rt.throttle != percent:
            rt.throttle = percent
            self._save(rt)

    # -- time ------------------------------------------------------------------------------
    def tick(self, now: float | None = None) -> None:
        """Run every running guest for the time since the last tick."""
        now = self.clock() if now is None else now
        last = self._last_tick if self._last_tick is not None else now
        self._last_tick = now
        dt = min(max(now - last, 0.0), 1.0)
        if dt <= 0:
            return
        for uuid, rt in self._rt.items():
            if rt.run_state is RunState.RUNNING:
                self._guest[uuid].run(self._regs[uuid], self._mem[uuid], dt * (100 - rt.throttle) / 100)
                self._save_regs(uuid)

    # -- migration -------------------------------------------------------------------------
    def export_state(self, uuid: str) -> RuntimeState:
        rt = self.get(uuid)
        if rt.run_state is not RunState.SUSPENDED:
            raise HvError(f"domain {rt.name} must be suspended to export its state")
        return RuntimeState(uuid=uuid, generation=rt.generation, regs=self._regs[uuid].pack(),
                            devices=dict(rt.devices), guest=attrs.evolve(rt.guest),
                            started_at=rt.started_at, vcpus=len(rt.strands))

    def import_state(self, uuid: str, state: RuntimeState) -> None:
        """Install a shipped runtime into a created (stopped) runtime; it becomes suspended."""
        rt = self.get(uuid)
        if rt.run_state is RunState.RUNNING:
            raise HvError(f"domain {rt.name} is running; cannot import state into it")
        self._regs[uuid] = Registers(state.regs)
        self._save_regs(uuid)
        rt.generation = state.generation
        rt.consumed = min(rt.consumed, state.generation - 1)
        rt.devices = dict(state.devices)
        rt.guest = attrs.evolve(state.guest)
        self._guest[uuid] = GuestOS(rt.guest)
        rt.started_at = state.started_at
        rt.run_state = RunState.SUSPENDED
        rt.cpu_dr_disabled = True
        self._mem[uuid].flush()
        self._save(rt)
