"""The Logical Domains Manager: a host's domains, their migration, and the ``ldm`` language.

Constraints, bindings, lifecycle, checks, the migration engine, its journal, and the ldm
command language. No asyncio, no asyncssh, no textual."""
