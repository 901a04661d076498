"""The pytest plugin loaded through the ``pytest11`` entry point."""

__all__: list[str] = []
