"""What operators install beside the programs: man pages and shell completion.

Both are generated from the argument definitions the programs themselves use — the
``@command`` table of ``ldm`` (``ldtui.core.cmd_args``), the client's own options, and the
argparse parsers of ``ldmd`` and ``ldtui`` — so they cannot drift from what the programs
accept. ``ldtui-install-extras`` writes them (``ldtui.extras.install``).
"""
