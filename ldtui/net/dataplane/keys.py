"""The offer of a direct data connection, which the target sends the source.

It travels over the authenticated control link and tells the source how to connect, and
prove itself, on its own socket.

The secret travels only inside this value and only over the control link. It is never
part of a ``repr`` or ``str``, so a log line, a traceback or a message's ``repr`` that
embeds the offer shows everything but the secret; :meth:`DataOffer.to_dict` is for the
wire alone.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress

import attrs

from ldtui.net.dataplane.errors import OfferError
from ldtui.net.dataplane.records import (
    CIPHERS, DEFAULT_MAX_RECORD, MAX_MIGRATION_ID, MAX_RECORD, MAX_STREAMS, SECRET_SIZE, Direction, Opener, Sealer,
    derive_key,
)


def _check_address(_, __, value: str) -> None:
    try:
        if not isinstance(value, str):
            raise ValueError
        ipaddress.ip_address(value)
    except ValueError:
        raise OfferError("bad-offer", f"the data connection offer names {value!r}, not an IP address") from None


def _check_range(low: int, high: int, what: str):
    def check(_, __, value: int) -> None:
        if type(value) is not int or not low <= value <= high:
            raise OfferError("bad-offer", f"the data connection offer's {what} {value!r} is outside {low}..{high}")
    return check


def _check_cipher(_, __, value: str) -> None:
    if value not in CIPHERS:
        raise OfferError("bad-offer", f"the data connection offer asks for cipher {value!r}, which this manager "
                                      f"does not speak ({', '.join(sorted(CIPHERS))})")


def _check_id(_, __, value: str) -> None:
    if not isinstance(value, str) or not 0 < len(value.encode()) <= MAX_MIGRATION_ID:
        raise OfferError("bad-offer", "the data connection offer's migration id is empty or too long")


def _check_secret(_, __, value: bytes) -> None:
    if not isinstance(value, bytes) or len(value) != SECRET_SIZE:
        raise OfferError("bad-offer", f"the data connection offer's secret is not {SECRET_SIZE} bytes")


@attrs.frozen(kw_only=True)
class DataOffer:
    """Where and how to open the data streams of one migration.

    Guarantees: every field is checked when the value is made (so an offer read from the
    wire is either whole or refused with :class:`OfferError`), and ``repr`` never shows
    the secret."""

    address: str = attrs.field(validator=_check_address)
    port: int = attrs.field(validator=_check_range(1, 65535, "port"))
    cipher: str = attrs.field(validator=_check_cipher)
    streams: int = attrs.field(validator=_check_range(1, MAX_STREAMS, "stream count"))
    migration_id: str = attrs.field(validator=_check_id)
    secret: bytes = attrs.field(repr=False, validator=_check_secret)
    max_record: int = attrs.field(default=DEFAULT_MAX_RECORD, validator=_check_range(1, MAX_RECORD, "record limit"))

    # -- keys --------------------------------------------------------------------------------
    def key(self, direction: Direction, stream: int) -> bytes:
        return derive_key(self.secret, cipher=self.cipher, migration_id=self.migration_id,
                          direction=direction, stream=stream)

    def source_end(self, stream: int) -> tuple[Sealer, Opener]:
        """The source's sealer (what it sends) and opener (what it hears back) on ``stream``."""
        return self._end(stream, send=Direction.SOURCE_TO_TARGET, recv=Direction.TARGET_TO_SOURCE)

    def target_end(self, stream: int) -> tuple[Sealer, Opener]:
        """The target's sealer (its answers) and opener (the source's records) on ``stream``."""
        return self._end(stream, send=Direction.TARGET_TO_SOURCE, recv=Direction.SOURCE_TO_TARGET)

    def _end(self, stream: int, *, send: Direction, recv: Direction) -> tuple[Sealer, Opener]:
        if not 0 <= stream < self.streams:
            raise OfferError("bad-stream", f"this migration has data streams 0..{self.streams - 1}, not {stream}")
        common = {"stream": stream, "max_record": self.max_record}
        return (Sealer(self.cipher, self.key(send, stream), direction=send, **common),
                Opener(self.cipher, self.key(recv, stream), direction=recv, **common))

    # -- the wire ------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The offer for the control link (the secret in base64). Never log this dict."""
        return {"address": self.address, "port": self.port, "cipher": self.cipher, "streams": self.streams,
                "migration_id": self.migration_id, "secret": base64.b64encode(self.secret).decode(),
                "max_record": self.max_record}

    @classmethod
    def from_dict(cls, data) -> DataOffer:
        """The offer a peer sent; unknown keys are ignored so later versions may add some."""
        if not isinstance(data, dict):
            raise OfferError("bad-offer", "the data connection offer is not an object")
        missing = sorted({"address", "port", "cipher", "streams", "migration_id", "secret"} - data.keys())
        if missing:
            raise OfferError("bad-offer", f"the data connection offer lacks {', '.join(missing)}")
        secret = data["secret"]
        try:
            raw = base64.b64decode(secret, validate=True) if isinstance(secret, str) else None
        except (binascii.Error, ValueError):
            raw = None
        if raw is None:
            raise OfferError("bad-offer", "the data connection offer's secret is not base64 text")
        for name in ("address", "cipher", "migration_id"):
            if not isinstance(data[name], str):
                raise OfferError("bad-offer", f"the data connection offer's {name} is not text")
        return cls(address=data["address"], port=data["port"], cipher=data["cipher"], streams=data["streams"],
                   migration_id=data["migration_id"], secret=raw,
                   max_record=data.get("max_record", DEFAULT_MAX_RECORD))
