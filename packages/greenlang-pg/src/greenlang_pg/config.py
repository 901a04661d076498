"""Where the database is and how to connect: ``DatabaseConfig``, from arguments, a URL or ``GL_DB_*``.

The password is a ``SecretStr`` and every rendering of the URL hides it, so it
never reaches a repr, a log line or an error message. TLS settings are read
once here and handed to both drivers in their own terms.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import URL, make_url
from sqlalchemy.exc import ArgumentError

from greenlang.errors import InputError
from greenlang.validation import describe

__all__ = ["DatabaseConfig", "SSLMode"]

SSLMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
_SSL_MODES = get_args(SSLMode)
_TLS_KEYS = ("sslmode", "sslrootcert", "sslcert", "sslkey")


class DatabaseConfig(BaseModel):
    """A PostgreSQL server and pool settings: ``host``, ``port``, ``database``, ``username``, ``password``, or ``url``.

    Pool settings follow SQLAlchemy's meaning. ``pool_pre_ping`` is off by
    default because the backend already retries a read once on a connection
    found dead, which costs nothing when connections are healthy.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str | None = Field(default=None, min_length=1)
    port: int | None = Field(default=None, ge=1, le=65535)
    database: str | None = Field(default=None, min_length=1)
    username: str | None = Field(default=None, min_length=1)
    password: SecretStr | None = None
    url: SecretStr | None = None
    pool_size: int = Field(default=20, ge=1)
    max_overflow: int = Field(default=10, ge=0)
    pool_timeout: float = Field(default=30.0, gt=0)
    pool_recycle: int = Field(default=1800, ge=-1)
    pool_pre_ping: bool = False
    echo: bool = False
    sslmode: SSLMode | None = None
    sslrootcert: Path | None = None
    sslcert: Path | None = None
    sslkey: Path | None = None
    connect_timeout: float = Field(default=10.0, gt=0)
    application_name: str = Field(default="greenlang", min_length=1, max_length=63, pattern=r"^[ -~]+$")

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise InputError(describe(exc, "database config")) from None

    @model_validator(mode="after")
    def _one_source(self) -> DatabaseConfig:
        if self.url is not None:
            given = [name for name in ("host", "port", "database", "username", "password") if getattr(self, name)]
            if given:
                raise ValueError(f"give either url or {', '.join(given)}, not both")
            try:
                parsed = make_url(self.url.get_secret_value())
            except (ArgumentError, ValueError):  # a non-numeric port is a ValueError
                raise ValueError("url is not a database URL; write postgresql://user@host:5432/dbname") from None
            if parsed.get_backend_name() != "postgresql":
                raise ValueError(f"url names a {parsed.get_backend_name()!r} database; write a postgresql:// URL")
            if parsed.port is not None and not 1 <= parsed.port <= 65535:
                raise ValueError(f"url has port {parsed.port}; write a port from 1 to 65535")
        self._check_tls_files()
        return self

    def _check_tls_files(self) -> None:
        """Both drivers refuse an unreadable certificate file the same way: here, before any connection."""
        tls = self._tls()
        mode = tls.get("sslmode")
        if mode is not None and mode not in _SSL_MODES:
            raise ValueError(f"sslmode {mode!r} is not one of {', '.join(_SSL_MODES)}")
        for setting in ("sslrootcert", "sslcert", "sslkey"):
            path = tls.get(setting)
            if path is None or (setting == "sslrootcert" and path == "system"):
                continue
            if not os.access(path, os.R_OK) or not Path(path).is_file():
                raise ValueError(f"{setting} {path!r} is not a readable file; point it at the PEM file")
            if setting == "sslrootcert":
                try:
                    ssl.create_default_context(cafile=path)
                except ssl.SSLError:
                    raise ValueError(
                        f"sslrootcert {path!r} holds no certificate; point it at the CA's PEM file"
                    ) from None
        if "sslkey" in tls and "sslcert" not in tls:
            raise ValueError("sslkey is set without sslcert; give the client certificate too")

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> DatabaseConfig:
        """A copy with ``update`` validated as the constructor would (pydantic's own copy skips validation)."""
        if not update:
            return super().model_copy(deep=deep)
        given = {name: getattr(self, name) for name in self.model_fields_set}
        return type(self)(**{**given, **update})

    # URLs --------------------------------------------------------------------
    def _base_url(self) -> tuple[URL, dict[str, str]]:
        """The URL without driver, and the TLS settings it carried in its query string."""
        if self.url is not None:
            url = make_url(self.url.get_secret_value())
            query = dict(url.query)
            tls = {key: str(query.pop(key)) for key in _TLS_KEYS if key in query}
            return url.set(query=query), tls
        return (
            URL.create(
                "postgresql",
                username=self.username,
                password=self.password.get_secret_value() if self.password else None,
                host=self.host or "localhost",
                port=self.port or 5432,
                database=self.database or "greenlang",
            ),
            {},
        )

    def _tls(self) -> dict[str, str]:
        tls = self._base_url()[1]
        for key in _TLS_KEYS:
            value = getattr(self, key)
            if value is not None:
                tls[key] = str(value)
        return tls

    def sync_url(self) -> URL:
        """The SQLAlchemy URL for psycopg 3."""
        return self._base_url()[0].set(drivername="postgresql+psycopg")

    def async_url(self) -> URL:
        """The SQLAlchemy URL for asyncpg."""
        return self._base_url()[0].set(drivername="postgresql+asyncpg")

    def libpq_params(self) -> dict[str, Any]:
        """Keywords for ``psycopg.connect`` (password included: pass them on, never print them)."""
        url, _ = self._base_url()
        params: dict[str, Any] = url.translate_connect_args(username="user", database="dbname")
        params.update({key: str(value) for key, value in url.query.items()})
        return {**params, **self.sync_connect_args()}

    def describe(self) -> str:
        """The server, for messages: the URL with its password masked."""
        return self._base_url()[0].render_as_string(hide_password=True)

    # connect arguments ------------------------------------------------------------
    def sync_connect_args(self) -> dict[str, Any]:
        """libpq keywords for psycopg: TLS files and mode as libpq spells them."""
        return {
            **self._tls(),
            "connect_timeout": max(1, round(self.connect_timeout)),
            "application_name": self.application_name,
        }

    def async_connect_args(self) -> dict[str, Any]:
        """asyncpg keywords: the same TLS policy as an ``ssl`` argument."""
        args: dict[str, Any] = {
            "timeout": self.connect_timeout,
            "server_settings": {"application_name": self.application_name},
        }
        tls = self._tls()
        if tls:
            args["ssl"] = _asyncpg_ssl(tls)
        return args

    # environment ----------------------------------------------------------------------
    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> DatabaseConfig:
        """Read ``GL_DB_URL``, else ``GL_DB_HOST``, ``GL_DB_PORT``, ``GL_DB_NAME``, ``GL_DB_USER``, ``GL_DB_PASSWORD``.

        ``GL_DB_SSLMODE``, ``GL_DB_SSLROOTCERT``, ``GL_DB_SSLCERT``, ``GL_DB_SSLKEY``
        and ``GL_DB_POOL_SIZE`` are read too; ``overrides`` win over everything.
        """
        try:
            env = _Environment(_env=environ) if environ is not None else _Environment()
        except ValidationError as exc:
            raise InputError(_describe_env(exc)) from None
        values: dict[str, Any] = {key: value for key, value in env.as_config().items() if value is not None}
        if "url" in values:
            for name in ("host", "port", "database", "username", "password"):
                values.pop(name, None)
        values.update(overrides)
        return cls(**values)

    def __repr__(self) -> str:
        return f"DatabaseConfig({self.describe()!r}, pool_size={self.pool_size}, max_overflow={self.max_overflow})"

    __str__ = __repr__


class _Environment(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GL_DB_", extra="ignore", case_sensitive=False)

    url: SecretStr | None = None
    host: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    name: str | None = None
    user: str | None = None
    password: SecretStr | None = None
    sslmode: SSLMode | None = None
    sslrootcert: Path | None = None
    sslcert: Path | None = None
    sslkey: Path | None = None
    pool_size: int | None = Field(default=None, ge=1)

    def __init__(self, _env: Mapping[str, str] | None = None, **values: Any) -> None:
        if _env is not None:
            prefix = "GL_DB_"
            values = {
                key[len(prefix) :].lower(): value for key, value in _env.items() if key.upper().startswith(prefix)
            } | values
            super().__init__(**values, _env_file=None)
            return
        super().__init__(**values)

    def as_config(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "host": self.host,
            "port": self.port,
            "database": self.name,
            "username": self.user,
            "password": self.password,
            "sslmode": self.sslmode,
            "sslrootcert": self.sslrootcert,
            "sslcert": self.sslcert,
            "sslkey": self.sslkey,
            "pool_size": self.pool_size,
        }


def _describe_env(exc: ValidationError) -> str:
    """``describe``'s sentence with the ``GL_DB_*`` variable that held the bad value as its subject."""
    location = exc.errors(include_url=False)[0]["loc"]
    return f"GL_DB_{str(location[0]).upper() if location else 'URL'}: {describe(exc).partition(': ')[2]}"


def _asyncpg_ssl(tls: Mapping[str, str]) -> ssl.SSLContext | bool | str:
    """libpq's sslmode semantics as asyncpg's ``ssl`` argument."""
    mode = tls.get("sslmode", "prefer")
    if mode == "disable":
        return False
    if mode in ("allow", "prefer") and "sslcert" not in tls:
        return mode  # like libpq: try TLS without verifying, fall back to plain
    try:
        context = ssl.create_default_context(cafile=tls.get("sslrootcert"))
    except (OSError, ssl.SSLError) as exc:
        raise _unreadable("sslrootcert", tls.get("sslrootcert", "(default)"), exc) from None
    if mode in ("verify-ca", "verify-full"):
        context.check_hostname = mode == "verify-full"
        context.verify_mode = ssl.CERT_REQUIRED
    elif mode == "require" and "sslrootcert" in tls:  # libpq: require with a root certificate verifies the CA
        context.check_hostname = False
        context.verify_mode = ssl.CERT_REQUIRED
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if "sslcert" in tls:
        try:
            context.load_cert_chain(tls["sslcert"], tls.get("sslkey"))
        except (OSError, ssl.SSLError) as exc:
            files = f"{tls['sslcert']}, {tls['sslkey']}" if "sslkey" in tls else tls["sslcert"]
            raise _unreadable("sslcert and sslkey" if "sslkey" in tls else "sslcert", files, exc) from None
    return context


def _unreadable(setting: str, path: str, exc: Exception) -> InputError:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return InputError(f"{setting} {path!r} cannot be loaded ({reason}); point it at a readable PEM file")
