"""The screens the snapshot tests pin and ``python -m tests.tui.shots`` draws into screenshots/.

Deterministic: fake hosts, a frozen clock, a fixed terminal size, blinking off.
"""

from __future__ import annotations

import attrs
from textual.widgets import Input

from tests.tui.fakes import M, FakeHost, domain, job
from tests.tui.scenario import FROZEN, console, seed_hosts, settle

SIZE = (140, 40)
SIZES = {"main-80x24": (80, 24), "main-160x45": (160, 45), "jobs-80x24": (80, 24)}
"""Scenes drawn at another terminal size than ``SIZE``: the narrow layout and a large
terminal."""


def size_of(scene: str) -> tuple[int, int]:
    return SIZES.get(scene, SIZE)


STARTED = FROZEN - 66
"""The live migration of the scenes started a minute before the frozen clock's now."""


def mid_migration() -> tuple[FakeHost, FakeHost]:
    """ldg-src moving live to t5440-sys-2 as ldg-tgt at 42 %, an earlier failure in the history."""
    a, b = seed_hosts()
    src = job("ldg-src", "source", "t5440-sys-2", peer_domain="ldg-tgt", progress=42, job_id="m-2",
              started=STARTED)
    tgt = job("ldg-tgt", "target", "t5440-sys-1", peer_domain="ldg-src", progress=42, job_id="m-2",
              started=STARTED)
    old = job("ldg1", "source", "t5440-sys-2", phase=1, progress=0, state="failed", job_id="m-1",
              reason="Unable to bind 2G memory region at real address 0x8000000")
    # A live migration (B-1) in its third round (iteration 2): the first full copy, one
    # round of what the guest dirtied meanwhile, and the next one being sent; the source
    # still runs.
    rounds = (330 * M, 76 * M)
    live = dict(live=True, iteration=2, rate=6.6 * M, dirty_rate=1.4 * M, expected_downtime_ms=860.0,
                transport="native", streams=1, round_bytes=(*rounds, src.bytes_sent - sum(rounds)))
    src, tgt = attrs.evolve(src, **live), attrs.evolve(tgt, **live)
    a.set("ldg-src", state="active", flags="-n---s", vcpus=4, migration=src)
    a.jobs = [old, src]
    b.domains.append(domain("ldg-tgt", state="bound", flags="-----t", vcpus=1, memory=2 << 30, migration=tgt))
    b.jobs = [tgt]
    return a, b


async def _loaded(pilot) -> None:
    app = pilot.app
    await settle(pilot, lambda: all(v.snapshot is not None for v in app.fleet.hosts.values()))
    for box in app.query(Input):
        box.cursor_blink = False


def main_screen():
    app = console(*mid_migration(), poll=0.2)

    async def before(pilot) -> None:
        await _loaded(pilot)
        app.main_screen().domains_table.select_key("t5440-sys-1/ldg1")
        await pilot.pause()

    return app, before


def main_screen_over_ldm():
    """The same fleet reached through Oracle's ``ldm`` (protocol ``ldm``): what it does not
    print is marked, and the migration shows only its percent."""
    a, b = mid_migration()
    for host in (a, b):
        host.unreported = ("processor", "incoming", "job-detail")
        host.path = "direct · ldm"
        host.domains = [attrs.evolve(d, migration=attrs.evolve(
            d.migration, phase=0, phase_name="", bytes_total=0, bytes_sent=0, bytes_remaining=0,
            bytes_on_wire=0, rate=0.0, dirty_rate=0.0, round_bytes=(), live=False, transport="", streams=0,
            expected_downtime_ms=0.0)) if d.migration else d for d in host.domains]
        host.jobs = [attrs.evolve(j, phase=0, phase_name="", bytes_total=0, bytes_sent=0, rate=0.0,
                                  round_bytes=(), live=False, transport="", streams=0) for j in host.jobs]
    app = console(a, b, poll=0.2)

    async def before(pilot) -> None:
        await _loaded(pilot)
        app.main_screen().domains_table.select_key("t5440-sys-1/ldg-src")
        await pilot.pause()

    return app, before


def jobs_view_over_ldm():
    app, loaded = main_screen_over_ldm()

    async def before(pilot) -> None:
        await loaded(pilot)
        await pilot.press("J")
        await pilot.pause()

    return app, before


def migrate_form():
    """The form as the embedded lab shows it: the lab's password already filled in, a new
    name typed, Live ticked (so the downtime limit is open)."""
    app = console(*seed_hosts(), poll=0.2)
    app.lab_passwords.update({"t5440-sys-1": "solaris", "t5440-sys-2": "solaris"})

    async def before(pilot) -> None:
        await _loaded(pilot)
        app.main_screen().domains_table.select_key("t5440-sys-1/ldg-src")
        await pilot.press("m")
        for box in app.screen.query(Input):
            box.cursor_blink = False
        app.screen.query_one("#new-name", Input).value = "ldg-tgt"
        app.screen.query_one("#live").value = True          # one box ticked, one not
        await pilot.pause()

    return app, before


def rate_samples(job, until: float = FROZEN):
    """What a console open since the migration started sampled of it, once a second: the
    rate settling after the first seconds, the guest dirtying a little faster in the later
    rounds (made up, the same in every run)."""
    seconds = int(until - job.started)
    for t in range(1, seconds):
        rate = min(t, 3) / 3 * (6.4 + 0.3 * ((t * 7) % 5) / 4) * M
        dirty = (0.9 + 0.5 * min(t / seconds, 1.0) + 0.2 * ((t * 3) % 4) / 3) * M
        yield attrs.evolve(job, rate=rate, dirty_rate=dirty, bytes_sent=int(job.bytes_sent * t / seconds)), \
            job.started + t


def jobs_view():
    """The jobs view during the live migration of ``mid_migration``, watched from its start."""
    hosts = mid_migration()
    app = console(*hosts, poll=0.2)
    running = next(j for j in hosts[0].jobs if j.state == "running")
    for sample, when in rate_samples(running):
        app.fleet.history.note(sample, when)

    async def before(pilot) -> None:
        await _loaded(pilot)
        await pilot.press("J")
        await pilot.pause()

    return app, before


def recovery_wizard():
    a, b = seed_hosts()
    err = job("ldg-src", "source", "t5440-sys-2", peer_domain="ldg-tgt", phase=4, progress=100, state="error",
              reason="link lost after all state was sent")
    a.set("ldg-src", state="suspended", flags="-n---e", vcpus=1, migration=err)
    a.jobs = [err]
    b.domains.append(domain("ldg-tgt", vcpus=1, memory=2 << 30, uptime=40))
    app = console(a, b, poll=0.2)

    async def before(pilot) -> None:
        await _loaded(pilot)
        app.main_screen().domains_table.select_key("t5440-sys-1/ldg-src")
        await pilot.press("r")
        await settle(pilot, lambda: getattr(app.screen, "plan", None) is not None)

    return app, before


def help_screen():
    app = console(*seed_hosts(), poll=0.2)

    async def before(pilot) -> None:
        await _loaded(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    return app, before


SCENES = {
    "main": main_screen,
    "main-80x24": main_screen,
    "main-160x45": main_screen,
    "main-ldm": main_screen_over_ldm,
    "migrate-form": migrate_form,
    "jobs": jobs_view,
    "jobs-80x24": jobs_view,
    "jobs-ldm": jobs_view_over_ldm,
    "recovery": recovery_wizard,
    "help": help_screen,
}
