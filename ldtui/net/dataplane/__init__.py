"""The native data plane: a migration's memory pages and runtime image on direct TCP streams.

The streams go from the source manager to the target manager, while control stays on the
SSH peer link.

The target opens a one-time :class:`DataListener` and sends its :class:`DataOffer`
(address, port, cipher, stream count, migration id and a fresh secret) over the
authenticated control link; the source opens the streams with :func:`open_streams` (or
:func:`connect_streams` from a thread) and moves frames with a :class:`StreamSender`; the
target takes them in with a :class:`StreamReceiver`. Every record is sealed with a
per-stream, per-direction key derived from the secret (``records``), so the streams are
private and tamper-evident, and nothing but the source that holds the offer can open one.
A :class:`DataConnectError` means "no direct path": tunnel through the control link.
"""

from ldtui.net.dataplane.channel import StreamChannel
from ldtui.net.dataplane.connect import CONNECT_TIMEOUT, connect_stream, connect_streams, open_streams
from ldtui.net.dataplane.errors import (
    DataConnectError, DataPlaneError, DataStreamError, ListenerError, OfferError, RecordError,
)
from ldtui.net.dataplane.group import StreamReport, TransferReport
from ldtui.net.dataplane.keys import DataOffer
from ldtui.net.dataplane.listener import DATA_PORTS, DataListener, Refusal
from ldtui.net.dataplane.records import AES_GCM, CHACHA20_POLY1305, CIPHERS, cipher_for_host
from ldtui.net.dataplane.streams import StreamReceiver, StreamSender

__all__ = [
    "AES_GCM", "CHACHA20_POLY1305", "CIPHERS", "CONNECT_TIMEOUT", "DATA_PORTS", "DataConnectError", "DataListener",
    "DataOffer", "DataPlaneError", "DataStreamError", "ListenerError", "OfferError", "RecordError", "Refusal",
    "StreamChannel", "StreamReceiver", "StreamReport", "StreamSender", "TransferReport", "cipher_for_host",
    "connect_stream", "connect_streams", "open_streams",
]
