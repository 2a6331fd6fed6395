"""The data plane's errors: values with a code and a message, never with key material.

The code is for tests, scripts and the fallback decision; the message for operators."""

from __future__ import annotations


class DataPlaneError(Exception):
    """Something on a direct data connection went wrong. ``code`` is stable; ``message`` is
    the one line an operator sees."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r})"


class RecordError(DataPlaneError):
    """A record that must not be accepted: it does not authenticate (tampered, replayed,
    reordered, another key), breaks the record order, is too large or is malformed."""


class OfferError(DataPlaneError):
    """The peer's data-connection offer is malformed or names what this manager cannot do."""


class DataConnectError(DataPlaneError):
    """The source could not open the direct data streams; the caller may fall back to
    tunnelling the data through the control link."""


class ListenerError(DataPlaneError):
    """The target could not listen, or not every expected stream arrived in time."""


class DataStreamError(DataPlaneError):
    """An open data stream failed: reset, timeout, truncation, a record that does not
    authenticate, or the callback that consumes its data raised. ``stream`` names it."""

    def __init__(self, code: str, message: str, *, stream: int | None = None) -> None:
        super().__init__(code, message)
        self.stream = stream
