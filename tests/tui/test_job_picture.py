"""The jobs view's picture of the selected migration: its rate and dirty rate over time as
this console sampled them, and the memory each round sent as the source recorded it
(SPEC T-4, B-1, B-4; issue 12 item 5)."""

from __future__ import annotations

import asyncio
import itertools
import re

import attrs

from ldtui.console.fleet import Fleet
from ldtui.console.job_history import RateHistory
from ldtui.widgets.job_picture import job_picture, nice_top, rate_lines, round_lines
from tests.tui.fakes import M, domain, job
from tests.tui.scenario import console, screen_text, seed_hosts, settle

T0 = 1_700_000_000.0      # 22:13:20 UTC


def live(rate=64 * M, dirty=8 * M, **changes):
    base = job("ldg-src", "source", "t5440-sys-2", peer_domain="ldg-tgt", job_id="m-2", started=T0)
    return attrs.evolve(base, live=True, rate=rate, dirty_rate=dirty, **changes)


def snapshot_of(host):
    return asyncio.run(host.snapshot())


# -- the history: pure ---------------------------------------------------------------------

def test_the_history_keeps_one_sample_a_poll_and_only_the_newest_ones():
    history = RateHistory(samples_kept=5)
    for t in range(8):
        history.note(live(rate=t * M), T0 + t)
    samples = history.samples("m-2")
    assert [s.rate for s in samples] == [3 * M, 4 * M, 5 * M, 6 * M, 7 * M]
    assert history.since("m-2") == T0 + 3
    # The same host asked again out of turn: that look replaces the last, it adds none.
    history.note(live(rate=9 * M), T0 + 7.2)
    assert len(history.samples("m-2")) == 5 and history.last("m-2").rate == 9 * M
    assert history.last("m-2").when == T0 + 7


def test_the_history_forgets_the_job_sampled_longest_ago_first_and_samples_only_running_ones():
    history = RateHistory(jobs_kept=2)
    for n in range(3):
        history.note(attrs.evolve(live(), id=f"m-{n}"), T0 + n)
    assert history.samples("m-0") == () and len(history) == 2
    history.note(attrs.evolve(live(), id="m-1", state="completed"), T0 + 9)
    assert history.last("m-1").when == T0 + 1          # a finished job keeps what it had


def test_a_job_seen_from_both_hosts_is_sampled_once_from_its_source():
    a, b = seed_hosts()
    src = live(rate=64 * M, dirty=8 * M)
    tgt = attrs.evolve(src, role="target", domain="ldg-tgt", peer_host="t5440-sys-1", rate=60 * M, dirty_rate=0.0)
    b.jobs = [tgt]
    fleet = Fleet(["t5440-sys-1", "t5440-sys-2"])
    fleet.apply("t5440-sys-2", snapshot_of(b), T0 + 1)           # the target answers first
    assert [s.rate for s in fleet.history.samples("m-2")] == [60 * M]
    a.jobs = [src]
    for t in range(2, 6):
        fleet.apply("t5440-sys-1", snapshot_of(a), T0 + t)
        fleet.apply("t5440-sys-2", snapshot_of(b), T0 + t + 0.3)
    samples = fleet.history.samples("m-2")
    # From the source's first answer on, only the source: its dirty rate, one a poll.
    assert [(s.when, s.rate, s.dirty_rate) for s in samples] == [(T0 + t, 64 * M, 8 * M) for t in range(2, 6)]
    assert fleet.history.since("m-2") == T0 + 2


def test_a_console_started_mid_migration_has_its_samples_from_then_and_all_the_rounds():
    a, b = seed_hosts()
    rounds = (330 * M, 76 * M, 12 * M)
    a.jobs = [live(iteration=2, round_bytes=rounds)]
    first = Fleet(["t5440-sys-1"])
    for t in range(10):
        first.apply("t5440-sys-1", snapshot_of(a), T0 + t)
    assert len(first.history.samples("m-2")) == 10
    later = Fleet(["t5440-sys-1"])                              # the console restarted
    later.apply("t5440-sys-1", snapshot_of(a), T0 + 60)
    assert len(later.history.samples("m-2")) == 1 and later.history.since("m-2") == T0 + 60
    assert later.jobs["m-2"].round_bytes == rounds              # the host kept those
    picture = job_picture(later.jobs["m-2"], later.history.samples("m-2"), 100).plain.splitlines()
    assert "since 22:14:20 (started 22:13:20)" in picture[-1]


# -- the picture: pure ---------------------------------------------------------------------

def test_rates_share_one_scale_from_zero_and_one_column_is_one_sample():
    history = RateHistory()
    for t in range(10):
        history.note(live(rate=60 * M, dirty=15 * M), T0 + t)
    lines = [line.plain for line in rate_lines(live(rate=60 * M, dirty=15 * M), history.samples("m-2"), 50)]
    assert lines[0].startswith("█ rate 60.0M/s  █ dirty 15.0M/s  scale 0–60M/s")
    assert all(len(line) == 50 for line in lines)
    # Narrower, the title says the same in fewer columns.
    assert rate_lines(live(rate=60 * M, dirty=15 * M), history.samples("m-2"), 40)[0].plain == \
        "█ rate 60.0M/s █ dirty 15.0M/s top 60M/s"
    plot = lines[1:5]
    assert [row[:10] for row in plot] == ["█" * 10] * 4 and plot[0][10:].strip() == ""
    # A quarter of the scale: the bottom row's whole cell is the dirty rate (its colour).
    styles = {str(span.style) for span in rate_lines(live(rate=60 * M, dirty=15 * M),
                                                     history.samples("m-2"), 50)[4].spans}
    assert "$warning" in styles
    assert lines[5].split() == ["since", "22:13:20", "22:13:29"]


def test_many_samples_are_averaged_into_the_columns_there_are():
    history = RateHistory()
    for t in range(100):
        history.note(live(rate=(t % 2) * 40 * M), T0 + t)
    lines = rate_lines(live(), history.samples("m-2"), 30)
    assert len(lines[-2].plain.rstrip()) == 25          # 4 samples a column
    assert nice_top(20 * M) == 20 * M and nice_top(21 * M) == 30 * M and nice_top(610 * M) == 800 * M


def test_rounds_are_bars_shrinking_toward_the_switchover_the_suspended_one_marked():
    done = live(state="completed", iteration=3, round_bytes=(330 * M, 76 * M, 18 * M, 3 * M), suspended_round=3)
    lines = round_lines(done, 32)
    text = [line.plain for line in lines]
    assert text[0] == "pre-copy rounds  █ suspended".ljust(32)
    assert text[1].split()[-2:] == ["0", "330.0M"] and text[4].split()[-3:] == ["3", "3.0M", "suspended"]
    # Four rounds in ten columns: a column and a gap each.
    bars = [row[:8] for row in text[1:5]]
    assert bars[0] == "█       " and bars[3][:4] == "█ ▇ "         # round 1 only in the lowest line
    suspended_bar = lines[4][6:7]
    assert suspended_bar.plain == "▁" and str(suspended_bar.spans[0].style) == "$warning"
    assert text[5].startswith("4 rounds, 427.0M sent")
    # More rounds than lines: the first, a gap, the latest.
    many = live(iteration=9, round_bytes=tuple((10 - n) * M for n in range(10)))
    listed = [line.plain[11:].strip() for line in round_lines(many, 32)[1:5]]
    assert listed == ["0 10.0M", "…", "8 2.0M", "9 1.0M sending"]


def test_a_suspended_copy_is_one_round():
    warm = attrs.evolve(live(), live=False, dirty_rate=0.0, round_bytes=(430 * M,), suspended_round=0)
    text = [line.plain for line in round_lines(warm, 32)]
    assert text[0].startswith("one round (suspended copy)")
    assert "0 430.0M suspended" in text[1]
    title = rate_lines(warm, (), 40)[0].plain
    assert title.startswith("█ rate 64.0M/s") and "dirty" not in title


def test_the_picture_fits_every_width_from_80_columns():
    samples = RateHistory()
    for t in range(300):
        samples.note(live(round_bytes=(330 * M, 76 * M)), T0 + t)
    for width in (78, 100, 118, 138, 158, 238):
        for bars in (4, 8):
            lines = job_picture(live(round_bytes=(330 * M, 76 * M)), samples.samples("m-2"), width, bars)
            assert [len(line) for line in lines.plain.split("\n")] == [width] * (bars + 2)


# -- on screen -----------------------------------------------------------------------------

async def test_the_jobs_tab_draws_the_rates_and_the_rounds_of_a_live_job_as_they_come():
    a, b = seed_hosts()
    a.set("ldg-src", flags="-n---s")
    b.domains.append(domain("ldg-tgt", state="bound", flags="-----t", vcpus=1))
    app = console(a, b, poll=0.05)
    ticks = itertools.count()
    app.clock = lambda: T0 + next(ticks)           # a second passes between any two looks
    states = [live(rate=(60 + n % 3) * M, dirty=(4 + n // 10) * M, iteration=n // 10,
                   round_bytes=(330 * M, 76 * M, 12 * M)[:n // 10] + ((n % 10 + 1) * M,)) for n in range(30)]
    a.jobs = [states[0]]
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, lambda: all(v.snapshot is not None for v in app.fleet.hosts.values()))
        await pilot.press("J")
        for state in states[1:]:
            a.jobs = [state]
            await settle(pilot, lambda: app.fleet.jobs["m-2"] == state)
        await settle(pilot, lambda: "2 10.0M sending" in screen_text(app))
        screen = screen_text(app).splitlines()
        picture = screen[next(i for i, line in enumerate(screen) if "█ rate" in line):][:6]
        assert "█ dirty 6.0M/s" in picture[0] and "pre-copy rounds" in picture[0]
        assert picture[1].split("│")[1].split() == ["██", "0", "330.0M"]
        assert "1 76.0M" in picture[2] and "2 10.0M sending" in picture[3]
        # When the console's history of it begins (polls come twice as often while it runs).
        assert re.match(r"since \d\d:\d\d:\d\d", picture[5].split("│")[0].strip())
        assert len(app.fleet.history.samples("m-2")) >= 29
        # The rate plot has a column per sample: as many bars as looks in the bottom line.
        assert len(picture[4].split("│")[0].strip()) >= 29
