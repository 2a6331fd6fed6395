"""How long one ``ldm -H host list`` takes, against ``ssh host ldm list`` in the same run.

    python -m bench.ldm_latency [--runs 25] [--ldm PATH] [--json bench/results/ldm_latency.json]

Starts one ``ldmd`` on a loopback port (a small host; root logs in with a key made for the
run) and times, interleaved round by round so that all see the same load:

- ``ssh``: stock OpenSSH ``ssh -p PORT root@127.0.0.1 ldm list`` against that ldmd (ldmd
  is the SSH server: this is the baseline an operator has without ldtui's client);
- ``ldm``: ``ldm -H root@127.0.0.1:PORT list``, its own SSH connection each time;
- ``ldm shared``: the same command line once ``ldm --persist`` keeps a shared connection;
- ``ssh shared`` (for reference): OpenSSH with its own ControlMaster/ControlPersist.

``--ldm PATH`` times another installation's ``ldm`` (a regular ``pip install .`` instead of
this editable one, whose import hook every Python process of it loads at start).

Every run's stdout must be the same listing (the figures in UTIL and UPTIME aside) and its
exit status 0. Prints medians and 90th percentiles, the ratios to ``ssh``, the import time
of the client, the first ``--persist`` run, the load average, and the target: ``ldm -H
host list`` ≤ 1.5× ``ssh host ldm list``, with and without sharing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_RATIO = 1.5

HOST_TOML = """\
[host]
name = "bench-ldm"

[machine]
memory = [{{ pa = "0x0", size = "16G" }}]

[[users]]
name = "root"
password = "bench"
keys = ["{key}"]
authorizations = ["write"]

[primary]
vcpus = 8
memory = "4G"

[[services.vcc]]
name = "primary-vcc0"
port_range = "5000-5100"

[[domains]]
name = "ldg1"
vcpus = 4
memory = "1G"
state = "active"

[[domains]]
name = "ldg2"
vcpus = 1
memory = "512M"
state = "bound"
"""


def _keypair(path: Path) -> str:
    import asyncssh

    key = asyncssh.generate_private_key("ssh-ed25519")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.export_private_key("openssh"))
    return " ".join(key.export_public_key("openssh").decode().split()[:2])


def _host_key(state: Path) -> str:
    import asyncssh

    key = asyncssh.read_private_key(state / "ssh_host_ed25519_key")
    return " ".join(key.export_public_key("openssh").decode().split()[:2])


def _start_ldmd(work: Path, key_line: str) -> tuple[subprocess.Popen, int]:
    (work / "host.toml").write_text(HOST_TOML.format(key=key_line))
    port_file = work / "port"
    ldmd = [sys.executable, "-c", "from ldtui.net.daemon import main; main()"]
    proc = subprocess.Popen([*ldmd, "--config", str(work / "host.toml"), "--state", str(work / "state"),
                             "--listen", "127.0.0.1:0", "--port-file", str(port_file)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic() + 60
    while not (port_file.exists() and port_file.read_text().strip()):
        if proc.poll() is not None or time.monotonic() > end:
            raise SystemExit("ldmd did not start")
        time.sleep(0.05)
    return proc, int(port_file.read_text())


LDM: list[str] = []


def _ldm_command() -> list[str]:
    if LDM:
        return LDM
    script = Path(sys.executable).parent / "ldm"
    return [str(script)] if script.exists() else [sys.executable, "-c", "from ldtui.net.client import main; main()"]


def _client_python() -> str:
    """The interpreter of the ldm being timed."""
    beside = Path(_ldm_command()[0]).parent / "python"
    return str(beside) if LDM and beside.exists() else sys.executable


_FIGURES = re.compile(rb"\s+[0-9.]+%\s+\S.*$", re.M)


def _shape(listing: bytes) -> bytes:
    """The listing without UTIL and UPTIME, which move between runs."""
    return _FIGURES.sub(b"", listing)


def _time(argv: list[str], env: dict) -> tuple[float, bytes]:
    t0 = time.perf_counter()
    done = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{argv[0]} failed ({done.returncode}): {done.stderr.decode(errors='replace')}")
    return elapsed, done.stdout


def _median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def _p90_ms(values: list[float]) -> float:
    return sorted(values)[max(0, int(len(values) * 0.9) - 1)] * 1000


def _import_time(runs: int) -> tuple[float, float]:
    """Median seconds of ``python -c 'import ldtui.net.client'`` and of a bare ``python -c pass``."""
    def median(code: str) -> float:
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            subprocess.run([_client_python(), "-c", code], check=True, cwd="/")
            times.append(time.perf_counter() - t0)
        return statistics.median(times)
    return median("import ldtui.net.client"), median("pass")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=25, help="rounds (each times every variant once)")
    p.add_argument("--ldm", help="the ldm executable to time (default: this installation's)")
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args(argv)
    if args.ldm:
        LDM[:] = [args.ldm]
    ssh = shutil.which("ssh")
    if ssh is None:
        raise SystemExit("the OpenSSH client (ssh) is needed for the baseline")
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="ldm-bench-", dir="/tmp"))
    try:
        key = work / "id_ed25519"
        proc, port = _start_ldmd(work, _keypair(key))
        try:
            known = work / "known_hosts"
            known.write_text(f"[127.0.0.1]:{port} {_host_key(work / 'state')}\n")
            home = work / "home"
            home.mkdir()
            (work / "run").mkdir(mode=0o700)
            (work / "shared-run").mkdir(mode=0o700)
            base = {k: v for k, v in os.environ.items()
                    if not k.startswith("LDM_") and k not in ("SSH_AUTH_SOCK", "XDG_RUNTIME_DIR", "LDTUI_HOME")}
            base["HOME"] = str(home)
            alone = {**base, "XDG_RUNTIME_DIR": str(work / "run")}
            sharing = {**base, "XDG_RUNTIME_DIR": str(work / "shared-run")}
            ssh_opts = [ssh, "-p", str(port), "-i", str(key), "-F", "/dev/null", "-o", "BatchMode=yes",
                        "-o", "IdentitiesOnly=yes", "-o", f"UserKnownHostsFile={known}",
                        "-o", "StrictHostKeyChecking=yes", "-o", "LogLevel=ERROR"]
            control = work / "ssh-control"
            variants = {
                "ssh": ([*ssh_opts, "-o", "ControlMaster=no", "root@127.0.0.1", "ldm", "list"], base),
                "ldm": ([*_ldm_command(), "-H", f"root@127.0.0.1:{port}", "-i", str(key), "--known-hosts", str(known),
                         "list"], alone),
                "ldm shared": ([*_ldm_command(), "-H", f"root@127.0.0.1:{port}", "-i", str(key),
                                "--known-hosts", str(known), "list"], sharing),
                "ssh shared": ([*ssh_opts, "-o", "ControlMaster=auto", "-o", f"ControlPath={control}",
                                "-o", "ControlPersist=600", "root@127.0.0.1", "ldm", "list"], base),
            }
            first_persist, listing = _time([*_ldm_command(), "--persist", "600", "-H", f"root@127.0.0.1:{port}",
                                            "-i", str(key), "--known-hosts", str(known), "list"], sharing)
            _time(variants["ssh shared"][0], base)           # OpenSSH's master, for the reference row
            times: dict[str, list[float]] = {name: [] for name in variants}
            for _ in range(args.runs):
                for name, (command, env) in variants.items():
                    elapsed, out = _time(command, env)
                    if _shape(out) != _shape(listing):
                        raise SystemExit(f"{name} printed another listing:\n{out.decode(errors='replace')}")
                    times[name].append(elapsed)
            subprocess.run([*_ldm_command(), "--close", f"root@127.0.0.1:{port}"], env=sharing, timeout=30)
            subprocess.run([*ssh_opts, "-o", f"ControlPath={control}", "-O", "exit", "root@127.0.0.1"],
                           env=base, capture_output=True, timeout=30)
            imported, bare = _import_time(max(5, args.runs // 2))
        finally:
            proc.terminate()
            proc.wait(30)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load_after = os.getloadavg()

    baseline = _median_ms(times["ssh"])
    print(f"ldm latency: {args.runs} rounds, {os.cpu_count()} CPUs, load average "
          f"{load_before[0]:.2f} before, {load_after[0]:.2f} after, Python {sys.version.split()[0]}, "
          f"ldm {_ldm_command()[0]}")
    print(f"{'variant':<12} {'median ms':>10} {'p90 ms':>8} {'÷ ssh':>7}")
    rows = {}
    for name, values in times.items():
        med = _median_ms(values)
        rows[name] = {"median_ms": round(med, 1), "p90_ms": round(_p90_ms(values), 1),
                      "ratio_to_ssh": round(med / baseline, 2)}
        print(f"{name:<12} {med:>10.1f} {_p90_ms(values):>8.1f} {med / baseline:>6.2f}×")
    print(f"import ldtui.net.client: {imported * 1000:.0f} ms (python -c pass: {bare * 1000:.0f} ms); "
          f"first ldm --persist run (starts the holder): {first_persist * 1000:.0f} ms")
    for name, label in (("ldm", "without sharing"), ("ldm shared", "with sharing")):
        ratio = rows[name]["ratio_to_ssh"]
        verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
        print(f"target: ldm -H host list ≤ {TARGET_RATIO}× ssh host ldm list, {label}: "
              f"{rows[name]['median_ms']:.0f} ms vs {baseline:.0f} ms = {ratio:.2f}× — {verdict}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "runs": args.runs, "cpus": os.cpu_count(), "ldm": _ldm_command()[0], "load_before": load_before, "load_after": load_after,
            "variants": rows, "import_ms": round(imported * 1000, 1), "python_ms": round(bare * 1000, 1),
            "first_persist_ms": round(first_persist * 1000, 1)}, indent=2) + "\n")


if __name__ == "__main__":
    main()
