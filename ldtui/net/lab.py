"""The lab: several simulated hosts on loopback SSH (SPEC T-1).

:class:`EmbeddedLab` runs every host of a lab file inside the current process, on one
event loop in one thread of its own, so a migration never starves a console's loop. Each
host is a real ``ldmd`` endpoint on ``127.0.0.1`` (port chosen by the system); the console
reaches it over SSH exactly as it would reach a remote host. Peer managers reach each other
through a :class:`LinkProxy` per ordered host pair, so links can be cut on purpose.

``ldtui-lab`` (see ``labctl``) starts the same lab as separate ``ldmd`` processes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import shutil
import tempfile
import threading
from importlib import resources
from pathlib import Path

import attrs

from ldtui.core.hostconfig import HostConfig, load_lab
from ldtui.net.proxy import LinkProxy

log = logging.getLogger("ldtui.net.lab")
START_TIMEOUT = 30.0


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
                 user: str = "root", keepalive_interval: float = 5.0) -> None:
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
        self.proxies: dict[tuple[str, str], LinkProxy] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

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
                    proxy = LinkProxy("127.0.0.1", self.ports[b], name=f"{a}->{b}")
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
            install_migration(ldmd)
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

    def link(self, source: str, target: str) -> LinkProxy:
        """The relay ``source``'s manager uses to reach ``target``'s."""
        return self.proxies[(source, target)]

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


def main(argv: list[str] | None = None) -> None:
    from ldtui.net.labctl import main as labctl_main
    labctl_main(argv)
