"""The migrate form's fields: checkboxes that say their state, placeholders that look like
hints, the bandwidth cap and the downtime limit (SPEC T-3, B-1, B-2)."""

from __future__ import annotations

import pytest
from textual.widgets import Input

from ldtui.core.cmd_args import COMMANDS, Context
from ldtui.core.cmd_migrate import migrate_domain  # noqa: F401  (registers the command)
from ldtui.core.errors import LdmError
from ldtui.screens.migrate import MigrateForm, MigrateRequest, parse_bandwidth, parse_downtime
from ldtui.widgets.tickbox import TickBox
from tests.tui.scenario import console, screen_text, seed_hosts, settle


def loaded(app):
    return lambda: all(v.snapshot is not None for v in app.fleet.hosts.values())


async def open_form(pilot, app, key: str = "t5440-sys-1/ldg1") -> MigrateForm:
    await settle(pilot, loaded(app))
    assert app.main_screen().domains_table.select_key(key)
    await pilot.pause()
    await pilot.press("m")
    form = app.screen
    assert isinstance(form, MigrateForm)
    await settle(pilot, lambda: form.armed)
    return form


class _Manager:
    hostname = "t5440-sys-1"

    def domain(self, name: str) -> None:
        return None


def as_migrate_domain_reads_it(argv: list[str]):
    """``ldm migrate-domain …`` parsed by the manager's own command (no migration is run)."""
    spec = COMMANDS["migrate-domain"]
    return spec.handler(Context(_Manager(), "root"), argv[1:], spec).request


# -- checkboxes and placeholders -------------------------------------------------------------


@pytest.mark.parametrize("theme", ["ldtui-dark", "ldtui-light", "ldtui-high-contrast"])
async def test_checkboxes_draw_their_state_as_text_in_every_theme(theme):
    a, b = seed_hosts()
    app = console(a, b, theme=theme)
    async with app.run_test(size=(140, 40)) as pilot:
        form = await open_form(pilot, app)
        dry_run = form.query_one("#dry-run", TickBox)
        live = form.query_one("#live", TickBox)
        assert dry_run.render().plain.strip() == "[ ] Dry run (-n): check only"
        assert live.render().plain.startswith("[ ] Live (--live)")
        assert "[ ] Dry run (-n): check only" in screen_text(app)
        await pilot.click("#dry-run")
        await pilot.pause()
        assert dry_run.value and dry_run.render().plain.startswith("[x] ")
        assert "[x] Dry run (-n): check only" in screen_text(app)
        assert "▐X▌" not in screen_text(app)
        await pilot.click("#dry-run")
        await pilot.pause()
        assert not dry_run.value and "[ ] Dry run" in screen_text(app)


async def test_placeholders_read_as_hints_not_as_typed_values():
    a, b = seed_hosts()
    app = console(a, b)
    async with app.run_test(size=(140, 40)) as pilot:
        form = await open_form(pilot, app)
        new_name = form.query_one("#new-name", Input)
        assert new_name.value == "" and new_name.placeholder == "optional: same as the domain"
        style = new_name.get_component_rich_style("input--placeholder")
        assert style.italic
        assert style.color != form.query_one("#user", Input).rich_style.color    # not the typed text's colour
        for box in form.query(Input):
            if box.placeholder and not box.password:
                assert not box.placeholder.startswith(form.domain), box.id        # never a value lookalike


# -- bandwidth cap and downtime limit ----------------------------------------------------------


def test_argv_carries_the_bandwidth_cap_and_the_live_downtime_limit():
    request = MigrateRequest(source_host="t5440-sys-1", domain="ldg1", target_host="t5440-sys-2", user="root",
                             live=True, bandwidth="100M", downtime_ms=250.0)
    assert request.argv() == ["migrate-domain", "--live", "-d", "250", "-b", "100M", "ldg1", "root@t5440-sys-2"]
    parsed = as_migrate_domain_reads_it(request.argv())
    assert (parsed.live, parsed.bandwidth, parsed.downtime_ms) == (True, 100 << 20, 250.0)
    # Without --live there is no downtime to limit: -d is not sent.
    still = MigrateRequest(source_host="t5440-sys-1", domain="ldg1", target_host="t5440-sys-2", user="root",
                           dry_run=True, bandwidth="64M/s", downtime_ms=250.0, port=2022)
    assert still.argv() == ["migrate-domain", "-n", "-b", "64M/s", "-P", "2022", "ldg1", "root@t5440-sys-2"]
    assert as_migrate_domain_reads_it(still.argv()).bandwidth == 64 << 20


@pytest.mark.parametrize("text", ["100M", "1048576", "64M/s", "2G", "512K", "0", "-5M", "fast", "100MB", "1.5M",
                                  ""])
def test_the_form_refuses_the_bandwidth_migrate_domain_refuses(text):
    try:
        as_migrate_domain_reads_it(["migrate-domain", "-b", text, "ldg1", "t5440-sys-2"])
        core_ok = True
    except LdmError as exc:
        core_ok, core_message = False, exc.message
    try:
        parse_bandwidth(text)
        form_ok = True
    except ValueError as exc:
        form_ok, form_message = False, str(exc)
    assert form_ok == core_ok
    if not form_ok:
        assert form_message == core_message


@pytest.mark.parametrize("text", ["300", "300ms", "0.5", "600000", "600001", "0", "-1", "soon", "nan", "inf", ""])
def test_the_form_refuses_the_downtime_migrate_domain_refuses(text):
    try:
        as_migrate_domain_reads_it(["migrate-domain", "--live", "-d", text, "ldg1", "t5440-sys-2"])
        core_ok = True
    except LdmError as exc:
        core_ok, core_message = False, exc.message
    try:
        parse_downtime(text)
        form_ok = True
    except ValueError as exc:
        form_ok, form_message = False, str(exc)
    assert form_ok == core_ok
    if not form_ok:
        assert form_message == core_message


async def test_the_cap_and_the_limit_typed_in_the_form_reach_migrate_domain():
    a, b = seed_hosts()
    app = console(a, b)
    async with app.run_test(size=(140, 40)) as pilot:
        form = await open_form(pilot, app)
        downtime = form.query_one("#downtime", Input)
        assert downtime.disabled                                     # live only
        form.query_one("#password", Input).value = "pw"
        form.query_one("#bandwidth", Input).value = "100M"
        await pilot.click("#live")
        await pilot.pause()
        assert not downtime.disabled
        downtime.value = "250"
        await pilot.click("#go")
        await settle(pilot, lambda: a.calls)
        assert a.calls[0] == (["migrate-domain", "--live", "-d", "250", "-b", "100M", "ldg1", "root@t5440-sys-2"],
                              "pw")


async def test_a_downtime_limit_left_behind_when_live_is_unticked_is_not_sent():
    a, b = seed_hosts()
    app = console(a, b)
    async with app.run_test(size=(140, 40)) as pilot:
        form = await open_form(pilot, app)
        form.query_one("#password", Input).value = "pw"
        await pilot.click("#live")
        await pilot.pause()
        form.query_one("#downtime", Input).value = "soon"            # not even valid: it is not asked for
        await pilot.click("#live")
        await pilot.pause()
        assert form.query_one("#downtime", Input).disabled
        await pilot.click("#go")
        await settle(pilot, lambda: a.calls)
        assert a.calls[0][0] == ["migrate-domain", "ldg1", "root@t5440-sys-2"]


@pytest.mark.parametrize("field, typed, message", [
    ("bandwidth", "fast", "Invalid bandwidth: fast (bytes a second, e.g. 200M)"),
    ("bandwidth", "0", "Invalid bandwidth: 0 (bytes a second, e.g. 200M)"),
    ("downtime", "soon", "Invalid downtime limit: soon (milliseconds, e.g. 300)"),
    ("downtime", "700000", "Invalid downtime limit: 700000 (milliseconds, e.g. 300)"),
])
async def test_a_bad_cap_or_limit_is_refused_in_the_form_and_nothing_typed_is_lost(field, typed, message):
    a, b = seed_hosts()
    app = console(a, b)
    async with app.run_test(size=(140, 40)) as pilot:
        form = await open_form(pilot, app)
        form.query_one("#password", Input).value = "pw"
        form.query_one("#new-name", Input).value = "ldg-tgt"
        await pilot.click("#live")
        await pilot.pause()
        box = form.query_one(f"#{field}", Input)
        box.value = typed
        await pilot.click("#go")
        await pilot.pause()
        assert app.screen is form and a.calls == []
        assert str(form.query_one("#form-error").render()) == message
        assert box.has_class("-invalid") and app.focused is box      # where to fix it
        assert (box.value, form.query_one("#new-name", Input).value) == (typed, "ldg-tgt")
        assert form.query_one("#password", Input).value == "pw" and form.query_one("#live", TickBox).value
        box.value = "100M" if field == "bandwidth" else "300"
        await pilot.press("enter")                                    # submitted from the field itself
        await settle(pilot, lambda: a.calls)
        sent = a.calls[0][0]
        assert sent[sent.index("-b" if field == "bandwidth" else "-d") + 1] == box.value


async def test_on_a_24_row_terminal_every_field_and_the_buttons_fit():
    a, b = seed_hosts()
    app = console(a, b)
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_form(pilot, app)
        assert form.has_class("short")
        shown = screen_text(app)
        for text in ("Target host", "User on the target", "Target password", "New name on the target",
                     "Bandwidth cap (-b)", "[ ] Dry run", "[ ] Live (--live)", "Downtime limit (-d)", "Migrate",
                     "Cancel"):
            assert text in shown, text
        await pilot.resize_terminal(140, 40)                         # and back to fields with borders
        await settle(pilot, lambda: not form.has_class("short"))
        assert not form.query_one("#bandwidth", Input).compact


async def test_the_form_says_which_way_the_source_manager_takes_to_the_target():
    """S-3, T-3: the migration's path is the source manager's, as its snapshot reports its
    peers table (the console's own path may differ); a target it does not report is said so."""
    a, b = seed_hosts()
    a.peer_paths = (("t5440-sys-2", "via ops@bastion:22"),)
    app = console(a, b)
    async with app.run_test(size=(140, 40)) as pilot:
        form = await open_form(pilot, app)
        assert "Path from t5440-sys-1: via ops@bastion:22 (its peers table; memory tunnelled)" in screen_text(app)
        form.query_one("#typed-target", Input).value = "root@t5440-sys-9"
        await pilot.pause()
        assert "Path from t5440-sys-1: as its peers table and ssh_config say" in screen_text(app)


# -- the request value the console sends -------------------------------------------------------


@pytest.mark.parametrize("request_", [
    MigrateRequest(source_host="t5440-sys-1", domain="ldg1", target_host="t5440-sys-2", user="root",
                   live=True, bandwidth="100M", downtime_ms=250.0),
    MigrateRequest(source_host="t5440-sys-1", domain="ldg1", target_host="t5440-sys-2", user="root",
                   dry_run=True, bandwidth="64M/s", downtime_ms=250.0, port=2022),
    MigrateRequest(source_host="t5440-sys-1", domain="ldg-src", target_host="t5440-sys-2", user="admin",
                   new_name="ldg-tgt", password="secret"),
    MigrateRequest(source_host="t5440-sys-1", domain="ldg1", target_host="t5440-sys-2", user="",
                   new_name="1234"),
])
def test_the_request_value_means_what_its_command_line_means(request_):
    from ldtui.core.cmd_migrate import migration_request

    typed = migration_request(Context(_Manager(), "root"), request_.migration())
    assert typed == as_migrate_domain_reads_it(request_.argv())
    assert request_.migration().password is None          # the password travels beside the request


@pytest.mark.parametrize("text,expected", [
    ("root@t5440-sys-2:2022", ("root", "t5440-sys-2", 2022)),
    (" t5440-sys-2 ", ("", "t5440-sys-2", None)),
    ("admin@[fd00::2]:2022", ("admin", "fd00::2", 2022)),
    ("fd00::2", ("", "fd00::2", None)),
    ("root@", ("root", "", None)),
])
def test_the_typed_target_is_a_host_field(text, expected):
    from ldtui.screens.migrate import split_typed_target

    assert split_typed_target(text) == expected


@pytest.mark.parametrize("text,message", [
    ("root@t5440-sys-2:ssh", "Invalid port: ssh"), ("t5440-sys-2:ldg-tgt", "Invalid port: ldg-tgt"),
    ("t5440-sys-2:70000", "Invalid port: 70000"),
])
def test_after_the_colon_of_the_typed_target_only_a_port(text, message):
    from ldtui.screens.migrate import split_typed_target

    with pytest.raises(ValueError, match=f"^{message}$"):
        split_typed_target(text)
