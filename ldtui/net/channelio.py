"""The operator's session as a long-running command (a migration) sees it.

``ldm migrate-domain`` keeps its ``ldm`` waiting while the two managers work: it may print
lines, may ask for the target password (``Target Password:``), and must learn when the
operator's ``ldm`` went away, because that cancels the migration.
Two sessions provide this: an SSH exec channel (``ssh host ldm …`` and the ``ldm`` client)
and an ``ldtui-rpc`` ``run`` request (the console).
"""

from __future__ import annotations

import asyncio


class ChannelIO:
    """Base: collects output; subclasses deliver it and read from the operator."""

    def __init__(self, *, password: str | None = None) -> None:
        self.password = password
        """The target password when the operator already gave it (``-p FILE``, the console form)."""
        self.closed = asyncio.Event()
        """Set when the operator's session ended: a KILLed ``ldm``, a closed channel."""

    async def write(self, text: str) -> None:
        raise NotImplementedError

    async def error(self, text: str) -> None:
        raise NotImplementedError

    async def read_password(self, prompt: str, *, timeout: float = 300.0) -> str | None:
        """Show ``prompt`` and read one line without echo; None if the session cannot answer."""
        raise NotImplementedError


class ExecChannelIO(ChannelIO):
    """An SSH exec channel: output goes out as it is written; a prompt reads a line of stdin."""

    def __init__(self, process, *, password: str | None = None) -> None:
        super().__init__(password=password)
        self._process = process

    async def write(self, text: str) -> None:
        self._process.stdout.write(text.encode("utf-8"))
        await self._process.stdout.drain()

    async def error(self, text: str) -> None:
        self._process.stderr.write(text.encode("utf-8"))
        await self._process.stderr.drain()

    async def read_password(self, prompt: str, *, timeout: float = 300.0) -> str | None:
        if self.password is not None:
            return self.password
        await self.write(prompt)
        try:
            line = await asyncio.wait_for(self._process.stdin.readline(), timeout)
        except (TimeoutError, Exception):
            line = b""
        # The echo was off on the operator's side; end the prompt's line as a terminal would,
        # also when no answer came, so that the reason printed next has a line of its own.
        try:
            await self.write("\n")
        except Exception:
            pass            # the operator's session is gone: nobody to print for
        if not line:
            return None
        return line.decode("utf-8", "replace").rstrip("\r\n")


class CollectedChannelIO(ChannelIO):
    """An RPC ``run``: output is gathered for the reply and also streamed as EVENT frames."""

    def __init__(self, *, password: str | None = None, send_event=None) -> None:
        super().__init__(password=password)
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._send_event = send_event

    async def write(self, text: str) -> None:
        self.stdout.append(text)
        if self._send_event:
            await self._send_event({"stream": "stdout", "text": text})

    async def error(self, text: str) -> None:
        self.stderr.append(text)
        if self._send_event:
            await self._send_event({"stream": "stderr", "text": text})

    async def read_password(self, prompt: str, *, timeout: float = 300.0) -> str | None:
        return self.password
