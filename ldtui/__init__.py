"""ldtui: Logical Domains managers over a simulated hypervisor, and a console to move domains."""

__version__ = "0.1.0"
