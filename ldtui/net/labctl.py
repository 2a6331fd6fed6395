"""``ldtui-lab start|stop|status``: the lab as one ``ldmd`` process per host.

    ldtui-lab start [--lab FILE] [--state DIR]
    ldtui-lab stop [--state DIR]
    ldtui-lab status [--state DIR]

``start`` gives each host its own state directory (``DIR/HOST``), starts ``ldmd`` on a
loopback port the system picks, then writes what the hosts need to know of each other:
a known_hosts file with every host key and, per host, a peers file with the others'
ports (``ldmd`` re-reads it). ``DIR/lab.json`` records hosts, ports and pids; ``stop``
signals exactly those processes. State persists between runs: a second ``start`` brings
back the hosts as they were left.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import tomli_w

from ldtui.core.errors import LdmError
from ldtui.core.hostconfig import lab_host_tables, load_lab
from ldtui.net.lab import default_lab_file, lab_password

DEFAULT_STATE = "lab-state"
START_TIMEOUT = 30.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_our_ldmd(pid: int, state_dir: Path) -> bool:
    """Only signal a pid that is still the ldmd we started (pids get reused)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return _alive(pid)
    return b"ldtui.net.daemon" in b" ".join(cmdline) and str(state_dir).encode() in b" ".join(cmdline)


def _read_state(state: Path) -> dict | None:
    try:
        return json.loads((state / "lab.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def start(lab_file: Path, state: Path) -> int:
    configs = load_lab(lab_file)
    import tomllib
    tables = lab_host_tables(tomllib.loads(lab_file.read_text(encoding="utf-8")), lab_file.name)
    state.mkdir(parents=True, exist_ok=True)
    running = _read_state(state)
    if running and any(_alive(h["pid"]) and _is_our_ldmd(h["pid"], Path(h["state"])) for h in running["hosts"]):
        raise LdmError("lab-running", f"a lab is already running in {state}; run 'ldtui-lab stop' first")
    hosts = []
    for cfg, table in zip(configs, tables):
        hdir = (state / cfg.name).resolve()
        hdir.mkdir(parents=True, exist_ok=True)
        table = dict(table)
        table["host"] = dict(table["host"], listen="127.0.0.1", port=0)
        # The host's own file keeps only the hashes: clear text stays in the lab file.
        table["users"] = [{"name": u.name, "password_hash": u.password_hash, "keys": list(u.keys),
                           "authorizations": list(u.authorizations)} for u in cfg.users]
        (hdir / "host.toml").write_text(tomli_w.dumps(table), encoding="utf-8")
        port_file = hdir / "port"
        port_file.unlink(missing_ok=True)
        with open(hdir / "ldmd.out", "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "ldtui.net.daemon", "--config", str(hdir / "host.toml"), "--state", str(hdir),
                 "--port-file", str(port_file), "--peers", str(hdir / "peers.toml")],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
        hosts.append({"name": cfg.name, "pid": proc.pid, "state": str(hdir), "port": 0, "proc": proc})
    deadline = time.monotonic() + START_TIMEOUT
    for h in hosts:
        port_file = Path(h["state"]) / "port"
        while not port_file.exists():
            if h["proc"].poll() is not None or time.monotonic() > deadline:
                out = (Path(h["state"]) / "ldmd.out").read_text(errors="replace").strip().splitlines()
                _stop_pids([x for x in hosts if x["proc"].poll() is None])
                why = out[-1] if out else "see its ldmd.log"
                raise LdmError("lab-start", f"ldmd for {h['name']} did not start: {why}")
            time.sleep(0.05)
        h["port"] = int(port_file.read_text().strip())
    known = (state / "known_hosts").resolve()
    known.write_text("".join(
        f"[127.0.0.1]:{h['port']} {' '.join((Path(h['state']) / 'ssh_host_ed25519_key.pub').read_text().split()[:2])}\n"
        for h in hosts), encoding="utf-8")
    for h in hosts:
        peers = {o["name"]: f"127.0.0.1:{o['port']}" for o in hosts if o is not h}
        (Path(h["state"]) / "peers.toml").write_text(
            tomli_w.dumps({"known_hosts": str(known), "peers": peers}), encoding="utf-8")
    record = {"lab": str(lab_file.resolve()), "known_hosts": str(known),
              "hosts": [{k: v for k, v in h.items() if k != "proc"} for h in hosts]}
    (state / "lab.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    for protocol, name in (("ldtui", "hosts.toml"), ("ldm", "hosts-ldm.toml")):
        _write_hosts_file(state / name, configs, hosts, known, protocol)
    print(f"Lab started from {lab_file} (state in {state}).")
    print(f"Host keys are in {known}; pass it as LDM_KNOWN_HOSTS (or --known-hosts).")
    print(f"Console: ldtui --hosts {(state / 'hosts.toml').resolve()}")
    print(f"  or, each host reached through its ldm alone (protocol ldm, as an Oracle VM Server for SPARC "
          f"control domain): ldtui --hosts {(state / 'hosts-ldm.toml').resolve()}")
    for cfg, h in zip(configs, hosts):
        print(f"\n{cfg.name}  (pid {h['pid']}, port {h['port']})")
        for u in cfg.users:
            pw = lab_password(cfg, u.name)
            print(f"  LDM_KNOWN_HOSTS={known} ldm -H {u.name}@127.0.0.1:{h['port']} list"
                  + (f"      password: {pw}" if pw else ""))
        print(f"  ssh -p {h['port']} -o UserKnownHostsFile={known} root@127.0.0.1 ldm list")
    return 0


def _write_hosts_file(path: Path, configs, hosts: list[dict], known: Path, protocol: str) -> None:
    """The console's hosts file for the running lab: each host as root, by its name."""
    entries = [{"name": cfg.name, "address": "127.0.0.1", "port": h["port"], "user": "root",
                "password": lab_password(cfg, "root") or "", "known_hosts": str(known), "protocol": protocol}
               for cfg, h in zip(configs, hosts)]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(tomli_w.dumps({"host": entries}))


def _stop_pids(hosts: list[dict], timeout: float = 10.0) -> None:
    for h in hosts:
        try:
            os.kill(h["pid"], signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    for h in hosts:
        while _alive(h["pid"]) and time.monotonic() < deadline:
            if "proc" in h and h["proc"].poll() is not None:
                break
            try:
                if os.waitpid(h["pid"], os.WNOHANG)[0]:
                    break
            except ChildProcessError:
                pass
            time.sleep(0.05)
        if _alive(h["pid"]) and not ("proc" in h and h["proc"].poll() is not None):
            try:
                os.kill(h["pid"], signal.SIGKILL)
            except ProcessLookupError:
                pass


def stop(state: Path) -> int:
    record = _read_state(state)
    if not record:
        print(f"No lab is recorded in {state}.")
        return 0
    ours = [h for h in record["hosts"] if _alive(h["pid"]) and _is_our_ldmd(h["pid"], Path(h["state"]))]
    _stop_pids(ours)
    for h in record["hosts"]:
        print(f"{h['name']}: {'stopped' if h in ours else 'was not running'}")
    (state / "lab.json").unlink(missing_ok=True)
    return 0


def status(state: Path) -> int:
    record = _read_state(state)
    if not record:
        print(f"No lab is recorded in {state}.")
        return 1
    down = 0
    print(f"{'HOST':<16}{'PID':<9}{'PORT':<8}STATE")
    for h in record["hosts"]:
        alive = _alive(h["pid"]) and _is_our_ldmd(h["pid"], Path(h["state"]))
        listening = False
        if alive:
            try:
                with socket.create_connection(("127.0.0.1", h["port"]), timeout=2):
                    listening = True
            except OSError:
                pass
        state_text = "up" if listening else ("not answering" if alive else "down")
        down += state_text != "up"
        print(f"{h['name']:<16}{h['pid']:<9}{h['port']:<8}{state_text}")
    return 1 if down else 0


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="ldtui-lab", description="Run a lab of simulated hosts as ldmd processes")
    sub = p.add_subparsers(dest="action", required=True)
    s = sub.add_parser("start", help="start one ldmd per host of the lab")
    s.add_argument("--lab", type=Path, default=None, help="lab file (default: the packaged lab)")
    s.add_argument("--state", type=Path, default=Path(DEFAULT_STATE))
    for name, text in (("stop", "stop the lab's ldmd processes"), ("status", "show which hosts are up")):
        sp = sub.add_parser(name, help=text)
        sp.add_argument("--state", type=Path, default=Path(DEFAULT_STATE))
    args = p.parse_args(argv)
    try:
        if args.action == "start":
            code = start(args.lab or default_lab_file(), args.state)
        elif args.action == "stop":
            code = stop(args.state)
        else:
            code = status(args.state)
    except LdmError as e:
        sys.stderr.write(f"ldtui-lab: {e.message}\n")
        code = 2
    raise SystemExit(code)
