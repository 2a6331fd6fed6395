"""The layers' import arrows (DESIGN.md): core and hv never pull in textual or asyncssh."""

import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["ldtui.hv", "ldtui.core", "ldtui.core.manager", "ldtui.core.commands",
                                    "ldtui.core.migration"])
def test_core_and_hv_import_no_ui_or_network(module):
    code = (
        "import importlib, sys\n"
        f"importlib.import_module({module!r})\n"
        "bad = [m for m in ('textual', 'asyncssh', 'asyncio') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"{module} imports {out.stdout.strip()}"
