"""Man pages in roff: ``ldm(1)``, ``ldmd(8)``, ``ldtui(1)``.

``ldm(1)`` lists every subcommand of the ``@command`` table with its aliases, synopses,
notes, options and authorization; ``ldmd(8)`` and ``ldtui(1)`` every argument of their
argparse parsers. The descriptions are the programs' own module documentation, so what
``--help`` and the man page say comes from one place.
"""

from __future__ import annotations

import re

from ldtui import __version__
from ldtui.extras.cli import client_options, ldm_specs, ldmd_parser, ldtui_parser, parser_options

PAGES = {"ldm.1": "ldm", "ldmd.8": "ldmd", "ldtui.1": "ldtui"}
"""File name → program."""

LDM_ENVIRONMENT = (
    ("LDM_HOST", "the host when -H is not given: [USER@]HOST[:PORT]"),
    ("LDM_USER", "the login name when the host names none (default: the local login name)"),
    ("LDM_IDENTITY", "private key file for public-key login (default: the keys in ~/.ssh)"),
    ("LDM_KNOWN_HOSTS", "the host key file (default: ~/.ldtui/known_hosts)"),
    ("LDM_PERSIST", "keep a shared connection to the host open, until idle that many seconds (as --persist)"),
    ("LDM_PASSWORD", "the login password, for scripts only: other processes of the same user can read it; "
                     "on a terminal ldm asks without echo"),
)
"""What ``ldm`` reads from its environment (a test checks it against the client)."""


def esc(text: str) -> str:
    """Text for roff: backslashes and hyphens escaped, no line taken for a request, only
    ASCII (other characters as roff's named Unicode escapes)."""
    text = text.replace("\\", "\\e").replace("-", "\\-").replace("\u2026", "...")
    text = "".join(ch if ord(ch) < 128 else f"\\[u{ord(ch):04X}]" for ch in text)
    return "\n".join(("\\&" + line) if line[:1] in (".", "'") else line for line in text.split("\n"))


def _bold_options(text: str) -> str:
    """A synopsis with its option words in bold and everything else as typed."""
    return re.sub(r"(?<![\w\\])(\\-\\-?[A-Za-z][\w\\-]*)", r"\\fB\1\\fR", esc(text))


def _paragraphs(doc: str | None) -> list[str]:
    """A module's documentation as paragraphs, without its indented synopsis block and
    with the reST markup an operator does not read, and without its first line (the page's
    NAME says it)."""
    out = []
    for block in re.split(r"\n\s*\n", doc or "")[1:]:        # the first is the summary, in NAME
        if not block.strip() or block.startswith("    "):
            continue
        text = " ".join(line.strip() for line in block.strip().splitlines())
        text = re.sub(r"``([^`]*)``", r"\1", text)
        text = re.sub(r":\w+:`([^`]*)`", r"\1", text)
        text = re.sub(r" \(SPEC [^)]*\)", "", text)
        out.append(text)
    return out


def _head(name: str, section: int, title: str, summary: str) -> list[str]:
    return [f'.TH {name.upper()} {section} "" "ldtui {__version__}" "{title}"', ".SH NAME",
            f"{esc(name)} \\- {esc(summary)}"]


def ldm_page() -> str:
    """``ldm(1)``."""
    import ldtui.net.client as client

    own = client_options()
    lines = _head("ldm", 1, "User Commands", "run Logical Domains Manager commands on a host")
    lines += [".SH SYNOPSIS", ".B ldm",
              " ".join(f"[\\fB{esc(s or lng)}\\fR \\fI{esc(value)}\\fR]" for s, lng, value, _, _ in own),
              "\\fISUBCOMMAND\\fR [\\fIoptions\\fR] [\\fIoperands\\fR]", ".SH DESCRIPTION"]
    for text in _paragraphs(client.__doc__):
        if text.startswith("Environment:"):
            continue
        lines += [".PP", esc(text)]
    lines += [".PP", esc("The same command lines run on the host itself as 'ssh -p PORT USER@HOST ldm SUBCOMMAND "
                         "...'. 'ldm --help' lists the subcommands, 'ldm SUBCOMMAND --help' prints one usage; "
                         "with no host given both are answered from this installation.")]
    lines.append(".SH OPTIONS")
    for short, long, value, _, what in own:
        names = ", ".join(f"\\fB{esc(n)}\\fR" for n in (short, long) if n)
        lines += [".TP", f"{names} \\fI{esc(value)}\\fR", esc(what)]
    lines.append(".SH SUBCOMMANDS")
    for spec in ldm_specs():
        lines += [f".SS {esc(spec.name)}", esc(spec.summary[:1].upper() + spec.summary[1:] + ".")]
        if spec.aliases:
            lines += [".br", "Aliases: " + ", ".join(f"\\fB{esc(a)}\\fR" for a in spec.aliases) + "."]
        lines += [".PP", ".nf"]
        lines += [f"\\fBldm\\fR {_bold_options(s)}" for s in spec.synopses]
        lines += [".fi"]
        if spec.notes:
            lines += [".PP", *"\n.br\n".join(esc(n) for n in spec.notes).split("\n")]
        words = spec.options.words()
        if words:
            lines += [".PP", "Options: " + ", ".join(f"\\fB{esc(w)}\\fR" for w in words) + "."]
        lines += [".PP", f"Needs the authorization \\fI{esc(spec.auth)}\\fR."]
    lines.append(".SH ENVIRONMENT")
    for name, what in LDM_ENVIRONMENT:
        lines += [".TP", f"\\fB{name}\\fR", esc(what)]
    lines += [
        ".SH EXIT STATUS",
        "0 when the command succeeded; 1 when the manager refused it or it failed (the reason is printed); "
        "2 for an internal error of the manager; 255 when the host could not be reached or the login failed; "
        "130 when interrupted.",
        ".SH EXAMPLES", ".nf",
        *(esc(x) for x in (
            "ldm -H root@t5440-sys-1 list",
            "ldm list -o status ldg1",
            "ldm migrate-domain ldg1 t5440-sys-2",
            "ldm migrate -n ldg-src root@t5440-sys-2:ldg-tgt",
            "ldm migrate-domain --live -b 200M -d 50 ldg1 t5440-sys-2",
            "ldm cancel-operation migration ldg1",
        )),
        ".fi",
        ".SH FILES",
        ".TP", "\\fI~/.ldtui/known_hosts\\fR", "host keys of the managers ldm has logged in to",
        ".SH SEE ALSO", "\\fBldmd\\fR(8), \\fBldtui\\fR(1), \\fBssh\\fR(1)",
    ]
    return "\n".join(lines) + "\n"


def _argparse_page(name: str, section: int, title: str, parser, doc: str | None, lead: str,
                   extra: list[str]) -> str:
    options = parser_options(parser)
    summary = parser.description.rstrip(".")
    lines = _head(name, section, title, summary[:1].lower() + summary[1:])
    synopsis = []
    for o in options:
        if not o.strings:
            synopsis.append(f"[\\fI{esc(o.value)}\\fR ...]")
            continue
        word = f"\\fB{esc(o.strings[-1])}\\fR" + (f" \\fI{esc(o.value)}\\fR" if o.value else "")
        synopsis.append(word if o.required else f"[{word}]")
    lines += [".SH SYNOPSIS", f".B {name}", " ".join(synopsis), ".SH DESCRIPTION", esc(lead)]
    for text in _paragraphs(doc):
        lines += [".PP", esc(text)]
    lines.append(".SH OPTIONS")
    group = ""
    for o in options:
        if o.group != group:
            group = o.group
            lines += [".SS " + esc(group[:1].upper() + group[1:])]
        if o.strings:
            names = ", ".join(f"\\fB{esc(s)}\\fR" for s in o.strings)
            lines += [".TP", names + (f" \\fI{esc(o.value)}\\fR" if o.value else "")]
        else:
            lines += [".TP", f"\\fI{esc(o.value)}\\fR"]
        lines.append(esc(o.help + ("" if o.help.endswith(".") else ".")))
    lines += [".TP", "\\fB\\-h\\fR, \\fB\\-\\-help\\fR", "Print the usage and exit."]
    return "\n".join(lines + extra) + "\n"


def ldmd_page() -> str:
    """``ldmd(8)``."""
    import ldtui.net.daemon as daemon

    extra = [
        ".SH SIGNALS",
        esc("SIGTERM and SIGINT stop ldmd within a second: running migrations end as a lost link ends them "
            "(before the handoff they are rolled back, after it the source waits in the error state), "
            "and everything is already in the database. SIGKILL loses nothing either."),
        ".SH FILES",
        ".TP", "\\fISTATE\\fB/ldom.db\\fR", "domains, services, bindings, the migration journal and history (SQLite)",
        ".TP", "\\fISTATE\\fB/hv/\\fR", "the hypervisor's runtimes: registers, guest memory as sparse files",
        ".TP", "\\fISTATE\\fB/ssh_host_ed25519_key\\fR", "the host's SSH key (made at first start)",
        ".TP", "\\fISTATE\\fB/ldmd.log\\fR", "the log; nothing is written to the terminal",
        ".TP", "\\fISTATE\\fB/ldmd.lock\\fR", "keeps a second ldmd off the same state directory",
        ".SH SEE ALSO", "\\fBldm\\fR(1), \\fBldtui\\fR(1), \\fBsshd\\fR(8)",
    ]
    lead = ("ldmd runs one simulated host: its hypervisor model, its Logical Domains Manager and the SSH "
            "endpoint through which ldm, 'ssh HOST ldm ...', the ldtui console and the other hosts' managers "
            "reach it. The host configuration describes the machine, its users and their authorizations, its "
            "peers (the managers it migrates to, also read from the --peers file) and what to create at the "
            "first start.")
    return _argparse_page("ldmd", 8, "System Administration", ldmd_parser(), daemon.__doc__, lead, extra)


def _keys() -> list[tuple[str, str]]:
    """(keys, what they do) of the console and its main screen, from their bindings."""
    from ldtui.app import LdtuiApp
    from ldtui.screens.main import MainScreen

    names = {"question_mark": "?", "slash": "/", "escape": "esc"}
    rows: dict[str, list[str]] = {}
    for binding in (*LdtuiApp.BINDINGS, *MainScreen.BINDINGS):
        if binding.description:
            keys = [names.get(k.strip(), k.strip()) for k in binding.key.split(",")]
            rows.setdefault(binding.tooltip or binding.description, []).extend(keys)
    return [(" ".join(dict.fromkeys(keys)), what) for what, keys in rows.items()]


def ldtui_page() -> str:
    """``ldtui(1)``."""
    import ldtui.cli as cli

    extra = [".SH KEYS"]
    for keys, what in _keys():
        extra += [".TP", f"\\fB{esc(keys)}\\fR", esc(what)]
    extra += [
        ".PP", esc("? shows every key of the screen at hand; ctrl+p offers every action."),
        ".SH ENVIRONMENT", ".TP", "\\fBLDTUI_HOME\\fR", esc("where settings and the log live (default: ~/.ldtui)"),
        ".SH FILES",
        ".TP", "\\fI~/.ldtui/ldtui.log\\fR", "the console's log",
        ".TP", "\\fI~/.ldtui/lab/\\fR", "the embedded lab's state (without --state-dir)",
        ".TP", "\\fI~/.ldtui/settings.toml\\fR", "the theme chosen last",
        ".SH SEE ALSO", "\\fBldm\\fR(1), \\fBldmd\\fR(8)",
    ]
    lead = ("ldtui shows the domains of several hosts, each one's Logical Domains Manager (ldmd) reached over "
            "SSH, and migrates, cancels and recovers them: every change is the ldm command an operator would "
            "type on that host.")
    return _argparse_page("ldtui", 1, "User Commands", ldtui_parser(), cli.__doc__, lead, extra)


def page(file_name: str) -> str:
    """The page ``ldm.1``, ``ldmd.8`` or ``ldtui.1``."""
    return {"ldm.1": ldm_page, "ldmd.8": ldmd_page, "ldtui.1": ldtui_page}[file_name]()
