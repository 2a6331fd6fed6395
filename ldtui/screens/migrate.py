"""The migrate form: what ``ldm migrate-domain`` needs, gathered and checked.

It only gathers what ``ldm migrate-domain`` needs; the console hands it to the source
host's manager as a request value, checked there exactly as the command line would be.
"""

from __future__ import annotations

from typing import Mapping

import attrs
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.css.query import NoMatches
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Select, Static

from ldtui.core.cmd_args import parse_rate
from ldtui.core.cmd_migrate import MigrationRequest
from ldtui.core.errors import LdmError
from ldtui.core.migration_target import MigrationTarget, TargetError
from ldtui.screens.dialogs import ArmedAfterFirstFrame
from ldtui.widgets.tickbox import TickBox

LIVE_TOOLTIP = "live migration: not offered by these hosts"
LIVE_HELP = ("--live: copy memory while the domain keeps running, then suspend it only for what "
             "is left (a short downtime); without it the domain is suspended for the whole copy")


@attrs.frozen(kw_only=True)
class MigrateRequest:
    """One migration as the operator asked for it. ``password`` never leaves memory."""

    source_host: str
    domain: str
    target_host: str
    user: str
    port: int | None = None
    """The target ldmd's SSH port when it is not the default (``-P``)."""
    password: str = attrs.field(default="", repr=False)
    new_name: str = ""
    dry_run: bool = False
    live: bool = False
    bandwidth: str = ""
    """Cap on the bytes a second the migration puts on the wire (``-b``), as the operator
    typed it (``100M``); empty: no cap."""
    downtime_ms: float | None = None
    """Longest final suspend of a live migration (``-d``); None: the manager's default."""

    def argv(self) -> list[str]:
        """``migrate-domain [-n] [--live] [-d MS] [-b RATE] [-P PORT] DOMAIN [USER@]HOST[:NEW]``
        (the Logical Domains 1.2 guide's form, with the rename on the way)."""
        where = f"{self.user}@{self.target_host}" if self.user else self.target_host
        if self.new_name:
            where += f":{self.new_name}"
        options = ["-n"] if self.dry_run else []
        if self.live:
            options.append("--live")
            if self.downtime_ms is not None:
                options += ["-d", f"{self.downtime_ms:g}"]
        if self.bandwidth:
            options += ["-b", self.bandwidth]
        if self.port is not None:
            options += ["-P", str(self.port)]
        return ["migrate-domain", *options, self.domain, where]

    def migration(self) -> MigrationRequest:
        """The request value the source's manager performs: what ``argv`` says, typed (the
        password travels beside it, as ``run`` sends it)."""
        return MigrationRequest(source=self.domain, user=self.user, host=self.target_host,
                                new_name=self.new_name or None, dry_run=self.dry_run, live=self.live,
                                port=self.port, downtime_ms=self.downtime_ms if self.live else None,
                                bandwidth=parse_rate(self.bandwidth) if self.bandwidth else None)


def split_typed_target(text: str) -> tuple[str, str, int | None]:
    """``root@t5440-sys-2:2022`` → (``root``, ``t5440-sys-2``, 2022); parts not typed are empty.

    The field names a host, so what follows its colon is the target ldmd's SSH port, never
    a domain name (that has a field of its own): ``core.migration_target``'s host-field
    reading, where ``[fd00::2]:2022`` is an IPv6 address and its port. Raises
    ``ValueError`` with the operator's message for a port that is not a port.
    """
    try:
        target = MigrationTarget.parse_host_field(text.strip())
    except TargetError as exc:
        raise ValueError(exc.message) from None
    return target.user or "", target.host, target.port


def parse_bandwidth(text: str) -> str:
    """The cap as ``migrate-domain -b`` takes it (``100M``, ``1048576``, ``64M/s``), unchanged;
    ``ValueError`` with migrate-domain's own message for anything it would refuse."""
    try:
        rate = parse_rate(text)
    except LdmError:
        rate = 0
    if rate <= 0:
        raise ValueError(f"Invalid bandwidth: {text} (bytes a second, e.g. 200M)")
    return text


def parse_downtime(text: str) -> float:
    """Milliseconds as ``migrate-domain -d`` takes them (``300``, ``300ms``, up to ten
    minutes); ``ValueError`` with migrate-domain's own message for anything else."""
    try:
        ms = float(text.removesuffix("ms"))
    except ValueError:
        ms = -1.0
    if not 0 < ms <= 600_000:
        raise ValueError(f"Invalid downtime limit: {text} (milliseconds, e.g. 300)")
    return ms


FULL_FORM_ROWS = 38
"""Terminal height from which the form's fields have their borders; below, one line each,
so that it fits 24 rows with its buttons."""


PLAIN_LDM_NO = "not taken by Oracle's ldm migrate-domain"
PLAIN_LDM_LIVE = ("Oracle's ldm has no --live: from release 2.1 on it moves an active domain live by itself, "
                  "and earlier releases suspend it")


class MigrateForm(ArmedAfterFirstFrame, ModalScreen["MigrateRequest | None"]):
    """Target host, user, password, new name, bandwidth cap, dry run, live and its downtime
    limit. ``esc`` leaves without migrating; a value the command would refuse is refused
    here, with the form left open as it was typed.

    The first field to fill in has the focus from the first frame, and the form submits
    only once it has been drawn: an ``enter`` typed right after ``m`` never migrates."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="migrate.cancel")]

    def __init__(self, source_host: str, domain: str, targets: list[str], *, user: str,
                 live_supported: bool = False, lab_passwords: Mapping[str, str] | None = None,
                 peer_paths: Mapping[str, str] | None = None, plain_ldm: bool = False) -> None:
        super().__init__()
        self.plain_ldm = plain_ldm
        """The source is reached through Oracle's ``ldm`` alone (protocol ``ldm``): only what
        its ``migrate-domain`` takes is offered (``-n``, the user, the new name)."""
        self.peer_paths = dict(peer_paths or {})
        """How the source's manager reaches each peer, as its snapshot says (``direct``,
        ``via bastion``): the migration's path is the source's, not the console's."""
        self.lab_passwords = dict(lab_passwords or {})
        """Passwords the console holds for lab hosts: filled in, and the form says so."""
        self._filled = ""
        self.source_host = source_host
        self.domain = domain
        self.targets = targets
        self.default_user = user
        self.live_supported = live_supported
        if len(targets) != 1:
            self.AUTO_FOCUS = "#target"
        else:
            # Nothing left to type when the lab's password is filled in: enter migrates.
            self.AUTO_FOCUS = "#go" if self.lab_passwords.get(targets[0]) else "#password"

    def compose(self) -> ComposeResult:
        short = self.app.size.height < FULL_FORM_ROWS
        self.set_class(short, "short")
        first = self.targets[0] if len(self.targets) == 1 else ""
        self._filled = self.lab_passwords.get(first, "")
        with Vertical(classes="dialog", id="migrate-form"):
            yield Static(Text(f"Migrate {self.domain} from {self.source_host}"), classes="title")
            yield Static(Text(self.path_text(first)), id="route")
            with Grid(id="form-fields"):
                yield Static("Target host", classes="field-label")
                yield Select([(t, t) for t in self.targets], prompt="connected hosts…", id="target",
                             allow_blank=True, value=first or Select.NULL, compact=short)
                yield Static("", classes="field-label")
                yield Input(placeholder="or type USER@HOST" if self.plain_ldm else "or type USER@HOST[:PORT]",
                            id="typed-target", compact=short)
                yield Static("User on the target", classes="field-label")
                yield Input(value=self.default_user, id="user", compact=short)
                yield Static("Target password" + ("\n(lab password filled in)" if self.lab_passwords else ""),
                             classes="field-label", id="password-label")
                yield Input(value=self._filled, password=True, placeholder="password of the user on the target",
                            id="password", compact=short)
                yield Static("New name on the target", classes="field-label")
                yield Input(placeholder="optional: same as the domain", id="new-name", compact=short)
                yield Static("Bandwidth cap (-b)", classes="field-label")
                yield Input(placeholder=PLAIN_LDM_NO if self.plain_ldm else "optional: bytes a second, e.g. 100M",
                            id="bandwidth", compact=short, disabled=self.plain_ldm)
                with Horizontal(classes="row"):
                    yield TickBox("Dry run (-n): check only", id="dry-run")
                    offered = self.live_supported and not self.plain_ldm
                    live = TickBox("Live (--live): copy while it runs", id="live", disabled=not offered)
                    live.tooltip = PLAIN_LDM_LIVE if self.plain_ldm else LIVE_HELP if offered else LIVE_TOOLTIP
                    yield live
                yield Static("Downtime limit (-d)", classes="field-label")
                yield Input(placeholder="live only: milliseconds, e.g. 300", id="downtime", disabled=True,
                            compact=short)
            yield Static("", id="form-error", classes="failure")
            with Horizontal(classes="buttons"):
                yield Button("Migrate", id="go", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_resize(self, event: events.Resize) -> None:
        short = event.size.height < FULL_FORM_ROWS
        if short != self.has_class("short"):
            self.set_class(short, "short")
            for field in self.query("#form-fields Input, #form-fields Select"):
                field.compact = short  # type: ignore[attr-defined]

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        if event.checkbox.id == "live":
            # The downtime limit is a live migration's: without --live there is nothing to limit.
            self.query_one("#downtime", Input).disabled = not event.value

    def on_mount(self) -> None:
        self._arm_after_first_frame()

    def _fill_password(self, host: str) -> None:
        """Fill in the lab password of ``host`` unless the operator typed one of their own."""
        box = self.query_one("#password", Input)
        if box.value and box.value != self._filled:
            return
        self._filled = self.lab_passwords.get(host, "")
        box.value = self._filled

    def path_text(self, target: str) -> str:
        """The way the source's manager will take to ``target``, as far as the console knows."""
        source = self.source_host
        if self.plain_ldm:
            return f"Path from {source}: as its own name service resolves the target (Oracle's ldm)"
        path = self.peer_paths.get(target) if target else None
        if path is None:
            return f"Path from {source}: as its peers table" + (" and ssh_config say" if target else " says")
        if path.startswith("unknown"):
            return f"Path from {source}: none known to it"
        tunnelled = "; memory tunnelled" if path.startswith("via ") else ""
        return f"Path from {source}: {path} (its peers table{tunnelled})"

    def _show_path(self) -> None:
        try:
            typed_box, route = self.query_one("#typed-target", Input), self.query_one("#route", Static)
        except NoMatches:
            return              # a change while the form is still being built: compose drew it
        try:
            _, typed, _ = split_typed_target(typed_box.value)
        except ValueError:
            typed = ""
        chosen = self.query_one("#target", Select).value
        route.update(Text(self.path_text(typed or ("" if chosen is Select.NULL else str(chosen)))))

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "target":
            self._show_path()
        if event.select.id == "target" and event.value is not Select.NULL:
            self._fill_password(str(event.value))
            if self._filled and self.query_one("#password", Input).value == self._filled:
                self.query_one("#go").focus()     # nothing left to type: enter migrates

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "typed-target":
            self._show_path()
        if event.input.id == "typed-target" and self.lab_passwords:
            try:
                _, host, _ = split_typed_target(event.value)
            except ValueError:
                return
            if host in self.lab_passwords:
                self._fill_password(host)

    def _refuse(self, message: str, field: str | None = None) -> None:
        """Say what is wrong in the form, and go to the field to fix (its value kept)."""
        self.query_one("#form-error", Static).update(message)
        for box in self.query("#form-fields Input"):
            box.set_class(box.id == field, "-invalid")
        if field is not None:
            self.query_one(f"#{field}").focus()

    def request(self) -> MigrateRequest | None:
        """The form's values, or ``None`` with the reason shown in the form."""
        try:
            typed_user, typed, port = split_typed_target(self.query_one("#typed-target", Input).value)
        except ValueError as exc:
            self._refuse(str(exc), "typed-target")
            return None
        if port is not None and self.plain_ldm:
            self._refuse("Oracle's ldm takes no port: type the target host alone (it reaches the target's "
                         "ldmd where that listens).", "typed-target")
            return None
        chosen = self.query_one("#target", Select).value
        target = typed or ("" if chosen is Select.NULL else str(chosen))
        if not target:
            self._refuse("Choose a target host or type one.")
            return None
        if target == self.source_host:
            self._refuse(f"{self.domain} is already on {self.source_host}; choose another host.")
            return None
        user = typed_user or self.query_one("#user", Input).value.strip()
        new_name = self.query_one("#new-name", Input).value.strip()
        if new_name and (":" in new_name or "@" in new_name or " " in new_name):
            self._refuse(f"Invalid domain name: {new_name}", "new-name")
            return None
        live = self.live_supported and not self.plain_ldm and self.query_one("#live", Checkbox).value
        bandwidth = "" if self.plain_ldm else self.query_one("#bandwidth", Input).value.strip()
        downtime = self.query_one("#downtime", Input).value.strip() if live else ""
        try:
            bandwidth = parse_bandwidth(bandwidth) if bandwidth else ""
        except ValueError as exc:
            self._refuse(str(exc), "bandwidth")
            return None
        try:
            downtime_ms = parse_downtime(downtime) if downtime else None
        except ValueError as exc:
            self._refuse(str(exc), "downtime")
            return None
        self._refuse("")
        return MigrateRequest(
            source_host=self.source_host,
            domain=self.domain,
            target_host=target,
            port=port,
            user=user,
            password=self.query_one("#password", Input).value,
            new_name=new_name,
            dry_run=self.query_one("#dry-run", Checkbox).value,
            live=live,
            bandwidth=bandwidth,
            downtime_ms=downtime_ms,
        )

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "go":
            self._submit()
        else:
            self.dismiss(None)

    def _submit(self) -> None:
        if not self.armed:
            return              # typed before the form was on screen
        request = self.request()
        if request is not None:
            self.dismiss(request)

    def action_cancel(self) -> None:
        self.dismiss(None)
