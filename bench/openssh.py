"""OpenSSH baselines: a throw-away ``sshd`` (Debian openssh-server) and ``ssh`` against it.

- ``openssh_stream``: ``ssh HOST 'head -c N /dev/zero'`` into the client, output
  discarded — the stream the migration targets are defined against; kept as it always was;
- ``openssh_to_file``: ``ssh HOST 'cat > FILE' < SOURCE`` — the same byte count from a
  memory file on one side into a fresh memory file on the other, as an operator copying a
  guest's memory by hand would. Informational: it pays for reading and writing memory,
  as a migration does, where the stream does not.

Both use AES-128-GCM (OpenSSH's choice here, and the peer link's on a primary with crypto
units), a fresh sshd on a port of its own per measurement, and can run either end in a
network namespace (``server_ns``, ``client_ns``). CPU is counted from the finished
processes (``RUSAGE_CHILDREN``): the client is the ``ssh`` process; the server is sshd,
its session process and the remote command, and includes the probe logins made before
timing (a few milliseconds each).
"""

from __future__ import annotations

import os
import resource
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

CIPHER = "aes128-gcm@openssh.com"


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def sshd_path() -> str | None:
    for p in ("/usr/sbin/sshd", shutil.which("sshd") or ""):
        if p and os.path.exists(p):
            return p
    return None


def _free_port(address: str, ns: str | None) -> int:
    if ns is None:
        with socket.socket() as s:
            s.bind((address, 0))
            return s.getsockname()[1]
    # A port free in another namespace: ask there.
    out = subprocess.run(["ip", "netns", "exec", ns, "python3", "-c",
                          "import socket; s = socket.socket(); s.bind((%r, 0)); print(s.getsockname()[1])" % address],
                         capture_output=True, text=True, check=True, timeout=30)
    return int(out.stdout.strip())


class Sshd:
    """One sshd on ``address`` (in ``server_ns`` if given) accepting one fresh client key;
    ``command(remote)`` is the ``ssh`` command line that runs ``remote`` there from
    ``client_ns``. Raises ``Unavailable`` when OpenSSH is missing or the login fails."""

    class Unavailable(Exception):
        pass

    def __init__(self, *, address: str = "127.0.0.1", server_ns: str | None = None,
                 client_ns: str | None = None) -> None:
        self.address = address
        self.server_ns = server_ns
        self.client_ns = client_ns
        self.client_cpu = 0.0
        self.server_cpu = 0.0
        self._tmp: Path | None = None
        self._proc: subprocess.Popen | None = None
        self._cpu0 = 0.0

    def __enter__(self) -> Sshd:
        sshd, ssh = sshd_path(), shutil.which("ssh")
        if not sshd or not ssh:
            raise self.Unavailable("OpenSSH server or client not installed (apt-get install openssh-server)")
        self._cpu0 = _children_cpu()
        tmp = self._tmp = Path(tempfile.mkdtemp(prefix="ldtui-bench-sshd-"))
        try:
            for name in ("host", "client"):
                subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", tmp / name], check=True)
            (tmp / "authorized_keys").write_text((tmp / "client.pub").read_text())
            os.chmod(tmp, 0o700)
            port = _free_port(self.address, self.server_ns)
            cfg = tmp / "sshd_config"
            cfg.write_text(
                f"Port {port}\nListenAddress {self.address}\nHostKey {tmp / 'host'}\n"
                f"AuthorizedKeysFile {tmp / 'authorized_keys'}\nPasswordAuthentication no\n"
                f"StrictModes no\nPidFile {tmp / 'sshd.pid'}\nUsePAM no\n")
            os.makedirs("/run/sshd", exist_ok=True)
            self._proc = subprocess.Popen(self._in(self.server_ns) + [sshd, "-D", "-e", "-f", str(cfg)],
                                          stderr=subprocess.DEVNULL)
            self._base = self._in(self.client_ns) + [
                ssh, "-p", str(port), "-i", str(tmp / "client"), "-o", "StrictHostKeyChecking=no",
                "-o", f"UserKnownHostsFile={tmp / 'kh'}", "-o", "BatchMode=yes",
                "-c", CIPHER, f"{os.environ.get('USER', 'root')}@{self.address}"]
            for _ in range(50):
                if self.run("true", capture_output=True, timeout=10).returncode == 0:
                    break
                time.sleep(0.1)
            else:
                raise self.Unavailable("local sshd did not accept the benchmark key")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    @staticmethod
    def _in(ns: str | None) -> list[str]:
        return ["ip", "netns", "exec", ns] if ns else []

    def command(self, remote: str) -> list[str]:
        return self._base + [remote]

    def run(self, remote: str, **kwargs) -> subprocess.CompletedProcess:
        """Run ``remote`` on the server; the client's CPU is counted."""
        before = _children_cpu()
        try:
            return subprocess.run(self.command(remote), **kwargs)
        finally:
            self.client_cpu += _children_cpu() - before

    def __exit__(self, *exc) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(10)
            self._proc = None
            self.server_cpu = _children_cpu() - self._cpu0 - self.client_cpu
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None


def _result(nbytes: int, elapsed: float, sshd: Sshd, client_cpu: float, note: str) -> dict:
    return {"rate": nbytes / elapsed, "bytes": nbytes, "seconds": elapsed, "note": note,
            "cpu_client_s": client_cpu, "cpu_server_s": sshd.server_cpu}


def openssh_stream(nbytes: int, *, address: str = "127.0.0.1", server_ns: str | None = None,
                   client_ns: str | None = None) -> tuple[dict | None, str]:
    """Stream ``nbytes`` of zeros from the server's ``head`` into the client, discarded;
    returns (result, note). The server is the sending side."""
    try:
        with Sshd(address=address, server_ns=server_ns, client_ns=client_ns) as sshd:
            cpu = sshd.client_cpu
            start = time.perf_counter()
            out = sshd.run(f"head -c {nbytes} /dev/zero", stdout=subprocess.DEVNULL, timeout=1800)
            elapsed = time.perf_counter() - start
            client = sshd.client_cpu - cpu
            if out.returncode != 0:
                return None, f"ssh stream failed (exit {out.returncode})"
    except Sshd.Unavailable as e:
        return None, str(e)
    note = "OpenSSH, aes128-gcm, one stream into the client"
    return _result(nbytes, elapsed, sshd, client, note), note


def openssh_to_file(source: Path, dest: Path, *, address: str = "127.0.0.1", server_ns: str | None = None,
                    client_ns: str | None = None) -> tuple[dict | None, str]:
    """``ssh HOST 'cat > DEST' < SOURCE``: the client sends; ``dest`` is removed after."""
    nbytes = source.stat().st_size
    try:
        with Sshd(address=address, server_ns=server_ns, client_ns=client_ns) as sshd, open(source, "rb") as f:
            cpu = sshd.client_cpu
            start = time.perf_counter()
            out = sshd.run(f"cat > {dest}", stdin=f, timeout=1800)
            elapsed = time.perf_counter() - start
            client = sshd.client_cpu - cpu
            got = dest.stat().st_size if dest.exists() else 0
            if out.returncode != 0 or got != nbytes:
                return None, f"ssh 'cat > file' failed (exit {out.returncode}, {got} of {nbytes} bytes)"
    except Sshd.Unavailable as e:
        return None, str(e)
    finally:
        dest.unlink(missing_ok=True)
    note = "OpenSSH, aes128-gcm, memory file → ssh → cat > memory file"
    return _result(nbytes, elapsed, sshd, client, note), note
