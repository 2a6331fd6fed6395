"""Sizes as operators type and read them: ``512M``, ``1G``, ``1536M``, ``0x8000000``."""

from __future__ import annotations

from ldtui.core.errors import LdmError

_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str, *, default_unit: str = "") -> int:
    """``2G`` → 2147483648. A bare number is bytes unless ``default_unit`` says otherwise."""
    s = text.strip().upper()
    if s.endswith("B") and len(s) > 1 and s[-2] in "KMGT":
        s = s[:-1]
    unit = s[-1] if s and s[-1] in "KMGTB" else ""
    digits = s[: len(s) - len(unit)] if unit else s
    if not digits or not digits.isdigit():
        raise LdmError("bad-size", f"Invalid memory size: {text}")
    mult = _UNITS[unit] if unit else _UNITS[default_unit.upper()]
    value = int(digits) * mult
    if value <= 0:
        raise LdmError("bad-size", f"Invalid memory size: {text}")
    return value


def format_size(n: int) -> str:
    """The largest unit that divides exactly: ``1G``, ``1536M``, ``512K``, ``100``."""
    for unit in ("T", "G", "M", "K"):
        m = _UNITS[unit]
        if n and n % m == 0:
            return f"{n // m}{unit}"
    return str(n)


def parse_address(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise LdmError("bad-address", f"Invalid address: {text}") from None


def format_uptime(seconds: int) -> str:
    """``3d 21h 7m``, ``2h 7m``, ``2m``, ``45s`` under a minute."""
    seconds = max(int(seconds), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h {minutes}m"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"
