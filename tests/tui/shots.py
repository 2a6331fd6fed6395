"""Write the pinned scenes as SVG into screenshots/: ``python -m tests.tui.shots``."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

from tests.tui.scenes import SCENES, size_of

OUT = Path(__file__).resolve().parents[2] / "screenshots"


async def shoot(name: str) -> Path:
    app, before = SCENES[name]()
    async with app.run_test(size=size_of(name)) as pilot:
        await before(pilot)
        await pilot.pause(0.2)
        return Path(app.save_screenshot(f"{name}.svg", str(OUT)))


def main(names: list[str]) -> int:
    os.environ.setdefault("LDTUI_HOME", tempfile.mkdtemp(prefix="ldtui-shots-"))
    os.environ["TZ"] = "UTC"
    time.tzset()
    OUT.mkdir(exist_ok=True)
    for name in names or sorted(SCENES):
        print(asyncio.run(shoot(name)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
