"""SSH keys on disk: the host key made once and kept, client keys for tests and labs."""

from __future__ import annotations

import os
from pathlib import Path

import asyncssh


def load_or_create_host_key(path: str | Path) -> asyncssh.SSHKey:
    """The host's ed25519 key; generated on first start and kept, so clients can trust it."""
    p = Path(path)
    if p.exists():
        return asyncssh.read_private_key(p)
    key = asyncssh.generate_private_key("ssh-ed25519")
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    # Write then rename: a crash never leaves a half-written key that would change identity.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.export_private_key("openssh"))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, p)
    key.write_public_key(str(p) + ".pub")
    return key


def public_key_line(key: asyncssh.SSHKey, comment: str = "") -> str:
    """``ssh-ed25519 AAAA… comment`` for an authorized key or known_hosts entry."""
    parts = key.export_public_key("openssh").decode().split()[:2]
    return " ".join(parts + ([comment] if comment else []))
