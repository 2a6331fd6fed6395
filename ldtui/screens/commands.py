"""The command palette (ctrl+p): every action, offered only when it makes sense now.

What is offered depends on the selected domain (its flags), the hosts' states and whether
the console runs an embedded lab (rehearsal controls).
"""

from __future__ import annotations

from functools import partial
from itertools import combinations
from typing import TYPE_CHECKING, Callable, Iterator

from textual.command import DiscoveryHit, Hit, Hits, Provider

from ldtui.core.model import MigrationRole

if TYPE_CHECKING:
    from ldtui.screens.console_app import ConsoleApp

Command = tuple[str, Callable[[], object], str]


def palette_commands(app: "ConsoleApp") -> Iterator[Command]:
    from ldtui.screens.main import MainScreen

    main = next((s for s in reversed(app.screen_stack) if isinstance(s, MainScreen)), None)
    chosen = main.selected() if main is not None else None
    if main is not None:
        if chosen is not None:
            view, row = chosen
            where = f"{row.name} on {view.hostname}"
            role = row.migration_role
            if not row.migrating and not row.is_control and view.state == "connected" and not view.stale:
                yield f"Migrate {where}…", main.action_migrate, "open the migrate form (m)"
            if role is MigrationRole.SOURCE:
                yield f"Cancel migration of {where}", main.action_cancel_migration, "cancel-operation migration (c)"
            if role is MigrationRole.ERROR:
                yield f"Recover {where}", main.action_recover, "recovery wizard (r)"
            yield f"Detail of {where}", main.action_detail, "ldm list -l (enter)"
        for view in app.fleet.hosts.values():
            yield (f"Devices of {view.hostname}", partial(main._text_view, view, ["list-devices", "-a"]),
                   "ldm list-devices -a")
            yield (f"Services of {view.hostname}", partial(main._text_view, view, ["list-services"]),
                   "ldm list-services")
            if main.host_filter != view.name:
                yield f"Show only {view.hostname}", partial(main.set_host_filter, view.name), "host filter"
        if main.host_filter:
            yield "Show all hosts", partial(main.set_host_filter, None), "clear the host filter"
        yield "Show domains", partial(main.action_show_tab, "domains-tab"), "D"
        yield "Show jobs", partial(main.action_show_tab, "jobs-tab"), "migrations and their history (J)"
        yield "Show event log", partial(main.action_show_tab, "events-tab"), "L"
        yield "Filter domains", main.action_filter, "/"
    for theme in app.shipped_theme_names:
        if theme != app.theme:
            label = theme.removeprefix("ldtui-").replace("-", " ")
            yield f"Theme: {label}", partial(setattr, app, "theme", theme), "remembered in settings.toml"
    if app.rehearsal is not None:
        yield from rehearsal_commands(app)
    yield "Help", app.action_help, "every key (?)"
    yield "Quit", app.action_quit, "ctrl+q"


def rehearsal_commands(app: "ConsoleApp") -> Iterator[Command]:
    """Fault controls of the embedded lab, so an operator can rehearse a lost link and the error state."""
    lab = app.rehearsal
    names = [v.hostname for v in app.fleet.hosts.values()]
    handoff = getattr(lab, "can_cut_at_handoff", False)
    for a, b in combinations(names, 2):
        yield f"Cut link between {a} and {b} now", partial(app.rehearse, "cut_link", a, b), "rehearsal"
        if handoff:
            yield (f"Cut link between {a} and {b} at next handoff",
                   partial(app.rehearse, "cut_link_at_handoff", a, b),
                   "rehearsal: right after GO, the source is left in e")
            if hasattr(lab, "lose_confirmation_at_handoff"):
                yield (f"Lose the confirmation between {a} and {b} at next handoff",
                       partial(app.rehearse, "lose_confirmation_at_handoff", a, b),
                       "rehearsal: the target runs the domain, the source is left in e")
    if hasattr(lab, "slow_migrations"):
        if getattr(lab, "slowed", False):
            yield ("Migrations at full speed (rehearsal)", partial(app.rehearse, "full_speed_migrations"),
                   "rehearsal: undo the slow-down")
        else:
            yield ("Slow migrations down (rehearsal)", partial(app.rehearse, "slow_migrations"),
                   "rehearsal: about 640 KiB/s, time to watch and cancel")
    for view in app.fleet.hosts.values():
        if view.state == "connected" and not view.stale:
            yield f"Stop host {view.hostname}", partial(app.rehearse, "stop_host", view.name), "rehearsal"
        else:
            yield f"Restart host {view.hostname}", partial(app.rehearse, "start_host", view.name), "rehearsal"


class LdtuiCommands(Provider):
    async def discover(self) -> Hits:
        for name, callback, help_text in palette_commands(self.app):  # type: ignore[arg-type]
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in palette_commands(self.app):  # type: ignore[arg-type]
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
