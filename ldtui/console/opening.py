"""Opening the console's hosts: SSH links to running ldmd's, or the embedded lab and a link to each host."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Mapping

import attrs

from ldtui.console.hostspec import HostSpec
from ldtui.console.source import HostSource
from ldtui.console.settings import ldtui_home


@attrs.frozen(kw_only=True)
class OpenedHosts:
    """What opening the hosts produced (the embedded lab, or links to running ldmd's)."""

    sources: Mapping[str, HostSource]
    users: Mapping[str, str] = attrs.Factory(dict)
    passwords: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    """Lab credentials the console already holds (host → password of its user), used to
    fill in the migrate form's target password; empty for real hosts."""
    rehearsal: Any = None
    close: Callable[[], None] | None = None


def link_for(spec: HostSpec, route=None):
    """The link to one configured host; ``route`` (``net.sshroute``) says how to reach it."""
    from ldtui.net.hostlink import HostLink
    from ldtui.net.ldmexec import LdmExecLink
    from ldtui.net.sshroute import config_files, resolve

    route = route or resolve(spec.address, files=config_files(), user=spec.user, port=spec.port, jumps=spec.jump)
    target = route.target
    keys = [spec.key] if spec.key else [p for p in target.identities if os.path.exists(p)]
    known = spec.known_hosts or os.environ.get("LDM_KNOWN_HOSTS") or str(ldtui_home() / "known_hosts")
    kind = LdmExecLink if spec.protocol == "ldm" else HostLink
    return kind(target.host, target.port, target.user, password=spec.password,
                    client_keys=keys or None, known_hosts=known, label=spec.name,
                    connect_timeout=target.connect_timeout or 10.0,
                    keepalive_interval=target.keepalive_interval or 5.0,
                    keepalive_count_max=target.keepalive_count_max or 3,
                    jumps=route.jumps, host_key_alias=target.host_key_alias, agent_path=target.agent_path())


def links_for(specs: list[HostSpec], ssh_config: str | None = None) -> dict:
    """Name → link of every configured host, through the operator's ssh_config (``-F``)."""
    from ldtui.net.sshroute import config_files, resolve

    files = config_files(ssh_config)
    return {spec.name: link_for(spec, resolve(spec.address, files=files, user=spec.user, port=spec.port,
                                              jumps=spec.jump))
            for spec in specs}


def open_lab(lab_file: Path | None, state_dir: Path):
    """Start the embedded lab's hosts and one SSH link to each (runs off the UI thread)."""
    from ldtui.net.hostlink import HostLink
    from ldtui.net.lab import EmbeddedLab
    from ldtui.console.rehearsal import LabRehearsal

    lab = EmbeddedLab(lab_file=lab_file, state_dir=state_dir)
    endpoints = lab.start()
    sources = {}
    users = {}
    passwords = {}
    for ep in endpoints:
        sources[ep.hostname] = HostLink(ep.host, ep.port, ep.user, password=ep.password,
                                        known_hosts=ep.known_hosts_path or None,
                                        label=ep.hostname)
        users[ep.hostname] = ep.user
        passwords[ep.hostname] = ep.password
    return OpenedHosts(sources=sources, users=users, passwords=passwords, rehearsal=LabRehearsal(lab),
                       close=lab.stop)
