"""The ``file`` key scheme: local PEM private keys, registered by ``greenlang.builtins.localkeys``."""

from __future__ import annotations

import os

from greenlang.errors import InputError
from greenlang.security.algorithms import Algorithm
from greenlang.security.keyref import parse_key_uri
from greenlang.security.keys import Passphrase
from greenlang.security.signing import LocalSigner
from greenlang.timeutil import Clock, utcnow

__all__ = ["LocalKeyProvider", "PASSPHRASE_ENV"]

PASSPHRASE_ENV = "GREENLANG_KEY_PASSPHRASE"  # noqa: S105 - the variable name, not a secret


class LocalKeyProvider:
    """Opens ``file:///path/key.pem`` (or a bare path) as a ``LocalSigner``."""

    scheme = "file"

    @staticmethod
    def open(
        uri: str,
        *,
        passphrase: Passphrase | None = None,
        algorithm: str | Algorithm | None = None,
        clock: Clock = utcnow,
        cache_ttl_seconds: int | None = None,
        max_retries: int | None = None,
    ) -> LocalSigner:
        """The signer for the key at ``uri``; the passphrase comes from the argument or ``GREENLANG_KEY_PASSPHRASE``.

        ``cache_ttl_seconds`` and ``max_retries`` matter only to remote keys and are accepted so one
        ``SigningConfig`` opens any key.
        """
        del cache_ttl_seconds, max_retries
        ref = parse_key_uri(uri)
        if ref.scheme != "file":
            raise InputError(f"key URI {uri} is not a file key; LocalKeyProvider opens file:///path/key.pem only.")
        secret = passphrase if passphrase is not None else (os.environ.get(PASSPHRASE_ENV) or None)
        return LocalSigner.from_file(ref.local_path(), secret, algorithm=algorithm, clock=clock)
