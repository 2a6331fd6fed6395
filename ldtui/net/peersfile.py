"""The peers file: which other managers this host can migrate to, and the known_hosts file for them."""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path


def read_peers_file(path: str | Path) -> dict[str, tuple[str, int]]:
    """``[peers] host = "addr:port"`` from a peers file; a broken file is logged and ignored."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        out = {}
        for host, value in data.get("peers", {}).items():
            addr, _, port = str(value).rpartition(":")
            out[host] = (addr.strip("[]"), int(port))
        return out
    except (OSError, ValueError, tomllib.TOMLDecodeError) as e:
        logging.getLogger("ldtui.ldmd").warning("peers file %s unreadable: %s", path, e)
        return {}


def read_peers_known_hosts(path: str | Path) -> Path | None:
    try:
        value = tomllib.loads(Path(path).read_text(encoding="utf-8")).get("known_hosts")
    except (OSError, ValueError):
        return None
    return Path(value) if isinstance(value, str) else None
