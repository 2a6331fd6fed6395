"""Themes shipped in ``ldtui/themes/*.tcss`` (the settings file that remembers one is ``console.settings``).

Each theme file is a list of Textual CSS variables (``$primary: #4f9bd9;``); the file name
is the theme name after ``ldtui-``. ``app.tcss`` holds layout, not colours, and is no theme.
"""

from __future__ import annotations

import re
from pathlib import Path

from textual.theme import Theme

THEMES_DIR = Path(__file__).resolve().parent.parent / "themes"
APP_CSS = THEMES_DIR / "app.tcss"
DEFAULT_THEME = "ldtui-dark"

_LINE = re.compile(r"^\s*\$([a-z][a-z0-9-]*)\s*:\s*([^;]+);", re.MULTILINE)
_COLOURS = ("primary", "secondary", "warning", "error", "success", "accent", "foreground",
            "background", "surface", "panel", "boost")


def load_theme(path: Path) -> Theme:
    values = dict(_LINE.findall(path.read_text(encoding="utf-8")))
    dark = values.pop("theme-dark", "true").strip() != "false"
    colours = {k: values.pop(k).strip() for k in _COLOURS if k in values}
    if "primary" not in colours:
        raise ValueError(f"{path.name}: a theme needs at least $primary")
    return Theme(name=f"ldtui-{path.stem}", dark=dark, variables={k: v.strip() for k, v in values.items()},
                 **colours)


def shipped_themes() -> list[Theme]:
    return [load_theme(p) for p in sorted(THEMES_DIR.glob("*.tcss")) if p != APP_CSS]
