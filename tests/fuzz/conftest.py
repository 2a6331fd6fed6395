"""A live ldmd for the fuzz tests: the network tests' small host (tests/net/netkit.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "net"))

from netkit import host_config, host_file, ldmd  # noqa: E402,F401  (shared fixtures)
