"""What the operator's keys on the main screen start: migrate, cancel, recover, views.

Every flow names host and domain, checks that it makes sense for the selected row first,
and runs ``ldm`` through the app's host links in workers (docs/CONSOLE.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ldtui.core.model import MigrationRole
from ldtui.core.snapshot import DomainRow, MigrationProgress
from ldtui.screens.choose import ChooseHostDialog
from ldtui.screens.dialogs import ConfirmDialog, MessageDialog
from ldtui.screens.migrate import MigrateForm, MigrateRequest
from ldtui.screens.recovery import RecoveryWizard
from ldtui.screens.text import TextView
from ldtui.console.fleet import HostView

if TYPE_CHECKING:
    from ldtui.screens.console_app import ConsoleApp


def migration_of(view: HostView, row: DomainRow, fleet_jobs: dict[str, MigrationProgress]) -> MigrationProgress | None:
    """The migration a row takes part in: from the row itself, else from the jobs seen."""
    if row.migration is not None:
        return row.migration
    role = {MigrationRole.SOURCE: "source", MigrationRole.TARGET: "target",
            MigrationRole.ERROR: "source"}.get(row.migration_role)
    if view.snapshot is not None:
        for job in reversed(view.snapshot.jobs):
            if job.domain == row.name and (role is None or job.role == role):
                return job
    for job in reversed(list(fleet_jobs.values())):
        if job.domain == row.name and job.role == role:
            return job
    return None


class Flows:
    """Mixed into ``MainScreen``; relies on its ``selected()``, ``selected_host()``, ``ldtui``."""

    ldtui: "ConsoleApp"

    def _need_domain(self) -> tuple[HostView, DomainRow] | None:
        chosen = self.selected()  # type: ignore[attr-defined]
        if chosen is None:
            self.notify("Select a domain first.", severity="warning")  # type: ignore[attr-defined]
        return chosen

    def _need_reachable(self, view: HostView) -> bool:
        if view.stale or view.state != "connected":
            self.notify(f"{view.hostname} is unreachable; its rows are stale.",  # type: ignore[attr-defined]
                        severity="error")
            return False
        return True

    # -- migrate -------------------------------------------------------------------------

    def action_migrate(self) -> None:
        chosen = self._need_domain()
        if chosen is None or not self._need_reachable(chosen[0]):
            return
        view, row = chosen
        if row.migrating:
            self.notify(f"{row.name} on {view.hostname} is already part of a migration.",  # type: ignore
                        severity="warning")
            return
        if row.is_control:
            self.notify(f"{row.name} is the control domain of {view.hostname}; it cannot be migrated.",  # type: ignore
                        severity="warning")
            return
        app = self.ldtui
        targets = [v.hostname for v in app.fleet.connected() if v.name != view.name]
        form = MigrateForm(view.hostname, row.name, targets, user=app.user_for(view.name),
                           live_supported=app.live_supported, lab_passwords=app.lab_passwords,
                           peer_paths=dict(view.snapshot.peer_paths) if view.snapshot else None,
                           plain_ldm=getattr(app.sources.get(view.name), "protocol", "") == "ldm")

        def submitted(request: MigrateRequest | None) -> None:
            if request is not None:
                app.start_migration(view.name, request)

        app.push_screen(form, submitted)

    # -- cancel --------------------------------------------------------------------------

    def action_cancel_migration(self) -> None:
        chosen = self._need_domain()
        if chosen is None:
            return
        view, row = chosen
        if not row.migrating and not view.stale and view.state == "connected":
            # The table may be up to a poll behind a migration started a moment ago: ask the
            # host before saying "not migrating".
            async def fresh() -> None:
                await self.ldtui.query_host(view.hostname)
                again = view.domain(row.name)
                if again is not None:
                    self._cancel(view, again)
            self.ldtui.run_worker(fresh(), group="commands", exit_on_error=False, name=f"look at {row.name}")
            return
        self._cancel(view, row)

    def _cancel(self, view: HostView, row: DomainRow) -> None:
        app = self.ldtui
        role = row.migration_role
        job = migration_of(view, row, app.fleet.jobs)
        if role is MigrationRole.TARGET:
            source = job.peer_host if job else "the source host"
            app.push_screen(MessageDialog(
                f"Only {source} can cancel this migration",
                [f"{row.name} on {view.hostname} is the target of a migration started by {source}.",
                 "A host controls only the migrations it started.",
                 f"Select the source domain on {source} and press c there."]))
            return
        if role is MigrationRole.ERROR:
            self.notify(f"{row.name} on {view.hostname} is in the migration error state: press r to recover.",  # type: ignore
                        severity="warning")
            return
        if role is not MigrationRole.SOURCE:
            self.notify(f"{row.name} on {view.hostname} is not migrating.", severity="warning")  # type: ignore
            return
        if not self._need_reachable(view):
            return
        lines = [f"host:   {view.hostname}", f"domain: {row.name}"]
        if job:
            renamed = job.peer_domain and job.peer_domain != row.name
            lines.append(f"to:     {job.peer_host}" + (f" as {job.peer_domain}" if renamed else ""))
        lines += ["", "The target domain is removed and the source domain resumes."]

        def answered(yes: bool | None) -> None:
            if yes:
                app.cancel_migration(view.name, row.name,
                                     done=f"Migration of {row.name} on {view.hostname} cancelled")

        app.push_screen(ConfirmDialog(f"Cancel the migration of {row.name} on {view.hostname}?", lines,
                                      yes="Cancel migration"), answered)

    # -- recover -------------------------------------------------------------------------

    def action_recover(self) -> None:
        chosen = self._need_domain()
        if chosen is None:
            return
        view, row = chosen
        if row.migration_role is not MigrationRole.ERROR:
            self.notify(f"{row.name} on {view.hostname} is not in the migration error state.",  # type: ignore
                        severity="warning")
            return
        app = self.ldtui
        job = migration_of(view, row, app.fleet.jobs)
        if job is not None and job.peer_host:
            self._open_wizard(view, row, job.peer_host, job.peer_domain or row.name)
            return
        others = [v.hostname for v in app.fleet.connected() if v.name != view.name]

        def chosen(host: str | None) -> None:
            if host:
                self._open_wizard(view, row, host, row.name)

        app.push_screen(ChooseHostDialog(
            f"Where was {row.name} going?",
            [f"{view.hostname} does not say which host {row.name} was migrating to.",
             f"Choose the host to check for {row.name}; nothing is changed until you confirm an action."],
            others), chosen)

    def _open_wizard(self, view: HostView, row: DomainRow, target_host: str, target_domain: str) -> None:
        app = self.ldtui

        async def query_target():
            target = app.fleet.by_hostname(target_host)
            if target is None or target.name not in app.sources:
                raise LookupError(f"{target_host} is not one of this console's hosts; "
                                  "start ldtui with it too to check it")
            snap = await app.query_host(target_host)
            if snap is None:
                raise ConnectionError(target.last_error or "no answer")
            return snap

        async def run_on_source(argv: list[str]):
            return await app.run_on(view.name, argv)

        app.push_screen(RecoveryWizard(source_host=view.hostname, domain=row.name, target_host=target_host,
                                       target_domain=target_domain, source_state=row.state,
                                       query_target=query_target, run_on_source=run_on_source))

    # -- views ---------------------------------------------------------------------------

    def _text_view(self, view: HostView, argv: list[str]) -> None:
        app = self.ldtui

        async def runner():
            return await app.run_on(view.name, argv, quiet=True)

        app.push_screen(TextView(f"{view.hostname}: ldm {' '.join(argv)}", runner))

    def action_detail(self) -> None:
        chosen = self._need_domain()
        if chosen is not None:
            self._text_view(chosen[0], ["list", "-l", chosen[1].name])

    def action_devices(self) -> None:
        view = self.selected_host()  # type: ignore[attr-defined]
        if view is not None:
            self._text_view(view, ["list-devices", "-a"])

    def action_services(self) -> None:
        view = self.selected_host()  # type: ignore[attr-defined]
        if view is not None:
            self._text_view(view, ["list-services"])
