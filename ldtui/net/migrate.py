"""``ldmd``'s migration service: sends domains to other managers and receives them.

It performs ``ldm migrate-domain`` and ``cancel-operation migration`` and receives domains
from other managers.

The engines and the sessions around them decide (``core.migration``); the pumps
(``net.source_pump``, ``net.target_pump``) move their messages: control on the SSH peer
link, memory on direct data streams (or tunnelled through the peer link). This module
opens the peer link, picks the transport from the request and the host's ``[migration]``
table, and keeps the operator's side of a migration: every wait has a timeout, and the
operator's ``ldm`` going away (a KILL closes its channel) cancels the migration, while a
hang-up of its shell — the client keeps the channel open and stops printing — lets it go
on.
"""

from __future__ import annotations

import asyncio
import logging
import time

from ldtui.core.cmd_migrate import (
    MAX_STREAMS, CancelMigrationRequest, MigrationRequest, MigrationResult, MigrationStatus,
)
from ldtui.core.errors import LdmError
from ldtui.core.migration import (
    LinkLost, SourceRun, TargetRun, cancel_migration, connection_refused_lines, recover, target_report,
    unknown_target_lines,
)
from ldtui.core.migration.compression import CompressionPolicy, on_this_host
from ldtui.core.migration.precopy import DEFAULT_DOWNTIME_MS
from ldtui.core.migration.source_run import BATCH_PAGES
from ldtui.core.migration.source_session import NATIVE, TUNNELLED, SourceSession
from ldtui.core.migration.status import transport_text
from ldtui.core.migration.target_session import TargetSession
from ldtui.core.store import converter
from ldtui.net.dataplane import cipher_for_host
from ldtui.net.memtrim import give_back
from ldtui.net.peer import (
    KEEPALIVE, PEER_METHOD, REPORT_METHOD, PeerUnavailable, has_crypto_units, open_peer_link,
)
from ldtui.net.source_pump import Pacer, SourcePump
from ldtui.net.target_pump import DataPlaneSettings, TargetPump

log = logging.getLogger("ldtui.net.migrate")

WAIT_TIMEOUT = 30.0
"""The longest a manager waits for its peer's next message before giving up."""


def failure_lines(name: str, lines, *, dry_run: bool) -> list[str]:
    return list(MigrationResult.failure(name, lines, dry_run=dry_run).lines)


class MigrationService:
    """One per ``ldmd``. ``page_delay`` slows each page batch (to watch progress in tests
    and demos); ``batch_pages`` sizes the batches."""

    def __init__(self, ldmd, *, wait_timeout: float = WAIT_TIMEOUT, keepalive: tuple[float, int] = KEEPALIVE,
                 page_delay: float = 0.0, batch_pages: int = BATCH_PAGES) -> None:
        self.ldmd = ldmd
        self.wait_timeout = wait_timeout
        self.keepalive = keepalive
        self.page_delay = page_delay
        self.batch_pages = batch_pages
        self.tasks: dict[str, asyncio.Task] = {}
        """Running outgoing migrations by domain name (they outlive a hung-up ``ldm``)."""
        self.incoming_runs: set[TargetRun] = set()
        self.on_go_sent: list = []
        """Callables ``(domain_name, target_host)`` run right after GO is written to the peer
        link (a console's "cut the link at the next handoff" rehearsal hooks in here). A
        coroutine function is awaited; an exception is logged and changes nothing."""

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
        result = await self.migrate(request, user, password, io)
        if result.lines:
            await io.error("\n".join(result.lines) + "\n")
        return result.exit_code

    async def migrate(self, req: MigrationRequest, user: str, password: str | None, io) -> MigrationResult:
        """Perform one checked request (``cmd_migrate.migration_request``) to its end, or
        until the operator's side goes away (``io.closed``: a cancel); nothing is printed."""
        name = req.source
        try:
            run = SourceRun(self.manager, name, target_host=req.host, target_name=req.new_name, user=req.user,
                            dry_run=req.dry_run, batch_pages=self.batch_pages, live=req.live,
                            downtime_limit_ms=req.downtime_ms or DEFAULT_DOWNTIME_MS)
        except LdmError as e:
            return MigrationResult.failure(name, [e.text()], dry_run=req.dry_run)
        if not self._knows(req.host):
            # Before the password prompt: no password can make an unknown host reachable.
            lines = self._unknown_target(req.host)
            run.abandon((lines[0],))
            return MigrationResult.failure(name, lines, dry_run=req.dry_run)
        secret = req.password or password
        if secret is None:
            secret = await io.read_password("Target Password:")
        if secret is None:
            run.abandon(("A target password is required",))
            return MigrationResult.failure(name, ["A target password is required"], dry_run=req.dry_run)
        task = asyncio.create_task(self._drive(run, req, secret), name=f"migrate-{name}")
        self.tasks[name] = task
        task.add_done_callback(lambda t, n=name: self.tasks.pop(n, None) if self.tasks.get(n) is t else None)
        closed = asyncio.ensure_future(io.closed.wait())
        try:
            await asyncio.wait({task, closed}, return_when=asyncio.FIRST_COMPLETED)
            if not task.done():
                # The operator's ldm was killed: that is a cancel. After GO it is
                # refused and the migration finishes in the background.
                try:
                    cancel_migration(self.manager, name)
                except LdmError as e:
                    log.info("ldm of %s went away: %s", name, e.message)
                return MigrationResult(status=MigrationStatus.CANCELLED, exit_code=1)
        finally:
            closed.cancel()
        return task.result()

    async def _drive(self, run: SourceRun, req: MigrationRequest, password: str) -> MigrationResult:
        """Run one outgoing migration to its end."""
        t0 = time.monotonic()
        settings = self.ldmd.config.migration
        streams = req.streams or settings.streams
        crypto_units = has_crypto_units(self.manager)
        try:
            route = self.ldmd.peer_route(req.host)
            # Behind a jump host the target's own address is not ours to reach: no direct try.
            tunnelled = req.tunnelled or settings.transport == TUNNELLED or bool(route.jumps)
            why = ("asked for" if req.tunnelled else "this host's [migration] transport"
                   if settings.transport == TUNNELLED else f"{req.host} is reached through a jump host"
                   if route.jumps else "")
            link = await open_peer_link(req.host, self.ldmd.peers, req.user, password, route=route,
                                        known_hosts=self.ldmd.peer_known_hosts, keepalive=self.keepalive,
                                        crypto_units=crypto_units, jump_key=self.ldmd.host_key,
                                        params={"streams": streams, "crypto_units": crypto_units,
                                                "data_plane": not tunnelled})
        except PeerUnavailable as e:
            log.info("migration of %s to %s: %s", req.source, req.host, e.message)
            if e.code in ("permission-denied", "unknown-host"):
                lines = [e.message] if e.code == "permission-denied" else list(self._unknown_target(req.host))
                run.abandon((lines[0],))
                return MigrationResult.failure(req.source, lines, dry_run=req.dry_run)
            # Known, but its manager could not be reached or would not talk (unreachable,
            # timed out, host key refused, no manager service): the Logical Domains 1.2
            # guide's text for a target that refuses ("Failed to establish connection with
            # ldmd(1m) on target: HOST" and its hint lines), the reason in the log.
            lines = list(connection_refused_lines(req.host))
            run.abandon((e.message,))
            return MigrationResult.refusal(MigrationStatus.REFUSED, lines)
        log.info("migration of %s to %s: %s, cipher %s, peer link up in %.3fs", req.source, req.host,
                 "live" if req.live else "warm", link.conn.get_extra_info("send_cipher"), time.monotonic() - t0)
        address = self.ldmd.peers.get(req.host) or (None if route.jumps else (route.target.host, route.target.port))
        policy = CompressionPolicy(cap=req.bandwidth, peer_on_this_host=on_this_host(address))
        if req.bandwidth:
            run.jobs.update(run.mig_id, bandwidth_cap=req.bandwidth)     # the status shows it
        session = SourceSession(run, policy=policy, transport=TUNNELLED if tunnelled else NATIVE, streams=streams,
                                tunnel_reason=why)
        pump = SourcePump(session, link, wait_timeout=self.wait_timeout, pacer=Pacer(req.bandwidth),
                          page_delay=self.page_delay, on_go_sent=self.on_go_sent)
        try:
            await pump.run()
        except asyncio.CancelledError:
            session.link_lost("The manager is stopping")
            raise
        finally:
            run.deliver = session.wake = None  # no cycle keeps the migration's buffers alive
            await link.finish(timeout=2.0)
            await link.close()
        give_back()
        outcome = run.outcome
        job = run.jobs.get(run.mig_id)
        if job is not None:
            log.info("migration of %s to %s %s in %.2fs: %d bytes of memory, %d on the wire, %d rounds, "
                     "downtime %.1f ms (expected %.1f), %d zero pages not sent; %d of %d batches compressed, "
                     "%.3fs waiting for acknowledgements; %s", req.source, req.host,
                     outcome.status, time.monotonic() - t0, job.bytes_sent, job.bytes_on_wire, job.iteration + 1,
                     job.downtime_ms, job.expected_downtime_ms, job.zero_pages, policy.compressed, policy.batches,
                     pump.stalled, transport_text(job) or "no data path")
        status = MigrationStatus(outcome.status)
        if outcome.succeeded:
            return MigrationResult(status=status, notes=tuple(outcome.notes))
        if status is MigrationStatus.REFUSED:
            return MigrationResult.refusal(status, outcome.lines)
        return MigrationResult.failure(req.source, outcome.lines, dry_run=req.dry_run, status=status,
                                       notes=outcome.notes)

    def _knows(self, host: str) -> bool:
        """Whether this host's [peers] table or ssh_config names ``host``."""
        try:
            self.ldmd.peer_route(host)
        except PeerUnavailable as e:
            return e.code != "unknown-host"
        return True

    def _unknown_target(self, host: str) -> tuple[str, ...]:
        d = self.ldmd
        return unknown_target_lines(host, d.hostname, d.peers, config_file=d.config.source,
                                    peers_file=str(d.peers_file) if d.peers_file else "",
                                    ssh_config=str(d.ssh_config or ""))

    # -- the target side -------------------------------------------------------------------
    async def incoming(self, params: dict, ctx) -> dict:
        """``migration.receive``: one incoming migration over this RPC conversation."""
        run = TargetRun(self.manager, user=ctx.user)
        self.incoming_runs.add(run)
        settings = self.ldmd.config.migration
        offered = bool(params.get("data_plane", False)) and settings.transport != TUNNELLED
        wanted = params.get("streams", 1)
        streams = min(wanted if isinstance(wanted, int) and wanted > 0 else 1, MAX_STREAMS)
        plane = DataPlaneSettings(enabled=offered, advertise=settings.data_address,
                                  advertise_port=settings.data_address_port, ports=settings.data_ports,
                                  cipher=cipher_for_host(bool(params.get("crypto_units", True))))
        session = TargetSession(run, data_plane=offered)
        pump = TargetPump(session, ctx, wait_timeout=self.wait_timeout, settings=plane, streams=streams)
        try:
            return await pump.run()
        finally:
            if not run.finished:  # the conversation was torn down under us
                run.feed(LinkLost())
            self.incoming_runs.discard(run)
            give_back()

    async def report(self, params: dict, ctx) -> dict:
        """``migration.report``: what this host knows of a domain (the recovery wizard)."""
        from ldtui.core.model import READ
        self.manager.authorize(ctx.user, READ)
        return converter.unstructure(target_report(self.manager, str(params.get("name", ""))))


def install(ldmd, **options) -> MigrationService:
    """Give ``ldmd`` its migration service and settle what a restart interrupted.

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
