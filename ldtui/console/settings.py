"""Where the console keeps its settings and its log, and the settings file itself."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import tomli_w


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
