"""Failed-login throttling.

Each failed login for a (user, peer address) pair doubles the delay before the next answer
to that pair, from ``base`` up to ``cap`` seconds; a success clears it, and a pair that has
been quiet for ``forget_after`` seconds starts over. Guessing a password from one address
therefore costs minutes after a handful of tries, while an operator who mistyped once waits
a fraction of a second.
"""

from __future__ import annotations

import time


class LoginThrottle:
    def __init__(self, *, base: float = 0.25, cap: float = 8.0, forget_after: float = 600.0,
                 clock=time.monotonic) -> None:
        self.base, self.cap, self.forget_after = base, cap, forget_after
        self.clock = clock
        self._failures: dict[tuple[str, str], tuple[int, float]] = {}

    def failures(self, user: str, peer: str) -> int:
        count, last = self._failures.get((user, peer), (0, 0.0))
        if count and self.clock() - last > self.forget_after:
            del self._failures[(user, peer)]
            return 0
        return count

    def delay(self, user: str, peer: str) -> float:
        """Seconds to wait before answering the next attempt of this pair."""
        n = self.failures(user, peer)
        return 0.0 if n == 0 else min(self.base * 2 ** (n - 1), self.cap)

    def failed(self, user: str, peer: str) -> float:
        """Record a failure; returns the delay the next attempt will see."""
        n = self.failures(user, peer) + 1
        self._failures[(user, peer)] = (n, self.clock())
        if len(self._failures) > 10000:         # bound memory under a spray of fake names
            oldest = min(self._failures, key=lambda k: self._failures[k][1])
            del self._failures[oldest]
        return self.delay(user, peer)

    def succeeded(self, user: str, peer: str) -> None:
        self._failures.pop((user, peer), None)
