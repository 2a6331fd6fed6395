"""The hypervisor: runtimes, the guest, suspend/resume with the generation guard, state
export/import (SPEC H-2, H-4, H-5)."""

import time

import pytest

from ldtui.hv import HvError, Hypervisor, MachineSpec, MemoryBlock, RunState
from ldtui.hv.guest import GuestSettings

M = 1 << 20
SPEC = MachineSpec(hostname="t5440-sys-1", cores=2)
BLOCKS = (MemoryBlock(0x8000000, 0x108000000, 16 * M),)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def running(tmp_path, name="src", rate=1 << 20, **guest):
    clock = Clock()
    hv = Hypervisor(SPEC, tmp_path / name, clock=clock)
    hv.create("u1", "ldg1", (8, 9), BLOCKS, guest=GuestSettings(write_rate=rate, **guest))
    hv.start("u1")
    return hv, clock


def wait_until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def run_for(hv, clock, seconds):
    hv.tick(clock.now)
    clock.now += seconds
    hv.tick(clock.now)


def test_a_running_guest_writes_memory_and_counts(tmp_path):
    hv, clock = running(tmp_path)
    run_for(hv, clock, 0.5)
    assert hv.counter("u1") == 50
    assert hv.memory("u1").dirty_count == (1 << 20) // 2 // 8192
    hv.stop("u1")
    run_for(hv, clock, 0.5)
    assert hv.counter("u1") == 50
    hv.close()


def test_suspended_image_resumes_once_per_generation(tmp_path):
    hv, clock = running(tmp_path)
    run_for(hv, clock, 0.2)
    gen = hv.suspend("u1")
    counter = hv.counter("u1")
    run_for(hv, clock, 0.2)
    assert hv.counter("u1") == counter          # a suspended guest does not run
    hv.resume("u1", gen)
    assert hv.get("u1").run_state is RunState.RUNNING
    gen2 = hv.suspend("u1")
    assert gen2 == gen + 1
    with pytest.raises(HvError, match="holds image generation"):
        hv.resume("u1", gen)
    hv.hand_off("u1")
    with pytest.raises(HvError, match="has already run"):
        hv.resume("u1", gen2)
    hv.reclaim("u1")                            # the operator established it never ran elsewhere
    hv.resume("u1", gen2)
    hv.close()


def test_export_import_moves_the_guest_exactly(tmp_path):
    src, clock = running(tmp_path, rate=2 << 20)
    run_for(src, clock, 0.4)
    gen = src.suspend("u1")
    state = src.export_state("u1")
    dst = Hypervisor(SPEC, tmp_path / "dst", clock=clock)
    dst.create("u1", "ldg-tgt", (0,), (MemoryBlock(0x8000000, 0x208000000, 16 * M),))
    for first, count in src.memory("u1").data_extents():
        dst.memory("u1").write_pages(first, src.memory("u1").read_pages(first, count), track=False)
    dst.import_state("u1", state)
    assert dst.memory("u1").digest() == src.memory("u1").digest()
    assert dst.counter("u1") == src.counter("u1") and dst.get("u1").cpu_dr_disabled
    dst.resume("u1", gen)
    src.hand_off("u1")
    with pytest.raises(HvError):
        src.resume("u1", gen)
    before = dst.counter("u1")
    run_for(dst, clock, 0.1)
    assert dst.counter("u1") > before
    with pytest.raises(HvError, match="disabled until the domain reboots"):
        dst.shrink_vcpus("u1", ())
    src.close()
    dst.close()


def test_export_needs_a_suspended_domain(tmp_path):
    hv, _ = running(tmp_path)
    with pytest.raises(HvError, match="must be suspended"):
        hv.export_state("u1")
    hv.close()


@pytest.mark.parametrize("setting, reason", [
    ({"bound_processes": True}, "processes are bound to CPUs in the guest"),
    ({"processor_sets": True}, "processor sets exist in the guest"),
    ({"cpu_dr": False}, "the guest OS does not support CPU dynamic reconfiguration"),
])
def test_cpu_dr_shrink_asks_the_guest(tmp_path, setting, reason):
    hv, _ = running(tmp_path, **setting)
    with pytest.raises(HvError) as e:
        hv.shrink_vcpus("u1", (8,))
    assert str(e.value) == f"Unable to remove CPUs from domain ldg1: {reason}"
    assert hv.get("u1").strands == (8, 9)
    hv.close()


def test_runtimes_survive_a_killed_process(tmp_path):
    hv, clock = running(tmp_path)
    run_for(hv, clock, 0.3)
    digest, counter = hv.memory("u1").digest(), hv.counter("u1")
    del hv                                      # no close()
    again = Hypervisor(SPEC, tmp_path / "src", clock=clock)
    assert again.get("u1").run_state is RunState.RUNNING
    assert (again.memory("u1").digest(), again.counter("u1")) == (digest, counter)
    again.close()


def test_destroy_removes_the_runtime_at_once_and_its_files_in_the_background(tmp_path):
    hv, clock = running(tmp_path)
    run_for(hv, clock, 0.5)
    hv.destroy("u1")
    assert not hv.has("u1")
    assert not (hv.root / "u1").exists()
    hv.close()                                    # the removal goes on without us
    assert wait_until(lambda: list(hv.root.iterdir()) == [])


def test_a_runtime_destroyed_before_a_restart_is_reclaimed_not_loaded(tmp_path):
    hv, clock = running(tmp_path)
    hv.close()
    # What a crash between the rename and the removal leaves behind.
    (hv.root / "u1").rename(hv.root / ".discarded-u1-7")
    again = Hypervisor(SPEC, tmp_path / "src", clock=clock)
    assert not again.has("u1")
    again.close()
    assert wait_until(lambda: list(again.root.iterdir()) == [])
