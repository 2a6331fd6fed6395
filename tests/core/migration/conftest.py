import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from harness import Clock, Host, Pair, machine  # noqa: E402


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def hosts(tmp_path, clock):
    """t5440-sys-1 (source) and t5440-sys-2 (target), each with primary's services."""
    a = Host(tmp_path, machine("t5440-sys-1"), clock)
    b = Host(tmp_path, machine("t5440-sys-2"), clock)
    a.setup_services()
    b.setup_services()
    yield a, b
    a.m.close()
    b.m.close()


@pytest.fixture
def pair(hosts):
    return Pair(*hosts)
