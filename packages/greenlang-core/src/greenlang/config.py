"""Settings read from the environment (``GREENLANG_*``)."""

from __future__ import annotations

from pathlib import Path

import platformdirs
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "default_db_path"]


def default_db_path() -> Path:
    """``greenlang.db`` in the user's data directory."""
    return Path(platformdirs.user_data_dir("greenlang", appauthor=False)) / "greenlang.db"


class Settings(BaseSettings):
    """``GREENLANG_DB``: store path. ``GREENLANG_PLUGINS``: comma-separated allow-list of plugin names."""

    model_config = SettingsConfigDict(env_prefix="GREENLANG_", extra="ignore")

    db: Path = Field(default_factory=default_db_path)
    plugins: str | None = None

    def plugin_allowlist(self) -> frozenset[str] | None:
        """``None`` when every plugin may load; an empty set when none may."""
        if self.plugins is None:
            return None
        return frozenset(name.strip() for name in self.plugins.split(",") if name.strip())
