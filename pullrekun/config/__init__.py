"""One TOML file configures a pullrekun controller; every key has a documented default.

See ``pullrekun.sample.toml`` at the top of the repository for the commented sample. The
sections are declared in :mod:`~pullrekun.config.sections` (types, defaults and rules together),
the whole in :mod:`~pullrekun.config.model`, reading the file in :mod:`~pullrekun.config.load`
and the secrets (the GitHub token, passwords, the state DB URL may come from environment
variables) in :mod:`~pullrekun.config.secrets`. Any problem raises :class:`ConfigError` naming
the key.
"""

from pullrekun.config.app import AppConfig
from pullrekun.config.load import CONFIG_ENV, DEFAULT_CONFIG, ConfigError, config_path, load, parse
from pullrekun.config.model import Config
from pullrekun.config.optional import DatabaseConfig, ReleaseConfig
from pullrekun.config.sections import (
    AnsibleConfig,
    EC2Config,
    GitHubConfig,
    ReportConfig,
    ServeConfig,
    StateConfig,
)

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG",
    "AnsibleConfig",
    "AppConfig",
    "Config",
    "ConfigError",
    "DatabaseConfig",
    "EC2Config",
    "GitHubConfig",
    "ReleaseConfig",
    "ReportConfig",
    "ServeConfig",
    "StateConfig",
    "config_path",
    "load",
    "parse",
]
