"""Names the ``ldm`` client and ``ldmd`` agree on, in a module that imports nothing.

So the client loads only what the command it runs needs."""

TARGET_PASSWORD_ENV = "LDM_TARGET_PASSWORD"
"""SSH environment variable by which the ``ldm`` client hands over the target password."""


def host_pattern(host: str, port: int) -> str:
    """A host as known_hosts files and OpenSSH's messages name it: ``[host]:port`` off port 22."""
    return host if port == 22 else f"[{host}]:{port}"
