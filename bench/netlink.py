"""A rate-limited link between two hosts on one machine: two network namespaces.

``NamespaceLink`` builds, for the life of a ``with`` block:

- two namespaces, ``ldtui-bench-PID-src`` and ``…-tgt``, each with its loopback up;
- the *migration link*: a veth pair ``mig0`` between them (``10.231.0.1`` and
  ``10.231.0.2``), shaped on both ends by ``tc``: a token bucket at the link's rate
  (``tbf``) and, where the kernel has ``netem``, a fixed one-way delay under it;
- a *management link* from this namespace into each (``10.231.1.x``, ``10.231.2.x``),
  not shaped: the benchmark's own ``ldm`` commands and snapshots go there, as an
  operator's would on a management network, so they never share the shaped link.

Everything it made is removed on leaving the block, on an exception, on SIGINT, SIGTERM
or SIGHUP (turned into ``KeyboardInterrupt`` and ``SystemExit`` while the link exists)
and at interpreter exit; a
namespace left by a benchmark that was killed outright (its pid gone) is removed the next
time one starts. The commands are data (``setup_commands``), so their shape is tested
without root.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator

import attrs

from ldtui.net.labctl import _alive

PREFIX = "ldtui-bench-"
RATE = re.compile(r"^\d+(\.\d+)?(kbit|mbit|gbit)$")
_UNITS = {"kbit": 1e3, "mbit": 1e6, "gbit": 1e9}


def rate_bits(rate: str) -> float:
    """``1gbit`` → 1e9 (bits a second, as ``tc`` counts them)."""
    m = RATE.match(rate.lower())
    if not m:
        raise ValueError(f"expected a rate such as 1gbit or 100mbit, got {rate!r}")
    return float(rate[: -len(m[2])]) * _UNITS[m[2]]


@attrs.frozen(kw_only=True)
class LinkPlan:
    """Names and addresses of one link; nothing here touches the system."""

    owner: int
    """Pid of the benchmark that owns the namespaces (stale ones are found by it)."""
    rate: str = "1gbit"
    delay_ms: float = 0.5
    """One-way delay added on each end (``netem``), so the round trip is twice this."""

    @property
    def src_ns(self) -> str:
        return f"{PREFIX}{self.owner}-src"

    @property
    def tgt_ns(self) -> str:
        return f"{PREFIX}{self.owner}-tgt"

    @property
    def namespaces(self) -> tuple[str, str]:
        return self.src_ns, self.tgt_ns

    link_dev = "mig0"
    mgmt_dev = "mgmt0"
    src_link_addr = "10.231.0.1"
    tgt_link_addr = "10.231.0.2"
    src_mgmt_addr = "10.231.1.2"
    tgt_mgmt_addr = "10.231.2.2"

    @property
    def root_devs(self) -> tuple[str, str]:
        """This namespace's ends of the two management pairs (at most 15 characters)."""
        return f"ldtb{self.owner}s", f"ldtb{self.owner}t"

    def shaping(self, ns: str, *, netem: bool) -> list[list[str]]:
        """The ``tc`` commands of one end: a token bucket, and the delay inside it."""
        tbf = ["ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", self.link_dev, "root", "handle", "1:",
               "tbf", "rate", self.rate, "burst", "256kb", "latency", "10ms"]
        if not netem:
            return [tbf]
        return [tbf, ["ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", self.link_dev, "parent", "1:1",
                      "handle", "10:", "netem", "delay", f"{self.delay_ms:g}ms", "limit", "100000"]]

    def setup_commands(self) -> list[list[str]]:
        """Namespaces and wires, without the shaping (``shaping``) that may not exist here."""
        src, tgt = self.namespaces
        rs, rt = self.root_devs
        cmds = [["ip", "netns", "add", src], ["ip", "netns", "add", tgt],
                ["ip", "link", "add", self.link_dev, "netns", src, "type", "veth", "peer", "name", self.link_dev,
                 "netns", tgt],
                ["ip", "link", "add", rs, "type", "veth", "peer", "name", self.mgmt_dev, "netns", src],
                ["ip", "link", "add", rt, "type", "veth", "peer", "name", self.mgmt_dev, "netns", tgt],
                ["ip", "-n", src, "addr", "add", f"{self.src_link_addr}/24", "dev", self.link_dev],
                ["ip", "-n", tgt, "addr", "add", f"{self.tgt_link_addr}/24", "dev", self.link_dev],
                ["ip", "-n", src, "addr", "add", f"{self.src_mgmt_addr}/24", "dev", self.mgmt_dev],
                ["ip", "-n", tgt, "addr", "add", f"{self.tgt_mgmt_addr}/24", "dev", self.mgmt_dev],
                ["ip", "addr", "add", "10.231.1.1/24", "dev", rs],
                ["ip", "addr", "add", "10.231.2.1/24", "dev", rt]]
        for ns in (src, tgt):
            cmds += [["ip", "-n", ns, "link", "set", dev, "up"] for dev in ("lo", self.link_dev, self.mgmt_dev)]
        cmds += [["ip", "link", "set", rs, "up"], ["ip", "link", "set", rt, "up"]]
        return cmds

    def teardown_commands(self) -> list[list[str]]:
        return [["ip", "link", "del", dev] for dev in self.root_devs] + \
               [["ip", "netns", "del", ns] for ns in self.namespaces]

    def exec_prefix(self, ns: str) -> list[str]:
        return ["ip", "netns", "exec", ns]


def missing_requirements() -> str | None:
    """Why the link cannot be built here, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces and tc)"
    missing = [tool for tool in ("ip", "tc") if shutil.which(tool) is None]
    if missing:
        return f"{' and '.join(missing)} not installed (apt-get install iproute2)"
    return None


def _run(cmd: list[str], check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=30)


def remove_stale() -> list[str]:
    """Namespaces of link benchmarks whose process is gone (killed outright); returns
    the ones removed."""
    out = _run(["ip", "netns", "list"], check=False).stdout
    removed = []
    for line in out.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.fullmatch(re.escape(PREFIX) + r"(\d+)-(src|tgt)", name)
        if m and not _alive(int(m[1])):
            _run(["ip", "link", "del", f"ldtb{m[1]}{m[2][0]}"], check=False)
            _run(["ip", "netns", "del", name], check=False)
            removed.append(name)
    return removed


class NamespaceLink:
    """The two namespaces and their links, for a ``with`` block (see the module)."""

    def __init__(self, plan: LinkPlan) -> None:
        self.plan = plan
        self.netem = False
        self.built = False
        self.removed_stale: list[str] = []
        self._old_handlers: dict[int, object] = {}

    @property
    def delay_note(self) -> str:
        if self.netem:
            return f"{self.plan.delay_ms:g} ms each way (netem)"
        return ("no added delay: this kernel has no netem qdisc (CONFIG_NET_SCH_NETEM); the veth pair's own "
                "round trip is microseconds")

    def __enter__(self) -> NamespaceLink:
        self.removed_stale = remove_stale()
        taken = _run(["ip", "-o", "addr"], check=False).stdout
        if "10.231." in taken:
            raise RuntimeError("addresses 10.231.0.0/16 are in use here (another link benchmark running?)")
        atexit.register(self.close)
        for sig in (signal.SIGTERM, signal.SIGHUP):
            self._old_handlers[sig] = signal.signal(sig, _exit_on_signal)
        # A benchmark started in the background inherits SIGINT ignored; an interrupt
        # must still take the namespaces down.
        self._old_handlers[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            self.built = True
            for cmd in self.plan.setup_commands():
                _run(cmd)
            self.netem = self._shape()
        except BaseException:
            self.close()
            raise
        return self

    def _shape(self) -> bool:
        """Shape both ends; True when the delay could be added too."""
        netem = True
        for ns in self.plan.namespaces:
            cmds = self.plan.shaping(ns, netem=netem)
            _run(cmds[0])
            if netem:
                done = _run(cmds[1], check=False)
                if done.returncode != 0:
                    if "unknown" not in (done.stderr or "").lower():
                        raise RuntimeError(f"tc netem failed: {done.stderr.strip()}")
                    netem = False  # a kernel without it refuses on the first end already
        return netem

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.built:
            self.built = False
            for cmd in self.plan.teardown_commands():
                _run(cmd, check=False)
        for sig, handler in self._old_handlers.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(sig, handler)
        self._old_handlers.clear()
        with contextlib.suppress(Exception):
            atexit.unregister(self.close)


def _exit_on_signal(signum, frame) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def link(rate: str = "1gbit", delay_ms: float = 0.5) -> Iterator[NamespaceLink]:
    with NamespaceLink(LinkPlan(owner=os.getpid(), rate=rate, delay_ms=delay_ms)) as built:
        yield built
