"""The Logical Domains Manager: constraints, bindings, lifecycle, checks, migration engine,
journal, and the ldm command language. No asyncio, no asyncssh, no textual."""
