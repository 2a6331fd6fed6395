"""The package layout's contracts: import-linter's layers and no circles, and the app having
the shape its screens and its poller are written against."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ldtui.app import LdtuiApp
from ldtui.console.polling import PollingConsole
from ldtui.screens.console_app import ConsoleApp

ROOT = Path(__file__).resolve().parent.parent


def test_the_import_contracts_of_pyproject_are_kept():
    tool = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    if not Path(tool).exists():
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    out = subprocess.run([tool, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout


def _members(protocol: type) -> set[str]:
    names = set(getattr(protocol, "__annotations__", {}))
    names |= {n for n, v in vars(protocol).items() if callable(v) and not n.startswith("_")}
    return names


@pytest.mark.parametrize("protocol", [ConsoleApp, PollingConsole])
async def test_the_app_has_what_its_parts_ask_of_it(protocol):
    app = LdtuiApp({})
    async with app.run_test():
        missing = sorted(name for name in _members(protocol) if not hasattr(app, name))
    assert missing == []
