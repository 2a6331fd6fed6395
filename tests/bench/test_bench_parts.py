"""The migration benchmark's pure parts: the rate-limited link's plan and the first touch.
Nothing here needs root or measures anything."""

import pytest

from bench import first_touch, netlink

GiB = 1 << 30


def test_the_link_plan_shapes_both_ends_of_one_veth_pair_between_two_namespaces():
    plan = netlink.LinkPlan(owner=4194304, rate="1gbit", delay_ms=0.5)
    assert plan.namespaces == ("ldtui-bench-4194304-src", "ldtui-bench-4194304-tgt")
    assert all(len(dev) <= 15 for dev in (*plan.root_devs, plan.link_dev, plan.mgmt_dev))
    setup = [" ".join(c) for c in plan.setup_commands()]
    assert "ip link add mig0 netns ldtui-bench-4194304-src type veth peer name mig0 netns ldtui-bench-4194304-tgt" \
        in setup
    assert sum("lo up" in c for c in setup) == 2
    for ns in plan.namespaces:
        tbf, netem = (" ".join(c) for c in plan.shaping(ns, netem=True))
        assert tbf.startswith(f"ip netns exec {ns} tc qdisc add dev mig0 root handle 1: tbf rate 1gbit")
        assert "parent 1:1" in netem and "netem delay 0.5ms" in netem
        assert len(plan.shaping(ns, netem=False)) == 1
    teardown = [" ".join(c) for c in plan.teardown_commands()]
    assert teardown[-2:] == [f"ip netns del {ns}" for ns in plan.namespaces]


def test_link_rates_are_tc_rates():
    assert netlink.rate_bits("1gbit") == 1e9 and netlink.rate_bits("100mbit") == 1e8
    with pytest.raises(ValueError):
        netlink.rate_bits("1G")


def test_the_link_says_why_it_cannot_be_built(monkeypatch):
    monkeypatch.setattr(netlink.os, "geteuid", lambda: 1000)
    assert "root" in netlink.missing_requirements()
    monkeypatch.setattr(netlink.os, "geteuid", lambda: 0)
    monkeypatch.setattr(netlink.shutil, "which", lambda tool: None if tool == "tc" else "/usr/sbin/" + tool)
    assert netlink.missing_requirements() == "tc not installed (apt-get install iproute2)"


def test_first_touch_covers_three_domains_and_two_gibibytes_within_free_memory():
    assert first_touch.touch_bytes(4 * GiB, available=20 * GiB, fs_space=24 * GiB) == 14 * GiB
    assert first_touch.touch_bytes(4 * GiB, available=9 * GiB, fs_space=24 * GiB) == 8 * GiB
    assert first_touch.touch_bytes(4 * GiB, available=20 * GiB, fs_space=5 * GiB) == 4 * GiB
    assert first_touch.touch_bytes(4 * GiB, available=GiB // 2, fs_space=24 * GiB) == 0


def test_first_touch_writes_deletes_and_reports(tmp_path):
    done = first_touch.touch(tmp_path, 16 << 20)
    assert done["bytes"] == 16 << 20 and done["rate"] > 0 and done["rewrite_rate"] > 0
    assert list(tmp_path.iterdir()) == []
    assert "wrote and deleted 0.0 GiB" in first_touch.summary(done)
    assert "skipped" in first_touch.summary(first_touch.touch(tmp_path, 0))
