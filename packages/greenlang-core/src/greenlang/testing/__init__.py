"""Conformance suites that backend and provider authors run against their code."""

__all__: list[str] = []
