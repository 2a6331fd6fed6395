"""``ldtui-install-extras``: man pages and shell completion where the system looks for them.

    ldtui-install-extras [--prefix DIR]       # default ~/.local
    ldtui-install-extras --print NAME         # one file to stdout: ldm.1, ldmd.8, ldtui.1,
                                              # bash:ldm, bash:ldtui, bash:ldmd, zsh:_ldm, …

Under the prefix: ``share/man/man1/ldm.1``, ``share/man/man1/ldtui.1``,
``share/man/man8/ldmd.8``; ``share/bash-completion/completions/{ldm,ldtui,ldmd}`` (where
bash-completion looks for a command's completion when it is first needed);
``share/zsh/site-functions/{_ldm,_ldtui,_ldmd}`` (a directory to put in ``$fpath``).
Files already there are replaced: run it again after an upgrade.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from ldtui.extras.completion import bash_script, zsh_script
from ldtui.extras.manpages import PAGES, page

PROGRAMS = ("ldm", "ldtui", "ldmd")


def files() -> dict[str, tuple[str, Callable[[], str]]]:
    """Name for ``--print`` → (path under the prefix, what writes it)."""
    out: dict[str, tuple[str, Callable[[], str]]] = {}
    for name in PAGES:
        out[name] = (f"share/man/man{name.rsplit('.', 1)[1]}/{name}", lambda n=name: page(n))
    for prog in PROGRAMS:
        out[f"bash:{prog}"] = (f"share/bash-completion/completions/{prog}", lambda p=prog: bash_script(p))
        out[f"zsh:_{prog}"] = (f"share/zsh/site-functions/_{prog}", lambda p=prog: zsh_script(p))
    return out


def install(prefix: Path) -> list[Path]:
    written = []
    for rel, make in files().values():
        path = prefix / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(make(), encoding="utf-8")
        os.replace(tmp, path)
        written.append(path)
    return written


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ldtui-install-extras",
                                description="Install the man pages and shell completion of ldm, ldmd and ldtui.")
    p.add_argument("--prefix", type=Path, default=Path("~/.local"), help="where share/ is (default: ~/.local)")
    p.add_argument("--print", dest="show", metavar="NAME", choices=sorted(files()),
                   help="print one file instead: " + ", ".join(sorted(files())))
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.show:
        sys.stdout.write(files()[args.show][1]())
        return
    prefix = args.prefix.expanduser()
    try:
        written = install(prefix)
    except OSError as e:
        sys.stderr.write(f"ldtui-install-extras: {e.filename or prefix}: {e.strerror or e}\n")
        raise SystemExit(1)
    for path in written:
        print(path)
    man = prefix / "share" / "man"
    print(f"\nman ldm: if it is not found, add {man} to MANPATH (e.g. MANPATH=\"{man}:$(manpath)\").")
    print("bash: bash-completion loads the completion the first time a command is completed.")
    print(f"zsh: fpath=({prefix / 'share' / 'zsh' / 'site-functions'} $fpath) before compinit in ~/.zshrc.")
