"""When a live migration stops copying and switches over.

Pure arithmetic over what the rounds measured, so the policy can be read and tested alone:

- the *bandwidth* is the guest memory the rounds moved per second (after zero pages and
  compression, so it is what the link really achieves for this memory);
- after each round, what is left is the dirty log; if sending it at that bandwidth fits in
  the downtime limit (default 300 ms, like QEMU), the source suspends and sends only that —
  unless one more round would at least halve it (the guest dirties less than half as
  fast as the link moves) and what is left is still worth a round (over
  :data:`WORTH_A_ROUND_MS`): then it copies once more, the guest still running. A fast
  link makes the first round short, so its dirty log fits the limit at once; one more
  round of a few hundred milliseconds then cuts the pause to a few milliseconds;
- if the guest dirtied more than half of what the round sent (it dirties about as fast as
  the link carries), the guest is throttled: 20 %, then +10 % per round, up to 99 %
  (QEMU's auto-converge steps); once at 99 %, or after ``max_rounds``, it switches over
  anyway and the operator sees the longer downtime it expected.
"""

from __future__ import annotations

import attrs

DEFAULT_DOWNTIME_MS = 300.0
MAX_ROUNDS = 30
THROTTLE_FIRST = 20
THROTTLE_STEP = 10
THROTTLE_MAX = 99
WORTH_A_ROUND_MS = 20.0
"""What is left takes less than this to send: switch over, another round would not pay."""


@attrs.frozen(kw_only=True)
class RoundResult:
    """One finished pre-copy round, as the source measured it."""

    round: int
    sent_bytes: int
    """Guest memory the round sent (non-zero pages)."""
    seconds: float
    dirty_bytes: int
    """What the dirty log holds at the end of the round: what is left to send."""


@attrs.frozen(kw_only=True)
class Decision:
    switch_over: bool
    throttle: int
    """The guest throttle for the next round (unchanged when switching over)."""
    expected_downtime_ms: float
    forced: bool = False
    """Switching over although what is left does not fit the limit."""


@attrs.define
class Convergence:
    """Accumulates rounds and decides after each; one per live migration."""

    downtime_limit_ms: float = DEFAULT_DOWNTIME_MS
    max_rounds: int = MAX_ROUNDS
    throttle: int = 0
    moved_bytes: int = 0
    moved_seconds: float = 0.0
    dirty_rate: float = 0.0
    expected_downtime_ms: float = 0.0

    @property
    def bandwidth(self) -> float:
        """Bytes of guest memory per second over all rounds so far (0 before the first)."""
        return self.moved_bytes / self.moved_seconds if self.moved_seconds > 0 else 0.0

    def after_round(self, r: RoundResult) -> Decision:
        seconds = max(r.seconds, 1e-4)
        self.moved_bytes += r.sent_bytes
        self.moved_seconds += seconds
        self.dirty_rate = r.dirty_bytes / seconds
        bw = self.bandwidth
        self.expected_downtime_ms = r.dirty_bytes / bw * 1000.0 if bw > 0 else (0.0 if not r.dirty_bytes else float("inf"))
        if self.expected_downtime_ms <= self.downtime_limit_ms:
            # While the next round sends what is left, the guest dirties dirty_rate × that
            # time: one more round pays when that is at most half of what is left now.
            again = (self.expected_downtime_ms > WORTH_A_ROUND_MS and self.dirty_rate * 2 <= bw
                     and r.round + 1 < self.max_rounds)
            return Decision(switch_over=not again, throttle=self.throttle,
                            expected_downtime_ms=self.expected_downtime_ms)
        if self.throttle >= THROTTLE_MAX or r.round + 1 >= self.max_rounds:
            return Decision(switch_over=True, throttle=self.throttle, expected_downtime_ms=self.expected_downtime_ms,
                            forced=True)
        if r.dirty_bytes * 2 > r.sent_bytes:
            self.throttle = THROTTLE_FIRST if self.throttle == 0 else min(self.throttle + THROTTLE_STEP, THROTTLE_MAX)
        return Decision(switch_over=False, throttle=self.throttle, expected_downtime_ms=self.expected_downtime_ms)
