"""The recovery wizard for a domain in the migration error state.

It asks the target host, says what it found, offers the one safe action, confirms it
naming host and domain, runs it on the source host and shows what happened. When the target
cannot be reached it says so and offers nothing destructive.
"""

from __future__ import annotations

from typing import Awaitable, Callable

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from ldtui.core.snapshot import HostSnapshot
from ldtui.screens.dialogs import ConfirmDialog
from ldtui.console.recovery import RecoveryPlan, assess
from ldtui.console.source import CommandOutcome

QueryTarget = Callable[[], Awaitable["HostSnapshot | None"]]
RunOnSource = Callable[[list[str]], Awaitable[CommandOutcome]]


class RecoveryWizard(ModalScreen[None]):
    # Close holds the focus from the first frame; the action only opens a confirmation.
    AUTO_FOCUS = "#close"
    BINDINGS = [Binding("escape", "close", "Close", id="recovery.close")]

    def __init__(self, *, source_host: str, domain: str, target_host: str, target_domain: str,
                 query_target: QueryTarget, run_on_source: RunOnSource, source_state: str = "suspended") -> None:
        super().__init__()
        self.source_state = source_state
        self.source_host = source_host
        self.domain = domain
        self.target_host = target_host
        self.target_domain = target_domain
        self._query_target = query_target
        self._run_on_source = run_on_source
        self.plan: RecoveryPlan | None = None
        self.outcome: str = ""
        """``done`` or ``failed`` once the action ran."""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="recovery"):
            yield Static(Text(f"Recover {self.domain} on {self.source_host} (migration error)"), classes="title")
            yield Static(Text(f"Asking {self.target_host} about {self.target_domain}…"), id="finding",
                         classes="lines")
            yield Static("", id="result", classes="lines")
            with Horizontal(classes="buttons"):
                yield Button("…", id="act", variant="error", disabled=True)
                yield Button("Ask again", id="again")
                yield Button("Close", id="close", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#act").display = False
        self.ask()

    @work(exclusive=True, group="recovery-ask", exit_on_error=False)
    async def ask(self) -> None:
        self.query_one("#finding", Static).update(Text(f"Asking {self.target_host} about {self.target_domain}…"))
        detail = ""
        try:
            target = await self._query_target()
        except Exception as exc:  # whatever kept the target from answering is the finding
            target, detail = None, str(exc) or type(exc).__name__
        self.show_plan(assess(self.source_host, self.domain, self.target_host, self.target_domain, target,
                              source_state=self.source_state, detail=detail))

    def show_plan(self, plan: RecoveryPlan) -> None:
        self.plan = plan
        heading = {
            "running": f"Found: {self.target_domain} is running on {self.target_host}.",
            "absent": f"Found: {self.target_domain} is absent from {self.target_host}.",
            "unreachable": f"Found: {self.target_host} is unreachable.",
            "unsettled": f"Found: {self.target_domain} on {self.target_host} has not settled.",
        }[plan.finding]
        self.query_one("#finding", Static).update(Text("\n".join((heading, "", *plan.explanation))))
        act = self.query_one("#act", Button)
        if plan.action:
            act.label = plan.action_label
            act.display = True
            act.disabled = False
        else:
            act.display = False
            act.disabled = True

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "close":
            self.dismiss(None)
        elif event.button.id == "again":
            self.query_one("#result", Static).update("")
            self.ask()
        elif event.button.id == "act" and self.plan and self.plan.action:
            self.confirm_and_act(self.plan)

    def confirm_and_act(self, plan: RecoveryPlan) -> None:
        lines = [f"host: {self.source_host}", f"domain: {self.domain}", ""]
        lines += ["ldm " + " ".join(argv) for argv in plan.commands]

        def answered(yes: bool | None) -> None:
            if yes:
                self.act(plan)

        self.app.push_screen(ConfirmDialog(f"{plan.action_label}?", lines, yes=plan.action_label), answered)

    @work(exclusive=True, group="recovery-act", exit_on_error=False)
    async def act(self, plan: RecoveryPlan) -> None:
        self.query_one("#act", Button).disabled = True
        result = self.query_one("#result", Static)
        shown: list[str] = []
        ok = True
        for argv in plan.commands:
            shown.append("# ldm " + " ".join(argv))
            try:
                out = await self._run_on_source(list(argv))
            except Exception as exc:  # the source host went away under us
                shown.append(f"{self.source_host} unreachable: {exc}")
                ok = False
                break
            shown.extend(line for line in (out.stdout + out.stderr).splitlines() if line.strip())
            if out.exit_code != 0:
                ok = False
                break
        self.outcome = "done" if ok else "failed"
        verdict = (f"{plan.action_label}: done." if ok else f"{plan.action_label}: failed.")
        result.update(Text("\n".join((*shown, "", verdict)), style="" if ok else "bold"))
        result.set_class(not ok, "failure")
        result.set_class(ok, "success")
        self.notify(verdict, severity="information" if ok else "error")
        self.query_one("#act").display = False
        self.query_one("#close").focus()

    def action_close(self) -> None:
        self.dismiss(None)
