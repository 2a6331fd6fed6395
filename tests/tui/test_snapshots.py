"""Pinned pictures of the console (pytest-textual-snapshot), frozen clock and fake hosts.

Update after an intended change with ``pytest tests/tui/test_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

import pytest

from tests.tui.scenes import SCENES, size_of


@pytest.mark.parametrize("scene", sorted(SCENES))
def test_screen_looks_as_pinned(scene, snap_compare):
    app, before = SCENES[scene]()
    assert snap_compare(app, terminal_size=size_of(scene), run_before=before)
