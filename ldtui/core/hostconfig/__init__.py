"""Host configuration files: TOML in, validated attrs values out.

A host file describes one ``ldmd``: how it listens, the machine it simulates, its users, the
peers it reaches for migrations, and the configuration it starts with (primary resources,
services, guest domains). A lab file holds several hosts under ``[[hosts]]``; users and peers
given at the top of a lab file apply to every host that does not name its own.

Every mistake is reported as one line naming the file, the table and the key, e.g.
``lab.toml: [[domains]] #3 'memory': invalid size 'lots'``. Clear-text passwords are hashed
as the file is read; stores and per-host files receive only the hashes.
"""

from ldtui.core.hostconfig.reader import lab_host_tables, load_host_config, load_lab, parse_host
from ldtui.core.hostconfig.seed import apply_seed, apply_users
from ldtui.core.hostconfig.values import (DOMAIN_STATES, DomainConfig, HostConfig, HostConfigError, ServiceConfig,
                                          UserConfig, VDiskConfig, VNetConfig, VolumeConfig)

__all__ = ["DOMAIN_STATES", "DomainConfig", "HostConfig", "HostConfigError", "ServiceConfig", "UserConfig",
           "VDiskConfig", "VNetConfig", "VolumeConfig", "apply_seed", "apply_users", "lab_host_tables",
           "load_host_config", "load_lab", "parse_host"]
