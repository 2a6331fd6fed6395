"""``ldmd``'s migration service: performs ``ldm migrate-domain`` and ``cancel-operation
migration`` and receives domains from other managers (SPEC G-1…G-14).

The engines decide (``core.migration``); this module only moves their frames between two
``ldmd``s and keeps time: every wait has a timeout, and the operator's ``ldm`` going away
(a KILL closes its channel) cancels the migration, while a hang-up of its shell — the
client keeps the channel open and stops printing — lets it go on (G-12).
"""

from __future__ import annotations

import asyncio
import logging

from ldtui.core.cmd_migrate import CancelMigrationRequest, MigrationRequest
from ldtui.core.errors import LdmError
from ldtui.core.migration import (
    CodecError, LinkLost, SourceRun, TargetRun, Timeout, cancel_migration, connection_refused_lines, decode,
    encode, recover, target_report,
)
from ldtui.core.migration.events import Received
from ldtui.core.migration.messages import PageBatch
from ldtui.core.store import converter
from ldtui.net.peer import KEEPALIVE, PEER_METHOD, REPORT_METHOD, PeerLink, PeerUnavailable, open_peer_link

log = logging.getLogger("ldtui.net.migrate")

WAIT_TIMEOUT = 30.0
"""The longest a manager waits for its peer's next message before giving up (S-4)."""


def failure_lines(name: str, lines, *, dry_run: bool) -> list[str]:
    end = "would fail if attempted" if dry_run else "failed"
    return [*lines, f"Domain Migration of LDom {name} {end}"]


class MigrationService:
    """One per ``ldmd``. ``page_delay`` slows each page batch (to watch progress in tests
    and demos); ``batch_pages`` sizes the batches."""

    def __init__(self, ldmd, *, wait_timeout: float = WAIT_TIMEOUT, keepalive: tuple[float, int] = KEEPALIVE,
                 page_delay: float = 0.0, batch_pages: int = 128) -> None:
        self.ldmd = ldmd
        self.wait_timeout = wait_timeout
        self.keepalive = keepalive
        self.page_delay = page_delay
        self.batch_pages = batch_pages
        self.tasks: dict[str, asyncio.Task] = {}
        """Running outgoing migrations by domain name (they outlive a hung-up ``ldm``)."""
        self.incoming_runs: set[TargetRun] = set()

    async def close(self) -> None:
        """End every migration as a lost link would, while the manager is still open."""
        tasks = list(self.tasks.values())
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for run in list(self.incoming_runs):
            if not run.finished:
                run.feed(LinkLost("The manager is stopping"))
        self.incoming_runs.clear()

    @property
    def manager(self):
        return self.ldmd.manager

    # -- ldm migrate-domain / cancel-operation migration ------------------------------------
    async def perform(self, request, user: str, password: str | None, io) -> int:
        if isinstance(request, CancelMigrationRequest):
            try:
                cancel_migration(self.manager, request.name)
            except LdmError as e:
                await io.error(e.text() + "\n")
                return 1
            return 0
        if not isinstance(request, MigrationRequest):
            await io.error("ldmd: unknown migration request\n")
            return 1
        return await self._migrate(request, user, password, io)

    async def _migrate(self, req: MigrationRequest, user: str, password: str | None, io) -> int:
        name = req.source
        if req.live:
            # Pre-copy (B-1) is not built yet: say so rather than quietly suspend-and-copy.
            await io.error("\n".join(failure_lines(name, ["Live migration (--live) is not available on this "
                                                          "manager; migrate without --live"],
                                                   dry_run=req.dry_run)) + "\n")
            return 1
        try:
            run = SourceRun(self.manager, name, target_host=req.host, target_name=req.new_name, user=req.user,
                            dry_run=req.dry_run, batch_pages=self.batch_pages)
        except LdmError as e:
            await io.error("\n".join(failure_lines(name, [e.text()], dry_run=req.dry_run)) + "\n")
            return 1
        secret = req.password or password
        if secret is None:
            secret = await io.read_password("Target Password:")
        if secret is None:
            run.abandon(("A target password is required",))
            await io.error("\n".join(failure_lines(name, ["A target password is required"], dry_run=req.dry_run)) + "\n")
            return 1
        task = asyncio.create_task(self._drive(run, req, secret), name=f"migrate-{name}")
        self.tasks[name] = task
        task.add_done_callback(lambda t, n=name: self.tasks.pop(n, None) if self.tasks.get(n) is t else None)
        closed = asyncio.ensure_future(io.closed.wait())
        try:
            await asyncio.wait({task, closed}, return_when=asyncio.FIRST_COMPLETED)
            if not task.done():
                # The operator's ldm was killed: that is a cancel (G-12). After GO it is
                # refused and the migration finishes in the background.
                try:
                    cancel_migration(self.manager, name)
                except LdmError as e:
                    log.info("ldm of %s went away: %s", name, e.message)
                return 1
        finally:
            closed.cancel()
        lines = task.result()
        if lines:
            await io.error("\n".join(lines) + "\n")
            return 1
        return 0

    async def _drive(self, run: SourceRun, req: MigrationRequest, password: str) -> list[str]:
        """Run one outgoing migration to its end; returns the lines to print (none: success)."""
        try:
            link = await open_peer_link(req.host, self.ldmd.peers, req.user, password,
                                        known_hosts=self.ldmd.peer_known_hosts, keepalive=self.keepalive)
        except PeerUnavailable as e:
            log.info("migration of %s to %s: %s", req.source, req.host, e.message)
            if e.code == "permission-denied":
                lines = [e.message]
                run.abandon(tuple(lines))
                return failure_lines(req.source, lines, dry_run=req.dry_run)
            lines = list(connection_refused_lines(req.host))
            run.abandon((e.message,))
            return lines
        outbox: asyncio.Queue = asyncio.Queue()
        run.deliver = lambda messages: [outbox.put_nowait(m) for m in messages]
        try:
            await self._exchange(run, link, outbox)
        except asyncio.CancelledError:
            if not run.finished:
                run.feed(LinkLost("The manager is stopping"))
            raise
        finally:
            run.deliver = None
            await link.finish(timeout=2.0)
            await link.close()
        outcome = run.outcome
        if outcome.succeeded:
            return []
        if outcome.status == "refused":
            return list(outcome.lines)
        return failure_lines(req.source, outcome.lines, dry_run=req.dry_run)

    async def _exchange(self, run: SourceRun, link: PeerLink, outbox: asyncio.Queue) -> None:
        for m in run.start():
            outbox.put_nowait(m)
        while True:
            if not await self._flush(run, link, outbox) or run.finished:
                return
            if run.wants_pages:
                frame = link.poll()  # an Abort may overtake our pages
                if frame is None and link.closed:
                    self._feed(run, outbox, LinkLost(f"Lost connection with {run.engine.target_host}"))
                    continue
                if frame is None:
                    for m in run.pump():
                        outbox.put_nowait(m)
                    if self.page_delay:
                        await asyncio.sleep(self.page_delay)
                    continue
            else:
                try:
                    frame = await link.recv(self.wait_timeout)
                except TimeoutError:
                    self._feed(run, outbox, Timeout())
                    continue
                if frame is None:
                    self._feed(run, outbox, LinkLost(f"Lost connection with {run.engine.target_host}"))
                    continue
            try:
                msg = decode(frame)
            except CodecError as e:
                self._feed(run, outbox, LinkLost(f"Garbled message from {run.engine.target_host}: {e}"))
                continue
            self._feed(run, outbox, Received(msg))

    @staticmethod
    def _feed(run, outbox, event) -> None:
        for m in run.feed(event):
            outbox.put_nowait(m)

    async def _flush(self, run, link: PeerLink, outbox: asyncio.Queue) -> bool:
        """Send what the engine produced; False (after telling the engine) if the link broke."""
        while not outbox.empty():
            msg = outbox.get_nowait()
            try:
                frame = await asyncio.to_thread(encode, msg) if isinstance(msg, PageBatch) else encode(msg)
                await asyncio.wait_for(link.send(frame), self.wait_timeout)
            except (OSError, TimeoutError, ConnectionError, Exception) as e:
                if run.finished:
                    return False
                self._feed(run, outbox, LinkLost(f"Lost connection with {run.engine.target_host}: {e}"))
                while not outbox.empty():  # nothing more can reach the target
                    outbox.get_nowait()
                return False
        return True

    # -- the target side -------------------------------------------------------------------
    async def incoming(self, params: dict, ctx) -> dict:
        """``migration.receive``: one incoming migration over this RPC conversation."""
        run = TargetRun(self.manager, user=ctx.user)
        self.incoming_runs.add(run)
        try:
            return await self._receive(run, ctx)
        finally:
            if not run.finished:  # the conversation was torn down under us
                run.feed(LinkLost())
            self.incoming_runs.discard(run)

    async def _receive(self, run: TargetRun, ctx) -> dict:
        while not run.finished:
            try:
                frame = await _recv(ctx, self.wait_timeout)
            except TimeoutError:
                await _send_all(ctx, run.feed(Timeout()))
                break
            if frame is None:
                run.feed(LinkLost())
                break
            try:
                msg = decode(frame)
            except CodecError as e:
                log.warning("migration from %s: %s", ctx.peer, e)
                run.feed(LinkLost(f"Garbled message from the source: {e}"))
                break
            out = run.receive(msg)
            if not await _send_all(ctx, out) and not run.finished:
                run.feed(LinkLost())
        status = run.outcome.status if run.outcome else "failed"
        return {"status": status, "lines": list(run.outcome.lines) if run.outcome else []}

    async def report(self, params: dict, ctx) -> dict:
        """``migration.report``: what this host knows of a domain (the recovery wizard)."""
        from ldtui.core.model import READ
        self.manager.authorize(ctx.user, READ)
        return converter.unstructure(target_report(self.manager, str(params.get("name", ""))))


async def _recv(ctx, timeout: float) -> bytes | None:
    try:
        return ctx.binary.get_nowait()
    except asyncio.QueueEmpty:
        pass
    if ctx.closed.is_set():
        return None
    get = asyncio.ensure_future(ctx.binary.get())
    lost = asyncio.ensure_future(ctx.closed.wait())
    try:
        done, _ = await asyncio.wait({get, lost}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        lost.cancel()
        if not get.done():
            get.cancel()
    if get in done:
        return get.result()
    if lost in done:
        return None
    raise TimeoutError


async def _send_all(ctx, messages) -> bool:
    try:
        for m in messages:
            await ctx.send_binary(encode(m))
    except (OSError, ConnectionError, Exception):
        return False
    return True


def install(ldmd, **options) -> MigrationService:
    """Give ``ldmd`` its migration service and settle what a restart interrupted (B-3).

    Call once, after the Manager exists and before ``ldmd`` serves anyone.
    """
    for line in recover(ldmd.manager):
        log.warning("%s: %s", ldmd.hostname, line)
    service = MigrationService(ldmd, **options)
    ldmd.migration_service = service
    stop = ldmd.stop

    async def stop_after_migrations() -> None:
        await service.close()
        await stop()

    ldmd.stop = stop_after_migrations
    ldmd.rpc_methods[PEER_METHOD] = service.incoming
    ldmd.rpc_methods[REPORT_METHOD] = service.report
    return service
