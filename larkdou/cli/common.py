"""What every command shares: loading the config (and registering its secrets for log scrubbing)."""

from __future__ import annotations

from larkdou import logs
from larkdou.config import DEFAULT_CONFIG, Settings, load_settings

CONFIG_HELP = f"config file (TOML; default ./{DEFAULT_CONFIG})"


def load(config: str | None, *, required: bool = False) -> Settings:
    settings = load_settings(config, required=required)
    logs.register_settings_secrets(settings)
    return settings
