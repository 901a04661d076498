"""The plugin host: finds plugins, isolates broken ones, and keeps the registry.

Built-in backends and providers are plugins too: they register through the
same hooks, always, before any entry point is read. Third-party plugins come
from the ``greenlang`` entry point group, filtered by ``GREENLANG_PLUGINS``.
"""

from __future__ import annotations

import importlib.metadata as metadata
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from greenlang import hookspecs
from greenlang.config import Settings
from greenlang.errors import MissingPluginError

__all__ = ["BrokenPlugin", "PluginInfo", "Registry", "registry", "reset_registry", "BUILTIN_PLUGINS"]

BUILTIN_PLUGINS = ("greenlang.builtins.sqlite", "greenlang.builtins.localkeys")
ENTRY_POINT_GROUP = "greenlang"

_BACKEND_EXTRAS = {"postgresql": "pg", "postgres": "pg", "pg": "pg"}
_SCHEME_EXTRAS = {"awskms": "aws", "azurekms": "azure", "gcpkms": "gcp"}


@dataclass(frozen=True)
class BrokenPlugin:
    """A plugin that failed to import or register, and was skipped."""

    name: str
    distribution: str | None
    version: str | None
    error: str


@dataclass(frozen=True)
class PluginInfo:
    name: str
    distribution: str | None
    version: str | None
    hooks: tuple[str, ...]
    builtin: bool


@dataclass
class Registration:
    """What one plugin registered under one name."""

    value: Any
    plugin: str
    extra: dict[str, Any] = field(default_factory=dict)


class Registry:
    """Loaded plugins and everything they registered."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.manager = pluggy.PluginManager("greenlang")
        self.manager.add_hookspecs(hookspecs)
        self.broken: list[BrokenPlugin] = []
        self.backends: dict[str, Registration] = {}
        self.kms_providers: dict[str, Registration] = {}
        self._dists: dict[str, tuple[str | None, str | None, bool]] = {}
        self._load(settings or Settings())

    # discovery -----------------------------------------------------------
    def _load(self, settings: Settings) -> None:
        import importlib

        from greenlang import __version__

        for module_name in BUILTIN_PLUGINS:
            module = importlib.import_module(module_name)
            self.manager.register(module, name=module_name)
            self._dists[module_name] = ("greenlang-core", __version__, True)

        allow = settings.plugin_allowlist()
        for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
            if allow is not None and entry_point.name not in allow:
                continue
            dist = entry_point.dist
            dist_name = dist.metadata["Name"] if dist is not None else None
            dist_version = dist.version if dist is not None else None
            if entry_point.name in self._dists:
                error = f"ValueError: plugin name {entry_point.name!r} is already taken; rename the entry point"
                self.broken.append(BrokenPlugin(entry_point.name, dist_name, dist_version, error))
                continue
            try:
                plugin = entry_point.load()
                self.manager.register(plugin, name=entry_point.name)
            except Exception as exc:  # a broken plugin must never take the host down
                self.broken.append(BrokenPlugin(entry_point.name, dist_name, dist_version, _describe(exc)))
                continue
            self._dists[entry_point.name] = (dist_name, dist_version, False)
            unknown = sorted(
                caller.name for caller in self.manager.get_hookcallers(plugin) or [] if caller.spec is None
            )
            if unknown:
                self._mark_broken(
                    entry_point.name, ValueError(f"implements unknown hook {unknown[0]!r}; check the name")
                )

        self._collect("register_auth_backends", self.backends)
        self._collect("register_kms_providers", self.kms_providers)

    def _collect(self, hook_name: str, target: dict[str, Registration]) -> None:
        """Call each plugin's implementation on its own, so one failure skips one plugin."""
        for impl in self._in_load_order(hook_name):
            plugin_name = impl.plugin_name
            staged: dict[str, Registration] = {}
            register = _registrar(hook_name, plugin_name, target, staged)
            try:
                impl.function(register=register)
            except Exception as exc:
                self._mark_broken(plugin_name, exc)
                continue
            target.update(staged)

    def _mark_broken(self, plugin_name: str, exc: BaseException) -> None:
        dist, version, _ = self._dists.get(plugin_name, (None, None, False))
        self.broken.append(BrokenPlugin(plugin_name, dist, version, _describe(exc)))
        for table in (self.backends, self.kms_providers):
            for key in [k for k, v in table.items() if v.plugin == plugin_name]:
                del table[key]
        plugin = self.manager.get_plugin(plugin_name)
        if plugin is not None:
            self.manager.unregister(plugin)
        self._dists.pop(plugin_name, None)

    # queries -------------------------------------------------------------
    def plugins(self) -> list[PluginInfo]:
        """Every loaded plugin with the hooks it implements."""
        infos = []
        for name, plugin in self.manager.list_name_plugin():
            dist, version, builtin = self._dists.get(name, (None, None, False))
            hooks = tuple(sorted(h.name for h in self.manager.get_hookcallers(plugin) or []))
            infos.append(PluginInfo(name, dist, version, hooks, builtin))
        return sorted(infos, key=lambda info: (not info.builtin, info.name))

    def backend(self, name: str) -> Registration:
        """The registration for backend ``name``, or an error naming what to install."""
        try:
            return self.backends[name]
        except KeyError:
            raise MissingPluginError(
                _missing("storage backend", name, _BACKEND_EXTRAS.get(name), self.backends)
            ) from None

    def kms_provider(self, scheme: str) -> Registration:
        """The registration for key URI ``scheme``, or an error naming what to install."""
        try:
            return self.kms_providers[scheme]
        except KeyError:
            raise MissingPluginError(
                _missing("key URI scheme", scheme, _SCHEME_EXTRAS.get(scheme), self.kms_providers)
            ) from None

    def add_commands(self, cli: Any) -> None:
        """Let each plugin add CLI commands; one that fails, or replaces a command, is reported and undone."""
        for impl in self._in_load_order("register_commands"):
            before = dict(cli.commands)
            try:
                impl.function(cli=cli)
                replaced = sorted(name for name, command in before.items() if cli.commands.get(name) is not command)
                if replaced:
                    raise ValueError(f"tried to replace the command {replaced[0]!r}; choose another name")
            except Exception as exc:
                cli.commands.clear()
                cli.commands.update(before)
                self._mark_broken(impl.plugin_name, exc)

    def _in_load_order(self, hook_name: str) -> list[Any]:
        """Built-ins first, then plugins as they loaded: a later plugin can never take over a name."""
        order = list(self._dists)
        impls = getattr(self.manager.hook, hook_name).get_hookimpls()
        return sorted(
            (impl for impl in impls if impl.plugin_name in self._dists), key=lambda i: order.index(i.plugin_name)
        )


def _registrar(
    hook_name: str, plugin_name: str, target: dict[str, Registration], staged: dict[str, Registration]
) -> Callable[..., None]:
    def register(name: str, value: Any, /, **extra: Any) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"{hook_name} needs a non-empty string name, got {name!r}")
        if name in target or name in staged:
            owner = target[name].plugin if name in target else plugin_name
            raise ValueError(f"{name!r} is already registered by {owner}")
        staged[name] = Registration(value, plugin_name, extra)

    return register


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _missing(what: str, name: str, extra: str | None, known: dict[str, Registration]) -> str:
    have = ", ".join(sorted(known)) or "none"
    if extra:
        return (
            f"No installed plugin provides the {what} {name!r}; "
            f"install it with: pip install 'greenlang-core[{extra}]' (installed: {have})."
        )
    return f"No installed plugin provides the {what} {name!r}; install a plugin that registers it (installed: {have})."


_lock = threading.Lock()
_registry: Registry | None = None


def registry() -> Registry:
    """The process-wide registry, loaded on first use."""
    global _registry
    with _lock:
        if _registry is None:
            _registry = Registry()
        return _registry


def reset_registry(settings: Settings | None = None) -> Registry:
    """Load plugins again (tests, or after changing ``GREENLANG_PLUGINS``)."""
    global _registry
    with _lock:
        _registry = Registry(settings)
        return _registry
