"""What ``python -m bench.migration`` concludes from its measurements.

The ratios, the targets and the printed table. Pure functions of the result dictionary
(the JSON it writes), so they are tested without running anything.

Targets (reported, never asserted):

- loopback, a 4 GiB domain: warm effective rate ≥ 2× the OpenSSH stream of the same run;
  wire rate ≥ 0.5× raw TCP (blocking sockets) of the same run; live downtime ≤ 50 ms at a
  guest dirty rate of 20 MB/s and at 50 MB/s; peak RSS of each ``ldmd`` ≤ 256 MB;
- over a rate-limited link (``--link``): warm effective rate ≥ 2× OpenSSH over the same link.

A target not met carries ``instead``: what the measurements show in its place (the wire's
ceiling, the side that ran out of CPU, what the source expected, …).
"""

from __future__ import annotations

MB = 1e6
GiB = 1 << 30
DOWNTIME_MS = 50.0
RSS_MB = 256.0
CPU_BOUND = 0.9
"""Cores busy over a command (CPU seconds ÷ wall seconds) from which a side counts as
CPU-bound: its event loop's thread was never idle."""


def _rate(b: dict | None) -> float | None:
    return b["rate"] if b else None


def add_ratios(result: dict) -> None:
    """Each run's rates against the same run's baselines, and how busy each side was."""
    b = result["baselines"]
    raw, tls, ssh = _rate(b.get("raw_tcp")), _rate(b.get("tls")), _rate(b.get("openssh_stream"))
    channel = b.get("asyncssh_channel")
    for r in result["runs"]:
        r["ratio_effective_to_openssh"] = r["effective_rate"] / ssh if ssh else None
        r["ratio_wire_to_raw_tcp"] = r["wire_rate"] / raw if raw else None
        r["ratio_wire_to_tls"] = r["wire_rate"] / tls if tls else None
        r["ratio_wire_to_asyncssh"] = r["wire_rate"] / channel if channel else None
        r["cores_source"] = r["cpu_source_s"] / r["total_s"] if r["total_s"] else 0.0
        r["cores_target"] = r["cpu_target_s"] / r["total_s"] if r["total_s"] else 0.0
        # The most any data path could reach with this run's bytes: all of them at the
        # raw-TCP rate, with no login, check, handoff or memory file in the way.
        r["raw_ceiling_ratio_to_openssh"] = (result["size"] / (r["wire_bytes"] / raw) / ssh
                                             if raw and ssh and r["wire_bytes"] else None)


def _dirty(r: dict) -> str:
    return f"{r['dirty_rate'] / MB:.0f} MB/s"


def _busy(r: dict, cpus: int | None = None) -> str:
    text = f"source/target kept {r['cores_source']:.2f}/{r['cores_target']:.2f} cores busy"
    bound = [side for side, c in (("source", r["cores_source"]), ("target", r["cores_target"])) if c >= CPU_BOUND]
    if bound:
        text += f" — the {' and the '.join(bound)} CPU-bound"
    both = r["cores_source"] + r["cores_target"]
    if cpus and both >= 0.75 * cpus:
        text += f" (together {both:.2f} of this machine's {cpus} cores, when both ends share it)"
    return text


def _effective_instead(result: dict, r: dict, *, link: bool) -> str:
    b = result["baselines"]
    raw, ssh = _rate(b.get("raw_tcp")), _rate(b.get("openssh_stream"))
    if not raw:
        return f"{_busy(r, result['machine'].get('cpus'))} ({r['mode']} at {_dirty(r)})"
    where = "the link" if link else "raw TCP"
    at_raw = r["wire_bytes"] / raw
    text = (f"OpenSSH ran at {ssh / raw:.2f}x raw TCP{' over the link' if link else ''}; moving this run's "
            f"{r['wire_bytes'] / MB:.0f} MB at {where}'s {raw / MB:.0f} MB/s takes {at_raw:.2f} s, "
            f"at most {r['raw_ceiling_ratio_to_openssh']:.2f}x OpenSSH")
    if r["raw_ceiling_ratio_to_openssh"] < 2.0:
        need = result["size"] * raw / (2 * ssh)
        text += (f" — 2x needs at most {need / MB:.0f} MB on the wire (fewer bytes sent), "
                 f"or more than the wire can carry")
    else:
        text += (f"; the other {r['total_s'] - at_raw:.2f} s of the {r['total_s']:.2f} s are not the wire: "
                 f"{_busy(r, None if link else result['machine'].get('cpus'))}")
    if r.get("batches"):
        text += f"; {r['batches_compressed']} of {r['batches']} batches went compressed"
    return text


def _worst(runs: list[dict], key: str, *, low: bool = True) -> dict:
    return (min if low else max)(runs, key=lambda r: r[key])


def targets(result: dict) -> dict:
    """Each target: ``value`` (with ``unit``), ``met``, and ``instead`` when not met."""
    out: dict = {}
    runs = result["runs"]
    link = bool(result.get("link"))
    warm = [r for r in runs if r["mode"] == "warm" and r.get("ratio_effective_to_openssh") is not None]
    name = "warm effective rate >= 2x OpenSSH over the same link" if link else \
        "warm effective rate >= 2x OpenSSH stream of the same run"
    if warm:
        r = _worst(warm, "ratio_effective_to_openssh")
        v = r["ratio_effective_to_openssh"]
        out[name] = {"value": v, "unit": "x", "met": v >= 2.0}
        if v < 2.0:
            out[name]["instead"] = _effective_instead(result, r, link=link)
    else:
        out[name] = {"value": None, "unit": "x", "met": False,
                     "instead": f"not measured: {result['baselines'].get('openssh_note') or 'no warm run'}"}
    if link:
        return out
    wired = [r for r in runs if r.get("ratio_wire_to_raw_tcp") is not None]
    if wired:
        r = _worst(wired, "ratio_wire_to_raw_tcp")
        v = r["ratio_wire_to_raw_tcp"]
        t = out["wire rate >= 0.5x raw TCP of the same run"] = {"value": v, "unit": "x", "met": v >= 0.5}
        if v < 0.5:
            tls = result["baselines"].get("tls")
            t["instead"] = (f"slowest: {r['mode']} at {_dirty(r)}, {r['wire_rate'] / MB:.0f} MB/s on the wire "
                            f"against raw TCP {result['baselines']['raw_tcp']['rate'] / MB:.0f} MB/s; "
                            f"{_busy(r, result['machine'].get('cpus'))}"
                            + (f"; one TLS socket ran at {tls['rate'] / result['baselines']['raw_tcp']['rate']:.2f}x "
                               f"raw TCP" if tls else ""))
    for rate, upper in ((20e6, 50e6), (50e6, float("inf"))):
        label = f"live downtime <= {DOWNTIME_MS:.0f} ms at {rate / MB:.0f} MB/s"
        live = [r for r in runs if r["mode"] == "live" and rate <= r["dirty_rate"] < upper]
        if not live:
            continue
        r = _worst(live, "downtime_ms", low=False)
        v = r["downtime_ms"]
        t = out[label] = {"value": v, "unit": "ms", "met": v <= DOWNTIME_MS}
        if not t["met"]:
            t["instead"] = (f"guest dirtying {_dirty(r)}: limit {r.get('downtime_limit_ms') or 0:.0f} ms, the source "
                            f"expected {r['expected_downtime_ms']:.0f} ms after {r['rounds']} rounds, guest "
                            f"throttled {r['throttle']} %, {r['memory_sent_bytes'] / MB:.0f} MB of memory sent")
    if runs:
        r = max(runs, key=lambda x: max(x["peak_rss_source"], x["peak_rss_target"]))
        v = max(r["peak_rss_source"], r["peak_rss_target"]) / MB
        label = f"peak RSS of each ldmd <= {RSS_MB:.0f} MB"
        if result["size"] != 4 * GiB:
            label += f" ({result['size'] / GiB:.2f} GiB domain; the target is set for 4 GiB)"
        t = out[label] = {"value": v, "unit": "MB", "met": v <= RSS_MB}
        if not t["met"]:
            side = "source" if r["peak_rss_source"] >= r["peak_rss_target"] else "target"
            t["instead"] = (f"the {side} peaked at {v:.0f} MB in the {r['mode']} run at {_dirty(r)} "
                            f"(source/target {r['peak_rss_source'] / MB:.0f}/{r['peak_rss_target'] / MB:.0f} MB)")
    return out


def target_line(name: str, t: dict) -> str:
    if t["value"] is None:
        value = "-"
    elif t["unit"] == "x":
        value = f"{t['value']:.2f}x"
    elif t["unit"] == "ms":
        value = f"{t['value']:.1f} ms"
    else:
        value = f"{t['value']:.0f} {t['unit']}"
    line = f"target: {name}: {value} — {'met' if t['met'] else 'NOT met'}"
    if not t["met"] and t.get("instead"):
        line += f" (instead: {t['instead']})"
    return line


def transport_text(r: dict) -> str:
    if r.get("transport") == "native":
        return f"native×{r.get('streams') or '?'}"
    return r.get("transport") or "?"


def _ns(seconds: float | None, nbytes: int) -> str:
    return f"{seconds / nbytes * 1e9:.2f}" if seconds is not None and nbytes else "-"


def _ratio(x: float | None) -> str:
    return f"{x:.2f}x" if x is not None else "-"


def baseline_lines(result: dict) -> list[str]:
    b = result["baselines"]
    where = f"over the {result['link']['rate']} link" if result.get("link") else "loopback"
    lines = [f"Baselines, same run, {where}, {b['bytes'] / MB:.0f} MB each (CPU in ns a byte):"]

    def row(label: str, rate: float | None, cpu: str, note: str = "") -> None:
        lines.append(f"  {label:<60} {(f'{rate / MB:7.0f} MB/s') if rate else '      - MB/s'}  {cpu}{note}")

    for key, label in (("raw_tcp", "raw TCP, blocking sockets, memory file → memory file"),
                       ("tls", "TLS 1.3, one Python ssl socket, memory file → memory file")):
        x = b.get(key)
        if x:
            row(label, x["rate"], f"CPU {_ns(x['cpu_send_s'], x['bytes'])}/{_ns(x['cpu_recv_s'], x['bytes'])} "
                                  f"send/receive")
        elif key in b:
            row(label, None, b.get(f"{key}_note", "not run"))
    for key, label, note in (("openssh_stream", "OpenSSH stream: ssh 'head -c N /dev/zero' into the client",
                              " — the targets' reference"),
                             ("openssh_to_file", "OpenSSH into a memory file: ssh 'cat > file' < file",
                              " — informational")):
        x = b.get(key)
        if x:
            row(label, x["rate"], f"CPU {_ns(x['cpu_server_s'], x['bytes'])}/{_ns(x['cpu_client_s'], x['bytes'])} "
                                  f"server/client", note)
        elif key in b:
            row(label, None, b.get(f"{key}_note") or "not run")
    if b.get("asyncssh_channel"):
        row("asyncssh, one channel, both ends in one process", b["asyncssh_channel"], "", " — informational")
    p = b.get("asyncssh_pipeline")
    if p:
        row("asyncssh pipeline: memory file → one channel → memory file", p["rate"],
            f"CPU {_ns(p['cpu_source_s'], p['bytes'])}/{_ns(p['cpu_target_s'], p['bytes'])} send/receive",
            " — informational")
    warm = next((r for r in result["runs"] if r["mode"] == "warm"), None)
    if warm:
        row("ldmd, the first warm migration (per byte on the wire)", warm["wire_rate"],
            f"CPU {_ns(warm['cpu_source_s'], warm['wire_bytes'])}/{_ns(warm['cpu_target_s'], warm['wire_bytes'])} "
            f"source/target")
    return lines


def table(result: dict) -> str:
    m = result["machine"]
    link = result.get("link")
    lines = [f"Machine: {m['cpus']} CPUs ({m['cpu_model']}), {m['memory'] / GiB:.1f} GiB RAM, Linux {m['kernel']}, "
             f"Python {m['python']}; {m.get('date', '')}; state in {result['state_dir']}",
             f"Load average (1 min) at start {m.get('load_average_at_start', 0):.2f}, at end "
             f"{result.get('load_average_at_end', 0):.2f} — other work on the machine slows every figure alike",
             f"Domain: {result['size'] / GiB:.2f} GiB active, {result['memory_mix']}"]
    if link:
        lines.append(f"Link: {link['rate']} token bucket (tc tbf) on a veth pair between two network namespaces, "
                     f"{link['delay']}; control from the benchmark on an unshaped management link")
    else:
        lines.append("Link: loopback, both ldmd on this machine's two cores")
    if result.get("first_touch_summary"):
        lines.append(result["first_touch_summary"])
    lines += ["",
              "mode  dirty MB/s  transport  total s  downtime ms  wire MB  eff MB/s  wire MB/s  rounds  zstd  "
              "RSS src/tgt MB  CPU s src/tgt  eff/OpenSSH  wire/TCP"]
    for r in result["runs"]:
        zstd = f"{100 * r['batches_compressed'] / r['batches']:.0f}%" if r.get("batches") else "-"
        lines.append(
            f"{r['mode']:<5} {r['dirty_rate'] / MB:10.1f} {transport_text(r):>10} {r['total_s']:8.2f} "
            f"{r['downtime_ms']:12.1f} {r['wire_bytes'] / MB:8.0f} {r['effective_rate'] / MB:9.0f} "
            f"{r['wire_rate'] / MB:10.0f} {r['rounds']:7d} {zstd:>5} "
            f"{r['peak_rss_source'] / MB:7.0f}/{r['peak_rss_target'] / MB:<6.0f} "
            f"{r['cpu_source_s']:7.1f}/{r['cpu_target_s']:<5.1f} "
            f"{_ratio(r.get('ratio_effective_to_openssh')):>12} {_ratio(r.get('ratio_wire_to_raw_tcp')):>9}")
    back = [r.get("handed_back_bytes") for r in result["runs"]]
    if any(x is not None for x in back):
        lines.append("freed memory handed back to the hypervisor during each command (free page reporting; "
                     "written again it pays the first touch anew): "
                     + ", ".join("-" if x is None else f"{x / MB:.0f}" for x in back) + " MB")
    asked = result.get("options", {})
    wanted = "tunnelled" if asked.get("tunnelled") else "native"
    odd = [r for r in result["runs"] if r.get("transport") != wanted
           or (asked.get("streams") and r.get("streams") != asked["streams"])]
    if odd:
        streams = f", {asked['streams']} streams" if asked.get("streams") else ""
        lines.append(f"note: {len(odd)} run(s) did not use the transport asked for ({wanted}{streams}): "
                     f"see the transport column (a native migration tunnels when its data streams cannot connect)")
    lines += ["", *baseline_lines(result), ""]
    lines += [target_line(name, t) for name, t in result["targets"].items()]
    return "\n".join(lines)
