"""What the console needs from a host: the shape ``ldtui.net.hostlink.HostLink`` has.

The console is written against this protocol so it can be driven by an in-memory host in
tests and by SSH links in production; nothing in the console knows which one it has.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ldtui.core.snapshot import HostSnapshot


class CommandOutcome(Protocol):
    """What one ``ldm`` command printed (``core.commands.CommandResult`` fits)."""

    stdout: str
    stderr: str
    exit_code: int


@runtime_checkable
class HostSource(Protocol):
    """One host the console talks to.

    ``state`` is ``connecting``, ``connected`` or ``down``. ``snapshot`` and ``run`` raise
    an exception (``OSError``, ``ConnectionError``, ``asyncssh.Error``…) when the host cannot
    be reached; the console treats every such failure as "host unreachable".
    """

    @property
    def state(self) -> str: ...

    async def connect(self) -> None: ...

    async def close(self) -> None: ...

    async def snapshot(self) -> HostSnapshot: ...

    async def run(self, argv: list[str], *, password: str | None = None,
                  timeout: float | None = None) -> CommandOutcome: ...


class Rehearsal(Protocol):
    """Fault controls of an embedded lab (cut a link, stop a host, fail a handoff), so an
    operator can rehearse what the console does about them."""

    def stop_host(self, name: str) -> None: ...

    def start_host(self, name: str) -> None: ...

    def cut_link(self, a: str, b: str) -> None: ...

    def cut_link_at_handoff(self, a: str, b: str) -> None: ...
