"""How fast each migration went while this console watched: rate and dirty rate over time.

The hosts report only the present (the rate of the last second); the jobs view draws the
past, so the console keeps it: one sample per job each time a host's snapshot arrives
(about once a second), bounded, in plain Python so it is tested without a screen. A console
started in the middle of a migration has its samples from then on, and says so.
"""

from __future__ import annotations

from collections import OrderedDict, deque

import attrs

from ldtui.core.snapshot import MigrationProgress

SAMPLES_KEPT = 900
"""Samples per job: a quarter of an hour at one a second; older ones are dropped."""
JOBS_KEPT = 32
"""Jobs with samples; the one not sampled for the longest is forgotten first."""
MIN_SPACING = 0.5
"""Seconds: a snapshot that follows the last sample closer than this (the same host asked
again out of turn) replaces that sample instead of adding one."""


@attrs.frozen
class RateSample:
    """One look at a running migration."""

    when: float
    """The console's clock."""
    rate: float
    dirty_rate: float
    bytes_sent: int


class RateHistory:
    """Samples of every running migration, keyed by job id, each job's oldest first.

    A job is sampled from one host only: its source once the source has reported it (the
    target cannot know the guest's dirty rate, and two hosts' rates of one second would
    draw a step that never happened), else its target. Jobs that are not running are not
    sampled; their samples stay to be drawn.
    """

    def __init__(self, samples_kept: int = SAMPLES_KEPT, jobs_kept: int = JOBS_KEPT) -> None:
        self.samples_kept = samples_kept
        self.jobs_kept = jobs_kept
        self._samples: OrderedDict[str, deque[RateSample]] = OrderedDict()
        self._roles: dict[str, str] = {}

    def note(self, job: MigrationProgress, now: float) -> None:
        if job.state != "running":
            return
        role = self._roles.get(job.id)
        if role == "source" and job.role != "source":
            return
        samples = self._samples.get(job.id)
        if samples is None or (role != job.role and job.role == "source"):
            samples = self._samples[job.id] = deque(maxlen=self.samples_kept)
            self._roles[job.id] = job.role
        self._samples.move_to_end(job.id)
        sample = RateSample(now, job.rate, job.dirty_rate, job.bytes_sent)
        if samples and now - samples[-1].when < MIN_SPACING:
            samples[-1] = attrs.evolve(sample, when=samples[-1].when)
        else:
            samples.append(sample)
        while len(self._samples) > self.jobs_kept:
            old, _ = self._samples.popitem(last=False)
            self._roles.pop(old, None)

    def samples(self, job_id: str) -> tuple[RateSample, ...]:
        return tuple(self._samples.get(job_id, ()))

    def since(self, job_id: str) -> float | None:
        """When this console first sampled the job (None: never while it ran)."""
        samples = self._samples.get(job_id)
        return samples[0].when if samples else None

    def last(self, job_id: str) -> RateSample | None:
        samples = self._samples.get(job_id)
        return samples[-1] if samples else None

    def __len__(self) -> int:
        return len(self._samples)
