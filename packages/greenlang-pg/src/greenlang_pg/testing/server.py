"""Throwaway PostgreSQL servers for tests and benchmarks: real binaries, TCP on 127.0.0.1, removed afterwards.

Why TCP: the application connects with ``host`` and ``port`` exactly as a
deployment does, password authentication and TLS are only meaningful over TCP,
and a socket path would hit the 107-byte limit under deep temporary
directories. Unix sockets are switched off and only 127.0.0.1 is bound.

Why a second user under root: ``initdb`` and ``postgres`` refuse to run as
root. As root the server runs as the ``postgres`` system user (else
``pgserver``, created with ``useradd`` when missing, as the pgserver package
does); its data directory belongs to that user and the parents of the data and
binary directories gain the world-execute bit so that user can reach them.

Binaries come from ``GREENLANG_TEST_PG_BIN``, the pip-installed ``pgserver``
package, ``/usr/lib/postgresql/*/bin`` (newest first) or ``PATH``, in that
order; ``tls=True`` takes the first one built with SSL (pgserver's build has
none, so TLS needs the system's). A small watchdog process stops the server
and removes its directory if this process dies without doing so (``kill -9``
included); ``atexit`` covers ordinary exits.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime
import functools
import getpass
import importlib.util
import ipaddress
import os
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, NamedTuple
from urllib.parse import quote, urlencode

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from greenlang_pg.config import DatabaseConfig

__all__ = [
    "APP_USER",
    "BIN_VARIABLE",
    "DSN_VARIABLE",
    "INSTALL_HINT",
    "SUPERUSER",
    "ServerStartError",
    "ServerUnavailable",
    "TestServer",
    "find_bin_dir",
    "open_server",
    "start_server",
]

DSN_VARIABLE = "GREENLANG_TEST_PG_DSN"
BIN_VARIABLE = "GREENLANG_TEST_PG_BIN"
INSTALL_HINT = "pip install pgserver"
SUPERUSER = "postgres"
APP_USER = "greenlang"

_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
}
_START_TIMEOUT = 30.0
_STOP_TIMEOUT = 10.0
_PORT_TRIES = 5
Query = str | bytes | sql.SQL | sql.Composed
_TLS_KEYS = ("sslmode", "sslrootcert", "sslcert", "sslkey")

# Runs in its own process: waits for this process to close the pipe. Bytes
# first mean a clean stop already happened; a bare EOF means this process died.
_WATCHDOG = """
import contextlib, os, shutil, signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
pid, directory = int(sys.argv[1]), sys.argv[2]
if sys.stdin.buffer.read():
    sys.exit(0)
def alive():
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True
for sig, wait in ((signal.SIGINT, 10.0), (signal.SIGKILL, 5.0)):
    with contextlib.suppress(OSError):
        os.kill(pid, sig)
    deadline = time.monotonic() + wait
    while alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    if not alive():
        break
shutil.rmtree(directory, ignore_errors=True)
"""


class ServerUnavailable(RuntimeError):
    """No PostgreSQL binaries were found; the message names what to install."""


class ServerStartError(RuntimeError):
    """Binaries were found but the server did not start; the message carries the end of its log."""


class _User(NamedTuple):
    name: str
    uid: int
    gid: int


class TestServer:
    """A PostgreSQL server for tests: launched here (``start_server``) or an existing one (``from_dsn``).

    A launched server has a superuser and a separate login role ``greenlang``,
    both with random passwords; on an existing server both are the DSN's user.
    ``stop()`` (or leaving the ``with`` block, or interpreter exit) stops a
    launched server and removes its directory, and drops the databases this
    object created on an existing one.
    """

    __test__ = False  # not a pytest test class despite the name

    def __init__(
        self,
        *,
        host: str,
        port: int,
        superuser: str,
        superuser_password: str | None,
        app_user: str,
        app_password: str | None,
        params: Mapping[str, str] | None = None,
        maintenance_database: str = "postgres",
        directory: Path | None = None,
        bin_dir: Path | None = None,
        process: subprocess.Popen[bytes] | None = None,
        watchdog: subprocess.Popen[bytes] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.superuser = superuser
        self.app_user = app_user
        self.directory = directory
        self.bin_dir = bin_dir
        self.maintenance_database = maintenance_database
        self._superuser_password = superuser_password
        self._app_password = app_password
        self._params = dict(params or {})
        self._process = process
        self._watchdog = watchdog
        self._databases: set[str] = set()
        self._stopped = False
        owner = os.getpid()

        def stop_at_exit() -> None:
            if os.getpid() == owner:  # a forked child must not stop its parent's server
                self.stop()

        self._stop_at_exit: Callable[[], None] = stop_at_exit
        atexit.register(stop_at_exit)

    @classmethod
    def from_dsn(cls, dsn: str) -> TestServer:
        """An existing server: databases are created on it with unique names and dropped on ``stop()``."""
        try:
            params = {key: str(value) for key, value in conninfo_to_dict(dsn).items() if value is not None}
        except psycopg.ProgrammingError:
            raise ServerStartError(
                f"{DSN_VARIABLE} is not a libpq connection string; write postgresql://user:password@host:5432/postgres"
            ) from None
        user = params.pop("user", "") or getpass.getuser()
        password = params.pop("password", "") or None
        server = cls(
            host=params.pop("host", "") or "localhost",
            port=int(params.pop("port", "") or 5432),
            superuser=user,
            superuser_password=password,
            app_user=user,
            app_password=password,
            maintenance_database=params.pop("dbname", "") or "postgres",
            params=params,
        )
        try:
            server.execute("SELECT 1")
        except psycopg.Error as exc:
            server.stop()
            raise ServerStartError(
                f"cannot connect to the {DSN_VARIABLE} server at {server.host}:{server.port} as {user}: "
                f"{str(exc).strip()}; fix the URL or unset {DSN_VARIABLE}"
            ) from None
        return server

    # what it is ------------------------------------------------------------------
    @property
    def launched(self) -> bool:
        """Whether this object started the server (and so controls its settings and users)."""
        return self._process is not None

    @property
    def superuser_password(self) -> str | None:
        return self._superuser_password

    @property
    def app_password(self) -> str | None:
        return self._app_password

    @property
    def ca_file(self) -> Path | None:
        """The CA that signed the server certificate, when the server requires TLS."""
        root = self._params.get("sslrootcert")
        return Path(root) if root else None

    @property
    def sslmode(self) -> str | None:
        return self._params.get("sslmode")

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def __repr__(self) -> str:
        kind = "launched" if self.launched else "existing"
        tls = f", sslmode={self.sslmode}" if self.sslmode else ""
        return f"TestServer({kind} {self.host}:{self.port}, app_user={self.app_user!r}{tls})"

    # how to reach it ---------------------------------------------------------------
    def _credentials(self, superuser: bool) -> tuple[str, str | None]:
        if superuser:
            return self.superuser, self._superuser_password
        return self.app_user, self._app_password

    def dsn(self, database: str | None = None, *, superuser: bool = False) -> str:
        """A libpq URL (with the password) for ``database``, as the app user unless ``superuser``."""
        user, password = self._credentials(superuser)
        query = dict(self._params)
        host = self.host
        if host.startswith("/"):
            query["host"], host = host, ""
        elif ":" in host:
            host = f"[{host}]"
        auth = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
        url = f"postgresql://{auth}@{host}:{self.port}/{quote(database or self.maintenance_database, safe='')}"
        return f"{url}?{urlencode(query)}" if query else url

    def config(self, database: str, *, superuser: bool = False, **overrides: Any) -> DatabaseConfig:
        """A ``DatabaseConfig`` for ``database`` with host, port, credentials and TLS filled in."""
        user, password = self._credentials(superuser)
        values: dict[str, Any] = {"host": self.host, "port": self.port, "database": database, "username": user}
        if password is not None:
            values["password"] = password
        values.update({key: self._params[key] for key in _TLS_KEYS if key in self._params})
        values.update(overrides)
        return DatabaseConfig(**values)

    def connect(
        self, database: str | None = None, *, superuser: bool = True, autocommit: bool = True
    ) -> psycopg.Connection[tuple[Any, ...]]:
        """A psycopg connection, as the superuser unless told otherwise."""
        user, password = self._credentials(superuser)
        params: dict[str, Any] = {**self._params, "host": self.host, "port": self.port, "user": user}
        params["dbname"] = database or self.maintenance_database
        params.setdefault("connect_timeout", 10)
        if password is not None:
            params["password"] = password
        return psycopg.connect(autocommit=autocommit, **params)

    def execute(
        self,
        query: Query,
        database: str | None = None,
        *,
        params: Any = None,
        superuser: bool = True,
    ) -> list[tuple[Any, ...]]:
        """Run one statement in autocommit mode and return its rows (none for a command)."""
        with self.connect(database, superuser=superuser) as connection:
            cursor = connection.execute(query, params)
            return cursor.fetchall() if cursor.description is not None else []

    # databases -----------------------------------------------------------------------
    def create_database(self, name: str | None = None, *, template: str | None = None) -> str:
        """Create a database owned by the app user, empty (UTF-8, C collation) or cloned from ``template``.

        Without ``name`` a unique one is chosen, so runs sharing a server do not collide.
        """
        name = name or f"gl_test_{secrets.token_hex(6)}"
        if template is None:
            statement = sql.SQL(
                "CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' OWNER {}"
            ).format(sql.Identifier(name), sql.Identifier(self.app_user))
        else:
            statement = sql.SQL("CREATE DATABASE {} TEMPLATE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(template), sql.Identifier(self.app_user)
            )
        self.execute(statement)
        self._databases.add(name)
        return name

    def drop_database(self, name: str) -> None:
        """Drop ``name``, disconnecting whoever is still connected."""
        self.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        self._databases.discard(name)

    # lifetime -----------------------------------------------------------------------
    def stop(self) -> None:
        """Stop a launched server and remove its directory; on an existing server drop our databases."""
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self._stop_at_exit)
        if self._process is None:
            for name in sorted(self._databases):
                with contextlib.suppress(psycopg.Error):
                    self.drop_database(name)
            return
        _terminate(self._process)
        if self._watchdog is not None:
            _release(self._watchdog)
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> TestServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# finding and starting -----------------------------------------------------------------
def open_server(directory: Path | None = None, *, environ: Mapping[str, str] | None = None) -> TestServer:
    """The server tests should use: ``GREENLANG_TEST_PG_DSN`` when set, else one started in ``directory``.

    Raises ``ServerUnavailable`` when neither is possible.
    """
    env = os.environ if environ is None else environ
    dsn = env.get(DSN_VARIABLE, "").strip()
    if dsn:
        return TestServer.from_dsn(dsn)
    return start_server(directory, bin_dir=find_bin_dir(env))


def find_bin_dir(environ: Mapping[str, str] | None = None, *, tls: bool = False) -> Path:
    """The first directory with ``initdb`` and ``postgres`` (built with SSL if ``tls``), searched as the module says."""
    env = os.environ if environ is None else environ
    explicit = env.get(BIN_VARIABLE, "").strip()
    if explicit:
        path = Path(explicit)
        if not _has_binaries(path):
            raise ServerUnavailable(
                f"{BIN_VARIABLE}={explicit} holds no initdb and postgres; "
                "point it at a PostgreSQL bin directory or unset it"
            )
        if tls and not _supports_tls(path):
            raise ServerUnavailable(
                f"{BIN_VARIABLE}={explicit} is a PostgreSQL built without SSL; point it at one built with OpenSSL"
            )
        return path
    found = [candidate for candidate in _candidates() if _has_binaries(candidate)]
    if not found:
        raise ServerUnavailable(
            "no PostgreSQL server binaries found (pgserver, /usr/lib/postgresql/*/bin, PATH); "
            f"run `{INSTALL_HINT}` or set {DSN_VARIABLE} to a server's URL"
        )
    if not tls:
        return found[0]
    for candidate in found:
        if _supports_tls(candidate):
            return candidate
    raise ServerUnavailable(
        f"no PostgreSQL built with SSL found (pgserver's build has none; tried {', '.join(map(str, found))}); "
        f"install the system package (`apt-get install postgresql`) or set {BIN_VARIABLE} to one built with OpenSSL"
    )


def start_server(
    directory: Path | None = None,
    *,
    tls: bool = False,
    bin_dir: Path | None = None,
    settings: Mapping[str, str] | None = None,
) -> TestServer:
    """Start a fresh server on 127.0.0.1 at a free port, with everything it writes under ``directory``.

    ``directory`` must be new or empty (a temporary one when omitted) and is
    removed by ``stop()``. With ``tls`` only TLS connections are accepted and
    ``ca_file`` is the CA to verify against. ``settings`` adds or overrides
    ``postgres -c`` settings.
    """
    if directory is not None and Path(directory).is_dir() and any(Path(directory).iterdir()):
        raise ServerStartError(f"{directory} is not empty; give start_server a new or empty directory")
    bin_dir = find_bin_dir(tls=tls) if bin_dir is None else bin_dir
    if directory is None:
        root = Path(tempfile.mkdtemp(prefix="greenlang-pg-"))
    else:
        root = Path(directory).resolve()
        root.mkdir(parents=True, exist_ok=True)
    try:
        return _launch(root, bin_dir, tls, settings or {})
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


def _launch(root: Path, bin_dir: Path, tls: bool, extra_settings: Mapping[str, str]) -> TestServer:
    user = _server_user()
    root.chmod(0o755)
    if user is not None:
        _grant_traverse(root, user.uid)
        _grant_traverse(bin_dir, user.uid)
    data = root / "data"
    data.mkdir(mode=0o700)
    _give(data, user)

    superuser_password = secrets.token_urlsafe(24)
    password_file = root / "superuser-password"
    with os.fdopen(os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
        handle.write(superuser_password + "\n")
    _give(password_file, user)
    initdb = [str(bin_dir / "initdb"), "-D", str(data), "-E", "UTF8", "--locale=C", "-U", SUPERUSER]
    initdb += ["--auth=scram-sha-256", f"--pwfile={password_file}", "--no-sync", "--no-instructions"]
    try:
        _run(initdb, user, cwd=root)
    finally:
        password_file.unlink(missing_ok=True)

    hba = "hostssl" if tls else "host"
    (data / "pg_hba.conf").write_text(
        "# greenlang_pg.testing: password logins over TCP from 127.0.0.1 only"
        + (", and only over TLS\n" if tls else "\n")
        + f"{hba} all all 127.0.0.1/32 scram-sha-256\n"
    )
    settings = dict(_SETTINGS)
    params: dict[str, str] = {}
    if tls:
        ca_file, cert_file, key_file = _write_tls(root / "tls", user)
        settings.update(ssl="on", ssl_cert_file=str(cert_file), ssl_key_file=str(key_file))
        params.update(sslmode="verify-full", sslrootcert=str(ca_file))
    settings.update(extra_settings)

    process, watchdog, port = _start_postmaster(root, bin_dir, data, settings, user)
    app_password = secrets.token_urlsafe(18) + "@:/%"  # characters that break careless URL building
    server = TestServer(
        host="127.0.0.1",
        port=port,
        superuser=SUPERUSER,
        superuser_password=superuser_password,
        app_user=APP_USER,
        app_password=app_password,
        params=params,
        directory=root,
        bin_dir=bin_dir,
        process=process,
        watchdog=watchdog,
    )
    try:
        server.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(APP_USER), sql.Literal(app_password))
        )
    except BaseException:
        server.stop()
        raise
    return server


def _start_postmaster(
    root: Path, bin_dir: Path, data: Path, settings: Mapping[str, str], user: _User | None
) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes], int]:
    log_path = root / "postgres.log"
    for _ in range(_PORT_TRIES):
        port = _free_port()
        args = [str(bin_dir / "postgres"), "-D", str(data), "-p", str(port)]
        for name, value in settings.items():
            args += ["-c", f"{name}={value}"]
        offset = log_path.stat().st_size if log_path.exists() else 0
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=data,
                env=_child_env(),
                start_new_session=True,  # Ctrl-C reaches the tests, whose clean-up then stops the server
                **_as_user(user),
            )
        watchdog = _watch(process.pid, root)
        try:
            if _wait_ready(process, data, log_path, offset):
                return process, watchdog, port
        except BaseException:
            _terminate(process)
            _release(watchdog)
            raise
        _release(watchdog)
    raise ServerStartError(f"no free port on 127.0.0.1 after {_PORT_TRIES} tries; see {log_path}")


def _wait_ready(process: subprocess.Popen[bytes], data: Path, log_path: Path, offset: int) -> bool:
    """True once the postmaster says it is ready; False when it lost a race for its port."""
    deadline = time.monotonic() + _START_TIMEOUT
    pid_file = data / "postmaster.pid"
    while time.monotonic() < deadline:
        status = process.poll()
        if status is not None:
            output = _read_from(log_path, offset)
            if "could not bind" in output:
                return False
            raise ServerStartError(f"postgres exited with status {status} while starting: {_tail(output)}")
        with contextlib.suppress(OSError, ValueError, IndexError):
            lines = pid_file.read_text().splitlines()
            if int(lines[0]) == process.pid and lines[7].strip() == "ready":
                return True
        time.sleep(0.01)
    raise ServerStartError(
        f"postgres was not ready after {_START_TIMEOUT:.0f} s: {_tail(_read_from(log_path, offset))}"
    )


def _terminate(process: subprocess.Popen[bytes]) -> None:
    """Fast shutdown (SIGINT: disconnect clients, no waiting), then SIGKILL if it hangs."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGINT)
        try:
            process.wait(_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _watch(pid: int, root: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", _WATCHDOG, str(pid), str(root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _release(watchdog: subprocess.Popen[bytes]) -> None:
    """Tell the watchdog the server was stopped cleanly, so it exits without touching anything."""
    stdin: IO[bytes] | None = watchdog.stdin
    if stdin is not None:
        with contextlib.suppress(OSError):
            stdin.write(b"stopped")
            stdin.close()
    try:
        watchdog.wait(5)
    except subprocess.TimeoutExpired:
        watchdog.kill()
        watchdog.wait()


# TLS ----------------------------------------------------------------------------------
def _write_tls(directory: Path, user: _User | None) -> tuple[Path, Path, Path]:
    """A self-signed CA and a server certificate for 127.0.0.1 and localhost: (ca, cert, key) paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    lifetime = (now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=30))

    def usage(*, cert_sign: bool) -> x509.KeyUsage:
        return x509.KeyUsage(
            digital_signature=not cert_sign,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=cert_sign,
            crl_sign=cert_sign,
            encipher_only=False,
            decipher_only=False,
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "greenlang test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(lifetime[0])
        .not_valid_after(lifetime[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(lifetime[0])
        .not_valid_after(lifetime[1])
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(mode=0o755)
    ca_file, cert_file, key_file = directory / "ca.crt", directory / "server.crt", directory / "server.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.touch(mode=0o600)
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    for path in (ca_file, cert_file):
        path.chmod(0o644)
    _give(key_file, user)  # postgres insists the key belongs to it (or root) and is private
    return ca_file, cert_file, key_file


# small helpers --------------------------------------------------------------------------
def _candidates() -> Iterator[Path]:
    spec = importlib.util.find_spec("pgserver")  # finds without importing (its import has side effects)
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            yield Path(location) / "pginstall" / "bin"
    yield from sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    found = shutil.which("initdb")
    if found:
        yield Path(found).resolve().parent


def _version_key(path: Path) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in path.parent.name.split("."))
    except ValueError:
        return (-1,)


def _has_binaries(path: Path) -> bool:
    return all(os.access(path / name, os.X_OK) for name in ("initdb", "postgres"))


@functools.cache
def _supports_tls(bin_dir: Path) -> bool:
    """Whether the build has SSL, from its ``pg_config``; assumed when there is no ``pg_config`` to ask."""
    pg_config = bin_dir / "pg_config"
    if not os.access(pg_config, os.X_OK):
        return True
    try:
        result = subprocess.run([str(pg_config), "--configure"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return True
    return "--with-openssl" in result.stdout or "--with-ssl=openssl" in result.stdout


def _server_user() -> _User | None:
    """The system user to run the server as: none unless we are root."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    import pwd

    for name in ("postgres", "pgserver"):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return _User(name, entry.pw_uid, entry.pw_gid)
    try:
        subprocess.run(["useradd", "--system", "--user-group", "pgserver"], check=True, capture_output=True)
        entry = pwd.getpwnam("pgserver")
    except (OSError, subprocess.CalledProcessError, KeyError):
        raise ServerStartError(
            "PostgreSQL refuses to run as root and no postgres or pgserver system user exists; "
            "create one with `useradd --system postgres`"
        ) from None
    return _User("pgserver", entry.pw_uid, entry.pw_gid)


def _grant_traverse(path: Path, uid: int) -> None:
    """Add the world-execute bit to ``path``'s directories that ``uid`` could not otherwise enter."""
    for directory in [path.resolve(), *path.resolve().parents]:
        mode = directory.stat()
        if mode.st_uid != uid and not mode.st_mode & stat.S_IXOTH:
            directory.chmod(stat.S_IMODE(mode.st_mode) | stat.S_IXOTH)


def _give(path: Path, user: _User | None) -> None:
    if user is not None:
        os.chown(path, user.uid, user.gid)


def _as_user(user: _User | None) -> dict[str, Any]:
    if user is None:
        return {}
    return {"user": user.uid, "group": user.gid, "extra_groups": []}


def _child_env() -> dict[str, str]:
    """Our environment without libpq's PG* variables, and English messages so failures can be recognised."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env["LC_ALL"] = "C"
    return env


def _run(args: list[str], user: _User | None, *, cwd: Path) -> None:
    result = subprocess.run(args, cwd=cwd, env=_child_env(), capture_output=True, text=True, **_as_user(user))
    if result.returncode != 0:
        name = Path(args[0]).name
        raise ServerStartError(f"{name} failed with status {result.returncode}: {_tail(result.stderr + result.stdout)}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _read_from(path: Path, offset: int) -> str:
    try:
        with path.open("rb") as log:
            log.seek(offset)
            return log.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _tail(text: str, lines: int = 15) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return " | ".join(kept) if kept else "(no output)"
