"""Themes shipped in ``ldtui/themes/*.tcss`` and the settings file that remembers one.

Each theme file is a list of Textual CSS variables (``$primary: #4f9bd9;``); the file name
is the theme name after ``ldtui-``. ``app.tcss`` holds layout, not colours, and is no theme.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

import tomli_w
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


def ldtui_home() -> Path:
    """Where settings and the log live: ``$LDTUI_HOME`` or ``~/.ldtui``."""
    return Path(os.environ.get("LDTUI_HOME") or Path.home() / ".ldtui")


def load_settings() -> dict:
    path = ldtui_home() / "settings.toml"
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def save_settings(settings: dict) -> None:
    home = ldtui_home()
    home.mkdir(parents=True, exist_ok=True)
    tmp = home / "settings.toml.tmp"
    tmp.write_text(tomli_w.dumps(settings), encoding="utf-8")
    # Replace atomically so a crash never leaves a half-written settings file.
    os.replace(tmp, home / "settings.toml")
