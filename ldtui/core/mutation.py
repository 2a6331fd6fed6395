"""How a manager command changes state: under the host lock, as one store transaction.

A refused command raises before the transaction commits, so nothing of it remains. Store
changes come first and hypervisor changes last inside the transaction, so a crash between
the two leaves a difference that the next start reconciles: nothing an operator
configured is lost by a crash at any moment.
"""

from __future__ import annotations

import functools


def mutation(fn):
    """Run ``fn`` under ``self._lock`` in one store transaction.

    Commands return their notice lines; one that returns nothing gives ``[]``.
    """

    @functools.wraps(fn)
    def run(self, *args, **kwargs):
        with self._lock, self.store.transaction():
            result = fn(self, *args, **kwargs)
        return [] if result is None else result

    return run


DELAYED_RECONF_START = (
    "Initiating a delayed reconfiguration operation on the primary domain.",
    "All configuration changes for other domains are disabled until the",
    "primary domain reboots, at which time the new configuration for the",
    "primary domain also takes effect.",
)
"""The notice of the first change to the control domain that needs its reboot."""

DELAYED_RECONF_MORE = (
    "Notice: The primary domain is in the process of a delayed reconfiguration.",
    "Any changes made to the primary domain will only take effect after it reboots.",
)
"""The notice of every later change while the reconfiguration is pending."""
