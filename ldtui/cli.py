"""The ``ldtui`` command line: which hosts to open, where to log, which theme.

``ldtui`` alone starts the embedded lab and connects to its hosts over SSH, exactly as to
remote ones; ``ldtui USER@HOST:PORT …`` or ``ldtui --hosts FILE`` connects to running
``ldmd``'s, as the operator's ssh_config says (``-F FILE``; aliases, ProxyJump…) and through
``--jump`` hosts. Host keys are checked against ``$LDM_KNOWN_HOSTS``, else
``~/.ldtui/known_hosts``, the file ``ldm`` asks about new hosts into. Nothing is ever
printed over the screen: logs go to a file.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import attrs

from ldtui.console.hostspec import load_hosts_file, parse_target
from ldtui.console.opening import links_for, open_lab
from ldtui.core.errors import LdmError
from ldtui.console.settings import ldtui_home


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


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ldtui", description="Console for moving logical domains between hosts.")
    p.add_argument("targets", nargs="*", metavar="USER@HOST:PORT", help="running ldmd's to connect to")
    p.add_argument("--hosts", dest="hosts_file", type=Path, metavar="FILE", help="TOML list of hosts")
    p.add_argument("-F", "--ssh-config", metavar="FILE", help="ssh_config to read instead of ~/.ssh/config")
    p.add_argument("--jump", metavar="USER@BASTION[:PORT]",
                   help="jump host(s), comma-separated, for the hosts named on the command line")
    p.add_argument("--protocol", choices=("ldtui", "ldm"), default="ldtui",
                   help="for the hosts named on the command line: ldtui (an ldmd, the default) or ldm "
                        "(Oracle's ldm over stock SSH, as on a real control domain)")
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
        specs = [attrs.evolve(parse_target(t), jump=args.jump, protocol=args.protocol) for t in args.targets]
        if args.hosts_file:
            specs += load_hosts_file(args.hosts_file)
        if args.jump and not args.targets:
            raise LdmError("usage", "--jump needs hosts on the command line (a hosts file says jump = per host)")
        if args.protocol != "ldtui" and not args.targets:
            raise LdmError("usage", "--protocol needs hosts on the command line (a hosts file says protocol = per host)")
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
