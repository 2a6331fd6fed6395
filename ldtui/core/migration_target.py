"""Where a migration goes, ``[USER@]HOST[:NAME]``: the one grammar ``ldm``, the migrate form and host specs read.

The grammar has two readings of what follows the colon, and which one applies is decided by
the field being read, never guessed from the text:

- a **target operand** (``ldm migrate-domain ldg1 root@t5440-sys-2:ldg-tgt``) is a domain's
  destination, so the part after the colon is always the domain's new NAME, even when it
  is all digits (``t5440-sys-2:1234`` renames the domain ``1234``). A non-default SSH port
  of the target's ``ldmd`` is given apart, as ``-P PORT``;
- a **host field** (the migrate form's typed target host, a host spec of the console's
  command line) names a host and nothing else, so there the part after the colon can only
  be a PORT: all digits, 1 to 65535.

An IPv6 address is written in brackets (``[fd00::2]:ldg-tgt``, ``root@[::1]:2201``); in a
host field a bare IPv6 address (more than one colon, nothing but hex digits, colons and
dots) is the address with no port. USER is everything before the last ``@``.

Refusals are :class:`TargetError` values: a code, the operator's message, and which part of
the text was wrong, so each reader can word it as it always has.
"""

from __future__ import annotations

import enum
import re

import attrs

from ldtui.core.errors import LdmError

_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.\-_]*[A-Za-z0-9])?$")
_USER = re.compile(r"^[A-Za-z0-9._][A-Za-z0-9._\-]*$")
_IPV6 = re.compile(r"^[0-9A-Fa-f:.]+$")
_SHAPE = "(expected [user@]host[:ldom])"


class Part(str, enum.Enum):
    """The part of a target text a refusal is about."""

    USER = "user"
    HOST = "host"
    NAME = "name"
    PORT = "port"
    SHAPE = "shape"
    """Something after the host that is neither ``:NAME`` nor ``:PORT``."""


class TargetError(LdmError):
    """A target text that the grammar refuses. ``part`` says what is wrong, ``value`` is that
    part as typed (the port's text for a bad port), ``typed`` the whole text."""

    def __init__(self, part: Part, text: str, message: str, *, value: str = "") -> None:
        super().__init__("bad-port" if part is Part.PORT else "bad-target", message)
        self.part = part
        self.typed = text
        self.value = value


@attrs.frozen(kw_only=True)
class MigrationTarget:
    """A parsed target: the host, and the user, new domain name or port when they were given.

    ``name`` comes only from a target operand and ``port`` only from a host field, so a
    value never holds both. ``format`` writes the text ``parse`` (or ``parse_host_field``)
    reads back to the same value.
    """

    host: str
    user: str | None = None
    """None: not given (the caller's default user applies)."""
    name: str | None = None
    """The domain's name on the target; None: its own."""
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> MigrationTarget:
        """A target operand, ``[USER@]HOST[:NAME]``: what ``ldm migrate-domain`` takes."""
        user, at, rest = text.rpartition("@") if "@" in text else ("", "", text)
        if at and not _USER.match(user):
            raise TargetError(Part.USER, text, f"Invalid user name in target: {text}", value=user)
        if rest.startswith("["):
            host, bracket, tail = rest[1:].partition("]")
            if not bracket or not host or not _IPV6.fullmatch(host):
                raise TargetError(Part.HOST, text, f"Invalid target host: {text}", value=host)
            if tail and not tail.startswith(":"):
                raise TargetError(Part.SHAPE, text, f"Invalid target: {text} {_SHAPE}", value=tail)
            name = tail[1:] if tail else None
        else:
            host, colon, new = rest.partition(":")
            if not host or not _HOST.match(host):
                raise TargetError(Part.HOST, text, f"Invalid target host: {text}", value=host)
            name = new if colon else None
        if name is not None and (not name or ":" in name or "@" in name):
            raise TargetError(Part.NAME, text, f"Invalid target domain name: {text} {_SHAPE}", value=name)
        return cls(host=host, user=user if at else None, name=name)

    @classmethod
    def parse_host_field(cls, text: str) -> MigrationTarget:
        """A host field, ``[USER@]HOST[:PORT]``: a host and nothing else, so what follows the
        colon is a port. Parts left empty are not checked here (the form falls back to its
        other fields, a host spec refuses an empty host); only the port is."""
        user, at, rest = text.rpartition("@") if "@" in text else ("", "", text)
        if rest.startswith("["):
            host, bracket, tail = rest[1:].partition("]")
            if not bracket or not _IPV6.fullmatch(host or "-"):
                raise TargetError(Part.HOST, text, f"Invalid target host: {text}", value=host)
            if tail and not tail.startswith(":"):
                raise TargetError(Part.SHAPE, text, f"Invalid target: {text} (expected [user@]host[:port])",
                                  value=tail)
            colon, port = bool(tail), tail[1:]
        elif rest.count(":") > 1 and _IPV6.fullmatch(rest):
            host, colon, port = rest, False, ""
        else:
            host, sep, port = rest.partition(":")
            colon = bool(sep)
        if colon and (not port.isdigit() or not 0 < int(port) < 65536):
            raise TargetError(Part.PORT, text, f"Invalid port: {port}", value=port)
        return cls(host=host, user=user if at and user else None, port=int(port) if colon else None)

    def format(self) -> str:
        """The text for this target: ``root@t5440-sys-2:ldg-tgt``, ``[fd00::2]:2201``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        text = f"{self.user}@{host}" if self.user else host
        if self.name is not None:
            text += f":{self.name}"
        elif self.port is not None:
            text += f":{self.port}"
        return text

    def check(self) -> MigrationTarget:
        """This value refused as the operand ``format()`` would be: a value built field by
        field (a console's typed request) is held to the same grammar as typed text."""
        again = MigrationTarget.parse(self.format())
        if (again.host, again.user or None, again.name) != (self.host, self.user or None, self.name):
            raise TargetError(Part.HOST, self.format(), f"Invalid target host: {self.format()}", value=self.host)
        return self
