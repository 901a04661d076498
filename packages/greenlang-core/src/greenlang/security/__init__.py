"""Signing and offline verification: local keys, DSSE envelopes, bundles, and the KMS provider interface.

Modules: ``algorithms`` (the one algorithm table), ``encoding`` (ECDSA raw/DER),
``keys`` (PEM files, key ids), ``signing`` (``Signer``, ``LocalSigner``),
``keyref`` (key URIs, ``open_signer``), ``dsse``, ``statement``, ``artifacts``
and ``verify``. Import from those modules; this package imports nothing so
that loading one part never pulls in the rest.
"""

__all__: list[str] = []
