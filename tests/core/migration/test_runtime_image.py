"""The runtime image a source ships is its exported runtime, field for field."""

import attrs

from ldtui.core.migration.codec import decode, encode
from ldtui.core.migration.messages import RuntimeImage
from ldtui.hv.guest import GuestSettings
from ldtui.hv.hypervisor import RuntimeState

STATE = RuntimeState(uuid="u-src", generation=3, regs=bytes(range(256)), devices={"console": "login: "},
                     guest=GuestSettings(write_rate=1 << 20), started_at=1234.5, vcpus=4)


def test_every_field_of_the_runtime_but_its_uuid_travels_in_the_image():
    shared = {f.name for f in attrs.fields(RuntimeState)} - {"uuid"}
    assert shared <= {f.name for f in attrs.fields(RuntimeImage)}
    image = RuntimeImage.from_runtime(STATE, total_pages=77)
    assert image.total_pages == 77
    assert decode(encode(image)).to_runtime("u-tgt") == attrs.evolve(STATE, uuid="u-tgt")
