"""The ``ldtui`` command line: which hosts to open, where to log, which theme (SPEC T-1).

``ldtui`` alone starts the embedded lab and connects to its hosts over SSH, exactly as to
remote ones; ``ldtui USER@HOST:PORT …`` or ``ldtui --hosts FILE`` connects to running
``ldmd``'s, as the operator's ssh_config says (``-F FILE``; aliases, ProxyJump…) and through
``--jump`` hosts (SPEC S-3). Host keys are checked against ``$LDM_KNOWN_HOSTS``, else
``~/.ldtui/known_hosts``, the file ``ldm`` asks about new hosts into. Nothing is ever
printed over the screen: logs go to a file.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import attrs

from ldtui.core.errors import LdmError
from ldtui.widgets.hostspec import HostSpec, load_hosts_file, parse_target
from ldtui.widgets.themes import ldtui_home


def log_to_file(path: Path) -> None:
    """Send every logger (ours, asyncssh's, warnings) to ``path`` and nowhere else."""
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("asyncssh").setLevel(logging.WARNING)  # per-packet chatter buries our lines
    logging.captureWarnings(True)


def link_for(spec: HostSpec, route=None):
    """The link to one configured host; ``route`` (``net.sshroute``) says how to reach it."""
    from ldtui.net.hostlink import HostLink
    from ldtui.net.sshroute import config_files, resolve

    route = route or resolve(spec.address, files=config_files(), user=spec.user, port=spec.port, jumps=spec.jump)
    target = route.target
    keys = [spec.key] if spec.key else [p for p in target.identities if os.path.exists(p)]
    known = spec.known_hosts or os.environ.get("LDM_KNOWN_HOSTS") or str(ldtui_home() / "known_hosts")
    return HostLink(target.host, target.port, target.user, password=spec.password,
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
    from ldtui.app import OpenedHosts
    from ldtui.net.hostlink import HostLink
    from ldtui.net.lab import EmbeddedLab
    from ldtui.widgets.rehearsal import LabRehearsal

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


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ldtui", description="Console for moving logical domains between hosts.")
    p.add_argument("targets", nargs="*", metavar="USER@HOST:PORT", help="running ldmd's to connect to")
    p.add_argument("--hosts", dest="hosts_file", type=Path, metavar="FILE", help="TOML list of hosts")
    p.add_argument("-F", "--ssh-config", metavar="FILE", help="ssh_config to read instead of ~/.ssh/config")
    p.add_argument("--jump", metavar="USER@BASTION[:PORT]",
                   help="jump host(s), comma-separated, for the hosts named on the command line")
    p.add_argument("--theme", help="ldtui-dark, ldtui-light, ldtui-high-contrast or any Textual theme")
    p.add_argument("--lab-file", type=Path, help="embedded lab description (without hosts)")
    p.add_argument("--state-dir", type=Path, help="embedded lab state directory")
    return p


def main(argv: list[str] | None = None) -> int:
    from functools import partial

    from ldtui.app import LdtuiApp

    from ldtui.net.sshroute import RouteError

    args = parser().parse_args(argv)
    try:
        specs = [attrs.evolve(parse_target(t), jump=args.jump) for t in args.targets]
        if args.hosts_file:
            specs += load_hosts_file(args.hosts_file)
        if args.jump and not args.targets:
            raise LdmError("usage", "--jump needs hosts on the command line (a hosts file says jump = per host)")
        sources = links_for(specs, args.ssh_config) if specs else {}
    except LdmError as exc:
        print(f"ldtui: {exc.text()}", file=sys.stderr)
        return 2
    except RouteError as exc:
        print(f"ldtui: {exc.message}", file=sys.stderr)
        return 2
    if specs:
        log_to_file(ldtui_home() / "ldtui.log")
        app = LdtuiApp(sources, users={name: link.user for name, link in sources.items()}, theme=args.theme)
    else:
        state_dir = args.state_dir or ldtui_home() / "lab"
        log_to_file(state_dir / "ldtui.log")
        app = LdtuiApp(open_hosts=partial(open_lab, args.lab_file, state_dir), theme=args.theme)
    app.run()
    return app.return_code or 0
