import time

import pytest

from tests.tui.labkit import lab  # noqa: F401  (the embedded lab, a fixture for the tests here)


@pytest.fixture(autouse=True)
def ldtui_home(tmp_path, monkeypatch):
    """Settings and logs of every console test stay in a temporary home, in UTC."""
    monkeypatch.setenv("LDTUI_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield tmp_path / "home"
    monkeypatch.delenv("TZ", raising=False)
    time.tzset()
