"""The ``dataplane`` ends of the transport benchmark: the library as a migration uses it.

A one-time listener and offer, HELLO/ACCEPT, a producer thread per stream reading
chunks into pooled buffers, the sender's stream threads sealing them, and the receiver's
stream threads writing each payload with ``pwritev`` in the callback."""

from __future__ import annotations

import base64
import json
import os
import queue
import sys
import threading

from bench.transport_ends import FRAME, chunks_of, cpu_seconds
from ldtui.net.dataplane import DataListener, DataOffer, StreamReceiver, StreamSender, connect_streams

POOL = 4
"""Buffers per stream: the sender's queue depth and the one being filled."""


def receive(cfg: dict) -> None:
    mine = cfg["indices"]
    listener = DataListener.open(migration_id="bench", streams=len(mine), ports=(0, 0))
    offer = base64.b64encode(json.dumps(listener.offer.to_dict()).encode()).decode()
    print("port", listener.port, offer, flush=True)
    channels = listener.accepted(30)
    fd = os.open(cfg["dest"], os.O_RDWR)
    cpu0 = cpu_seconds()

    def on_data(stream: int, payload: memoryview) -> None:
        off, n = FRAME.unpack_from(payload)
        os.pwritev(fd, [payload[FRAME.size:FRAME.size + n]], off)

    rx = StreamReceiver(channels, on_data)
    rx.join()
    print(f"done {cpu_seconds() - cpu0:.4f}", flush=True)
    rx.close()


def send(cfg: dict) -> None:
    nbytes, streams, mine, chunk = cfg["bytes"], cfg["streams"], cfg["indices"], cfg["chunk"]
    offer = DataOffer.from_dict(json.loads(base64.b64decode(cfg["offer"])))
    tx = StreamSender(connect_streams(offer), depth=POOL - 2)
    fd = os.open(cfg["src"], os.O_RDONLY)
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return
    cpu0 = cpu_seconds()

    def produce(local: int, index: int) -> None:
        pool: queue.SimpleQueue = queue.SimpleQueue()
        for _ in range(POOL):
            pool.put(bytearray(FRAME.size + chunk))
        for off, n in chunks_of(nbytes, streams, index, chunk):
            buf = pool.get()
            view = memoryview(buf)
            FRAME.pack_into(buf, 0, off, n)
            os.preadv(fd, [view[FRAME.size:FRAME.size + n]], off)
            tx.send(view[:FRAME.size + n], stream=local, release=lambda b=buf: pool.put(b))

    producers = [threading.Thread(target=produce, args=(local, index)) for local, index in enumerate(mine)]
    for t in producers:
        t.start()
    for t in producers:
        t.join()
    tx.finish()
    tx.join()
    print(f"done {cpu_seconds() - cpu0:.4f}", flush=True)
    sys.stdin.readline()
    tx.close()
