"""The network layer: ``ldmd``'s SSH endpoint, the ``ldm`` client, host links and the lab.

The only code that awaits a socket. It drives ``ldtui.core`` and never the other way round
(docs/CONTRACTS.md gives the layers' interfaces).
"""
