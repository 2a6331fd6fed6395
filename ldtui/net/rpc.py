"""Requests and replies over ``ldtui-rpc`` frames, on any pair of byte streams.

A request is ``{"id": N, "method": NAME, "params": {...}}``; its answer is a REPLY
``{"id": N, "result": ...}`` or an ERROR ``{"id": N, "code": ..., "message": ...}``. Requests
run concurrently, so a console can ask for snapshots while a long ``run`` is in progress.
EVENT frames carry unsolicited news; BINARY frames carry bulk data for handlers that ask for
it. Any framing fault ends the conversation with one ERROR frame naming the fault.

Most methods are named where they are served; the ``migrate`` method's values are written
and read here, on both ends (importing the core's types only when used, so a program that
only frames bytes does not load them): a console sends a ``cmd_migrate.MigrationRequest`` (the
password beside it, never inside) and gets a ``cmd_migrate.MigrationResult`` back.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ldtui.core.errors import LdmError
from ldtui.net.framing import (FrameDecoder, FrameType, FramingError, IncompatiblePeer, check_hello, encode_frame,
                              encode_json, frame_header, hello)

if TYPE_CHECKING:
    from ldtui.core.cmd_migrate import MigrationRequest, MigrationResult

log = logging.getLogger("ldtui.net.rpc")
HELLO_TIMEOUT = 10.0
_READ_SIZE = 1 << 20


MIGRATE = "migrate"
"""Perform a migration request; answers with its result (``run`` takes the command line)."""


def migrate_params(request: MigrationRequest, password: str | None) -> dict[str, Any]:
    """The ``migrate`` request's parameters: the request, and the password apart from it."""
    import attrs

    from ldtui.core.store import converter
    body = converter.unstructure(attrs.evolve(request, password=None))
    del body["password"]
    return {"request": body, "password": password}


def read_migrate_params(params: dict[str, Any]) -> tuple[MigrationRequest, str | None]:
    """The request and password a ``migrate`` call carries; a malformed one is refused."""
    from ldtui.core.cmd_migrate import MigrationRequest
    from ldtui.core.store import converter
    body, password = params.get("request"), params.get("password")
    if not isinstance(body, dict) or "password" in body or not (password is None or isinstance(password, str)):
        raise LdmError("usage", "migrate needs request: a migration request, and password apart")
    try:
        return converter.structure(body, MigrationRequest), password
    except Exception as e:
        raise LdmError("usage", f"migrate: malformed request: {' '.join(str(e).split())}") from None


def read_migration_result(raw: Any) -> MigrationResult:
    """The ``migrate`` answer as a value."""
    from ldtui.core.cmd_migrate import MigrationResult
    from ldtui.core.store import converter
    return converter.structure(raw, MigrationResult)


class RpcError(Exception):
    """The other side answered with an error (``code``) or the conversation broke."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class RpcContext:
    """What a server-side method may use besides its parameters."""

    def __init__(self, user: str, writer, peer: str, local: str = "") -> None:
        self.user = user
        self.peer = peer
        self.local = local
        """The address the client reached this host on (empty when not an IP socket)."""
        self._writer = writer
        self.binary: asyncio.Queue[bytes] = asyncio.Queue()
        self.closed = asyncio.Event()
        """Set when the client went away; long methods watch it to cancel."""

    async def send_event(self, body: dict[str, Any]) -> None:
        await _send(self._writer, encode_json(FrameType.EVENT, body))

    async def send_binary(self, data: bytes) -> None:
        await _send(self._writer, encode_frame(FrameType.BINARY, data))

    async def recv_binary(self, timeout: float) -> bytes:
        return await asyncio.wait_for(self.binary.get(), timeout)


Method = Callable[[dict[str, Any], RpcContext], Awaitable[Any]]


async def _send(writer, data: bytes) -> None:
    writer.write(data)
    await writer.drain()


async def _read_frames(reader, decoder: FrameDecoder):
    """Frames as they arrive; ends at EOF."""
    while True:
        data = await reader.read(_READ_SIZE)
        if not data:
            return
        for frame in decoder.feed(data):
            yield frame


async def serve(reader, writer, methods: dict[str, Method], *, user: str, peer: str = "", local: str = "",
                hello_timeout: float = HELLO_TIMEOUT) -> None:
    """Answer requests until the client closes the stream or breaks the protocol."""
    ctx = RpcContext(user, writer, peer, local)
    decoder = FrameDecoder()
    tasks: set[asyncio.Task] = set()
    write_lock = asyncio.Lock()

    async def answer(req_id: Any, method: Method, params: dict) -> None:
        try:
            result = await method(params, ctx)
            frame = encode_json(FrameType.REPLY, {"id": req_id, "result": result})
        except LdmError as e:
            frame = encode_json(FrameType.ERROR, {"id": req_id, "code": e.code, "message": e.text()})
        except asyncio.CancelledError:
            raise
        except Exception as e:          # a bug in one method must not take the host down
            log.exception("rpc method failed")
            frame = encode_json(FrameType.ERROR, {"id": req_id, "code": "internal", "message": f"internal error: {e}"})
        async with write_lock:
            await _send(writer, frame)

    try:
        await _send(writer, hello("server"))
        frames = _read_frames(reader, decoder)
        first = await asyncio.wait_for(anext(frames, None), hello_timeout)
        if first is None:
            return
        check_hello(first)
        async for frame in frames:
            if frame.type is FrameType.BINARY:
                ctx.binary.put_nowait(frame.payload)
                continue
            if frame.type is not FrameType.REQUEST:
                raise FramingError(f"unexpected {frame.type.name} frame from a client")
            body = frame.json()
            req_id, name, params = body.get("id"), body.get("method"), body.get("params", {})
            method = methods.get(name) if isinstance(name, str) else None
            if method is None or not isinstance(params, dict):
                async with write_lock:
                    await _send(writer, encode_json(FrameType.ERROR, {
                        "id": req_id, "code": "no-such-method", "message": f"unknown method {name!r}"}))
                continue
            task = asyncio.create_task(answer(req_id, method, params))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    except (FramingError, TimeoutError) as e:
        reason = str(e) or "no HELLO within the time allowed"
        log.warning("rpc from %s: %s", peer or "?", reason)
        try:
            async with write_lock:
                await _send(writer, encode_json(FrameType.ERROR, {"id": None, "code": "protocol", "message": reason}))
        except Exception:
            pass
    except Exception as e:      # the client vanished mid-read (ConnectionLost, EOF): nothing to answer
        log.info("rpc from %s ended: %s", peer or "?", e)
    finally:
        ctx.closed.set()
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


class RpcClient:
    """The calling end of an ``ldtui-rpc`` conversation."""

    def __init__(self, reader, writer) -> None:
        self._reader, self._writer = reader, writer
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future] = {}
        self._write_lock = asyncio.Lock()
        self._task: asyncio.Task | None = None
        self.events: asyncio.Queue[dict] = asyncio.Queue(maxsize=1000)
        self.binary: asyncio.Queue[bytes] = asyncio.Queue()
        self.closed = asyncio.Event()
        self.close_reason = ""
        self.server_hello: dict = {}

    async def start(self, *, timeout: float = HELLO_TIMEOUT) -> None:
        await _send(self._writer, hello("client"))
        decoder = FrameDecoder()
        frames = _read_frames(self._reader, decoder)
        first = await asyncio.wait_for(anext(frames, None), timeout)
        if first is None:
            raise RpcError("protocol", "the server closed the channel before HELLO")
        try:
            self.server_hello = check_hello(first)
        except IncompatiblePeer as e:
            raise RpcError("version", str(e)) from None
        except FramingError as e:
            raise RpcError("protocol", str(e)) from None
        self._task = asyncio.create_task(self._dispatch(frames))

    async def _dispatch(self, frames) -> None:
        try:
            async for frame in frames:
                if frame.type is FrameType.BINARY:
                    self.binary.put_nowait(frame.payload)
                    continue
                body = frame.json()
                if frame.type is FrameType.EVENT:
                    if self.events.full():       # nobody reads events: keep the newest
                        self.events.get_nowait()
                    self.events.put_nowait(body)
                    continue
                if frame.type not in (FrameType.REPLY, FrameType.ERROR):
                    raise FramingError(f"unexpected {frame.type.name} frame from a server")
                fut = self._pending.pop(body.get("id"), None)
                if frame.type is FrameType.ERROR and fut is None:
                    self.close_reason = str(body.get("message", "protocol error"))
                    return
                if fut is None or fut.done():
                    continue
                if frame.type is FrameType.REPLY:
                    fut.set_result(body.get("result"))
                else:
                    fut.set_exception(RpcError(str(body.get("code")), str(body.get("message"))))
            self.close_reason = self.close_reason or "the server closed the channel"
        except Exception as e:          # FramingError, ConnectionLost: either ends the conversation
            self.close_reason = str(e) or type(e).__name__
        finally:
            self.closed.set()
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(RpcError("disconnected", self.close_reason or "connection lost"))
            self._pending.clear()

    async def call(self, method: str, params: dict | None = None, *, timeout: float = 10.0) -> Any:
        if self.closed.is_set():
            raise RpcError("disconnected", self.close_reason or "connection lost")
        req_id = next(self._ids)
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self._pending[req_id] = fut
        try:
            async with self._write_lock:
                await _send(self._writer, encode_json(FrameType.REQUEST,
                                                      {"id": req_id, "method": method, "params": params or {}}))
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise RpcError("timeout", f"no answer to {method} within {timeout:g}s") from None
        finally:
            self._pending.pop(req_id, None)

    async def send_binary(self, data: bytes, *more) -> None:
        """One BINARY frame carrying ``data`` and then ``more`` (buffers written as they
        are: a large payload is not copied to join it to what precedes it)."""
        async with self._write_lock:
            if not more:
                await _send(self._writer, encode_frame(FrameType.BINARY, data))
                return
            self._writer.write(frame_header(FrameType.BINARY, len(data) + sum(len(m) for m in more)) + data)
            for m in more:
                self._writer.write(m)
            await self._writer.drain()

    async def close(self) -> None:
        try:
            self._writer.write_eof()
        except Exception:
            pass
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.closed.set()
