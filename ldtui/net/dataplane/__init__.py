"""The native data plane: memory pages and the runtime image on direct TCP streams from
the source manager to the target manager, while control stays on the SSH peer link.

Every record is sealed with a per-stream, per-direction key derived from a one-time
secret that the target hands the source over the authenticated control link
(:class:`DataOffer`), so the streams are private and tamper-evident.
"""

from ldtui.net.dataplane.errors import (
    DataConnectError, DataPlaneError, DataStreamError, ListenerError, OfferError, RecordError,
)
from ldtui.net.dataplane.keys import DataOffer
from ldtui.net.dataplane.records import AES_GCM, CHACHA20_POLY1305, CIPHERS, cipher_for_host

__all__ = [
    "AES_GCM", "CHACHA20_POLY1305", "CIPHERS", "DataConnectError", "DataOffer", "DataPlaneError", "DataStreamError",
    "ListenerError", "OfferError", "RecordError", "cipher_for_host",
]
