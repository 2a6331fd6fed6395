"""The lab: several simulated hosts on loopback SSH.

:class:`EmbeddedLab` runs every host of a lab file inside the current process, on one
event loop in one thread of its own, so a migration never starves a console's loop. Each
host is a real ``ldmd`` endpoint on ``127.0.0.1`` (port chosen by the system); the console
reaches it over SSH exactly as it would reach a remote host. Peer managers reach each other
through a :class:`LabLink` per ordered host pair, so links can be cut on purpose.

Rehearsal controls (an operator rehearsing failures; the console offers them only for an
embedded lab): cut a link now or at the next handoff, lose the target's confirmation at the
next handoff, stop and restart a host, and slow migrations down so there is time to watch
and cancel one (:meth:`EmbeddedLab.set_migration_pace`).

``ldtui-lab`` (see ``labctl``) starts the same lab as separate ``ldmd`` processes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import shutil
import tempfile
import threading
import time
from importlib import resources
from pathlib import Path
from typing import Callable

import attrs

from ldtui.core.hostconfig import HostConfig, load_lab
from ldtui.net.proxy import LinkProxy

log = logging.getLogger("ldtui.net.lab")
START_TIMEOUT = 30.0
SLOW_PACE = (0.05, 4)
"""``(page_delay, batch_pages)`` of "slow migrations down": 4 pages (32 KiB) every 50 ms,
about 640 KiB/s, so a domain with a few MiB of written memory takes long enough to cancel."""
FULL_PACE = (0.0, None)
"""No pause, and the migration service's own batch size."""
CONFIRMATION_WAIT = 10.0
"""How long "lose the confirmation" waits for the target to resume before it cuts anyway."""


class LabLink(LinkProxy):
    """A :class:`LinkProxy` that can also swallow what the target sends back.

    With :attr:`replies_lost` set, bytes from the target towards the source vanish while the
    source's bytes still arrive: the target acts on GO, but its confirmation never returns.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.replies_lost = False

    def _swallows(self, back: bool) -> bool:
        return super()._swallows(back) or (back and self.replies_lost)


@attrs.define
class HandoffFault:
    """A fault armed for the next handoff between two hosts (either direction)."""

    hosts: frozenset[str]
    kind: str
    """``cut``: cut the link the moment GO is sent (whether GO got through is the race it
    is in life); ``lose-confirmation``: let GO through, swallow the target's answer, then
    cut once the target runs the domain."""


def default_lab_file() -> Path:
    return Path(str(resources.files("ldtui") / "data" / "lab.toml"))


@attrs.frozen
class Endpoint:
    """How to reach one lab host."""

    hostname: str
    host: str
    port: int
    user: str
    password: str
    known_hosts_path: str


def lab_password(cfg: HostConfig, user: str) -> str:
    """The clear-text lab password of ``user`` (lab files keep them; stores never do)."""
    for u in cfg.raw.get("users", []):
        if u.get("name") == user and "password" in u:
            return u["password"]
    return ""


class EmbeddedLab:
    def __init__(self, lab_file: str | Path | None = None, state_dir: str | Path | None = None, *,
                 user: str = "root", keepalive_interval: float = 5.0, page_delay: float = 0.0,
                 batch_pages: int | None = None) -> None:
        self.lab_file = Path(lab_file) if lab_file else default_lab_file()
        self.configs = {c.name: c for c in load_lab(self.lab_file)}
        self._own_dir = state_dir is None
        self.state_dir = Path(state_dir) if state_dir else Path(tempfile.mkdtemp(prefix="ldtui-lab-"))
        self.user = user
        self.keepalive_interval = keepalive_interval
        self.known_hosts_path = self.state_dir / "known_hosts"
        self.ldmds: dict = {}
        """hostname → running ``Ldmd`` (only touch it on :attr:`loop`, e.g. via :meth:`call`)."""
        self.ports: dict[str, int] = {}
        self.proxies: dict[tuple[str, str], LabLink] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.page_delay = page_delay
        self.batch_pages = batch_pages
        self.handoff_faults: list[HandoffFault] = []
        self._faults_lock = threading.Lock()
        self.fault_listeners: list[Callable[[str], None]] = []
        """Called (on the lab's thread) with one line each time an armed fault fires."""

    # -- the lab's thread ----------------------------------------------------------------
    def _ensure_loop(self) -> None:
        if self.loop is not None:
            return
        ready = threading.Event()

        def run() -> None:
            self.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self.loop)
            ready.set()
            self.loop.run_forever()
            self.loop.close()

        self._thread = threading.Thread(target=run, name="ldtui-lab", daemon=True)
        self._thread.start()
        ready.wait(5)

    def call(self, coro, timeout: float = START_TIMEOUT):
        """Run a coroutine on the lab's loop from another thread and wait for its result."""
        assert self.loop is not None, "the lab is not started"
        fut = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise TimeoutError(f"lab operation took longer than {timeout:g}s") from None

    # -- hosts ---------------------------------------------------------------------------
    def start(self) -> list[Endpoint]:
        self._ensure_loop()
        self.call(self._start_all())
        return self.endpoints()

    def endpoints(self) -> list[Endpoint]:
        return [Endpoint(hostname=name, host="127.0.0.1", port=self.ports[name], user=self.user,
                         password=lab_password(cfg, self.user), known_hosts_path=str(self.known_hosts_path))
                for name, cfg in self.configs.items() if name in self.ports]

    async def _start_all(self) -> None:
        for name in self.configs:
            await self._start_host(name)
        for a in self.configs:
            for b in self.configs:
                if a != b and (a, b) not in self.proxies:
                    proxy = LabLink("127.0.0.1", self.ports[b], name=f"{a}->{b}")
                    await proxy.start()
                    self.proxies[(a, b)] = proxy
        self._wire_peers()

    async def _start_host(self, name: str) -> None:
        from ldtui.net.migrate import install as install_migration
        from ldtui.net.server import Ldmd
        cfg = self.configs[name]
        # A restarted host comes back on its old port, so links and consoles find it again.
        port = self.ports.get(name, 0)
        ldmd = Ldmd(cfg, self.state_dir / name, listen=("127.0.0.1", port), peers={},
                    peer_known_hosts=self.known_hosts_path, keepalive_interval=self.keepalive_interval)
        try:
            pace = {"page_delay": self.page_delay}
            if self.batch_pages is not None:
                pace["batch_pages"] = self.batch_pages
            service = install_migration(ldmd, **pace)
            hook = getattr(service, "on_go_sent", None)
            if hook is not None:
                hook.append(lambda domain, target, source=name: self._go_sent(source, domain, target))
            self.ports[name] = await ldmd.start()
        except BaseException:
            ldmd.manager.close()
            raise
        self.ldmds[name] = ldmd
        self._write_known_hosts()
        self._wire_peers()

    def _write_known_hosts(self) -> None:
        # Consoles dial the real ports; peer managers check the key under the host name
        # the operator typed, since they reach each other through the lab's link relays.
        lines = [line for n, d in self.ldmds.items()
                 for line in (f"[127.0.0.1]:{self.ports[n]} {d.host_public_key}\n",
                              f"{n} {d.host_public_key}\n")]
        tmp = self.known_hosts_path.with_suffix(".tmp")
        tmp.write_text("".join(lines), encoding="utf-8")
        tmp.replace(self.known_hosts_path)

    def _wire_peers(self) -> None:
        for a, ldmd in self.ldmds.items():
            peers = {}
            for b in self.configs:
                if b == a:
                    continue
                proxy = self.proxies.get((a, b))
                if proxy is not None:
                    peers[b] = ("127.0.0.1", proxy.port)
                elif b in self.ports:
                    peers[b] = ("127.0.0.1", self.ports[b])
            ldmd.set_peers(peers)

    def link(self, source: str, target: str) -> LabLink:
        """The relay ``source``'s manager uses to reach ``target``'s."""
        return self.proxies[(source, target)]

    # -- rehearsal -----------------------------------------------------------------------
    def cut_link(self, a: str, b: str) -> None:
        """Reset every connection between the managers of ``a`` and ``b``, both directions."""
        for link in self._links(a, b):
            link.cut()

    def _links(self, a: str, b: str) -> list[LabLink]:
        links = [self.proxies[p] for p in ((a, b), (b, a)) if p in self.proxies]
        if not links:
            raise LookupError(f"the lab has no link between {a} and {b}")
        return links

    @property
    def can_fault_handoff(self) -> bool:
        """Whether the hosts' migration services tell the lab when GO is sent."""
        services = [getattr(d, "migration_service", None) for d in self.ldmds.values()]
        return bool(services) and all(hasattr(s, "on_go_sent") for s in services)

    def cut_link_at_handoff(self, a: str, b: str) -> None:
        """At the next handoff between ``a`` and ``b`` (either way), cut their link right
        after the source sends GO: the source ends in the error state ``e`` (docs/CONSOLE.md,
        "Recovering a domain in the error state")."""
        self._arm(a, b, "cut")

    def lose_confirmation_at_handoff(self, a: str, b: str) -> None:
        """At the next handoff between ``a`` and ``b``, let GO through but lose the target's
        confirmation, then cut: the target runs the domain, the source is left in ``e``."""
        self._arm(a, b, "lose-confirmation")

    def _arm(self, a: str, b: str, kind: str) -> None:
        self._links(a, b)
        if not self.can_fault_handoff:
            raise LookupError("this lab's managers do not report the handoff; cut the link by hand")
        with self._faults_lock:
            self.handoff_faults = [f for f in self.handoff_faults if f.hosts != frozenset((a, b))]
            self.handoff_faults.append(HandoffFault(frozenset((a, b)), kind))

    def _go_sent(self, source: str, domain: str, target: str) -> None:
        """The migration service's hook, on the lab's loop, right after GO was written."""
        with self._faults_lock:
            fault = next((f for f in self.handoff_faults if f.hosts == frozenset((source, target))), None)
            if fault is None:
                return
            self.handoff_faults.remove(fault)
        if fault.kind == "cut":
            # Synchronously, before the relay's loop turn can carry GO on.
            self.cut_link(source, target)
            self._tell(f"link between {source} and {target} cut right after GO for {domain}")
            return
        link = self.proxies[(source, target)]
        link.replies_lost = True
        assert self.loop is not None
        self.loop.create_task(self._cut_once_resumed(source, domain, target, link))

    async def _cut_once_resumed(self, source: str, domain: str, target: str, link: LabLink) -> None:
        deadline = time.monotonic() + CONFIRMATION_WAIT
        resumed = False
        while time.monotonic() < deadline and not resumed:
            ldmd = self.ldmds.get(target)
            if ldmd is not None:
                jobs = ldmd.manager.snapshot().jobs
                resumed = any(j.role == "target" and j.peer_host == source and j.peer_domain == domain
                              and j.state != "running" for j in jobs)
            if not resumed:
                await asyncio.sleep(0.02)
        self.cut_link(source, target)
        link.replies_lost = False
        what = "after the target resumed it" if resumed else "(the target had not resumed it)"
        self._tell(f"{target}'s confirmation for {domain} lost; link to {source} cut {what}")

    def _tell(self, line: str) -> None:
        log.warning("rehearsal: %s", line)
        for listener in list(self.fault_listeners):
            try:
                listener(line)
            except Exception:  # a console that went away must not break the lab
                log.exception("fault listener failed")

    def set_migration_pace(self, page_delay: float, batch_pages: int | None) -> None:
        """Pause ``page_delay`` seconds after each batch of ``batch_pages`` memory pages
        (``None``: the migration service's own batch size), on every host, for migrations
        running now (the pause) and started later (both)."""
        from ldtui.net.migrate import BATCH_PAGES
        self.page_delay, self.batch_pages = page_delay, batch_pages

        async def apply() -> None:
            for ldmd in self.ldmds.values():
                service = getattr(ldmd, "migration_service", None)
                if service is not None:
                    service.page_delay = page_delay
                    service.batch_pages = BATCH_PAGES if batch_pages is None else batch_pages
        if self.loop is not None:
            self.call(apply(), timeout=5)

    def slow_migrations(self) -> None:
        self.set_migration_pace(*SLOW_PACE)

    def full_speed_migrations(self) -> None:
        self.set_migration_pace(*FULL_PACE)

    @property
    def slowed(self) -> bool:
        return self.page_delay > 0

    def stop_host(self, name: str) -> None:
        """Stop one host as a clean shutdown would; its state stays for :meth:`start_host`."""
        self.call(self._stop_host(name))

    async def _stop_host(self, name: str) -> None:
        ldmd = self.ldmds.pop(name, None)
        if ldmd is not None:
            await ldmd.stop()

    def start_host(self, name: str) -> Endpoint:
        """Start a stopped host again from its state directory."""
        if name in self.ldmds:
            raise RuntimeError(f"{name} is already running")
        self.call(self._start_host(name))
        return next(e for e in self.endpoints() if e.hostname == name)

    def stop(self) -> None:
        if self.loop is None:
            return
        try:
            self.call(self._stop_all())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            if self._thread:
                self._thread.join(10)
            self.loop = None
            if self._own_dir:
                shutil.rmtree(self.state_dir, ignore_errors=True)

    async def _stop_all(self) -> None:
        for proxy in self.proxies.values():
            await proxy.stop()
        self.proxies.clear()
        for name in list(self.ldmds):
            await self._stop_host(name)

    def __enter__(self) -> EmbeddedLab:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

