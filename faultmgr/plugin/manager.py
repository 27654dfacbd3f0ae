"""Find plugins through the ``faultmgr`` entry-point group, load them, and fill the type registries.

Three separate steps, as flake8 does: *find* lists entry points in a deterministic order, *load* imports
each one (a failure is recorded with the distribution's name and the cause, and the others go on), and
*register* calls the registration hooks plugin by plugin so one broken plugin cannot take the rest down.
Built-in plugins are entry points of the ``faultmgr`` distribution itself and take exactly this path.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import sys
import traceback
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pluggy

from faultmgr import hookspecs
from faultmgr.component import Action, Detector, Notifier
from faultmgr.config.sections import SectionRegistry
from faultmgr.plugin.registry import TypeRegistry

ENTRY_POINT_GROUP = "faultmgr"
DISABLE_ENV = "FAULTMGR_DISABLE_PLUGINS"
TRACE_ENV = "FAULTMGR_TRACE_PLUGINS"

log = logging.getLogger("faultmgr.plugins")


@dataclass
class PluginInfo:
    """A plugin that loaded: its entry-point name, distribution, and what it registered."""

    name: str
    distribution: str
    version: str
    module: str
    registered: dict[str, list[str]] = field(default_factory=dict)

    @property
    def kinds(self) -> list[str]:
        return [kind for kind, names in self.registered.items() if names]


@dataclass
class PluginFailure:
    """A plugin that could not be used, and why (one line; the traceback is kept for ``--verbose``)."""

    name: str
    distribution: str
    version: str
    error: str
    traceback: str = ""


@dataclass(frozen=True)
class FoundPlugin:
    name: str
    entry_point: importlib.metadata.EntryPoint
    distribution: str
    version: str


def find_plugins() -> list[FoundPlugin]:
    """Every entry point in the ``faultmgr`` group: the core's built-ins first, then by name."""
    found: dict[str, FoundPlugin] = {}
    for dist in importlib.metadata.distributions():
        dist_name = dist.metadata["Name"] or "?"
        for ep in dist.entry_points:
            if ep.group != ENTRY_POINT_GROUP or ep.name in found:
                continue
            found[ep.name] = FoundPlugin(ep.name, ep, dist_name, dist.version)
    return sorted(found.values(), key=lambda p: (p.distribution != "faultmgr", p.distribution, p.name))


def disabled_from_env() -> set[str]:
    """Plugin names listed (comma- or space-separated) in ``FAULTMGR_DISABLE_PLUGINS``."""
    raw = os.environ.get(DISABLE_ENV, "")
    return {n.strip() for n in raw.replace(",", " ").split() if n.strip()}


class Plugins:
    """The loaded plugin set: the pluggy manager, the type registries and what went wrong."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager("faultmgr")
        self.pm.add_hookspecs(hookspecs)
        # historic: every plugin registered from now on gets this call as it registers
        self.pm.hook.faultmgr_addhooks.call_historic(kwargs={"pluginmanager": self.pm})
        self.detectors: TypeRegistry[Detector] = TypeRegistry("detector", Detector)
        self.actions: TypeRegistry[Action] = TypeRegistry("action", Action)  # type: ignore[type-abstract]
        self.notifiers: TypeRegistry[Notifier] = TypeRegistry("notifier", Notifier)  # type: ignore[type-abstract]
        self.sections = SectionRegistry()
        self.loaded: list[PluginInfo] = []
        self.failures: list[PluginFailure] = []
        self.disabled: list[str] = []

    @property
    def hook(self) -> Any:
        return self.pm.hook

    def info(self, name: str) -> PluginInfo | None:
        return next((p for p in self.loaded if p.name == name), None)

    def failure(self, name: str) -> PluginFailure | None:
        return next((p for p in self.failures if p.name == name), None)

    def failed_distributions(self) -> str:
        return ", ".join(f"{f.distribution} ({f.error})" for f in self.failures)

    def register_module(self, name: str, module: ModuleType | object, distribution: str = "?",
                        version: str = "?") -> None:
        """Register an already imported plugin object (tests and ``faultmgr.testing`` use this)."""
        self.pm.register(module, name=name)
        self.loaded.append(PluginInfo(name, distribution, version, getattr(module, "__name__", repr(module))))

    def _drop(self, name: str, error: str, tb: str = "") -> None:
        info = self.info(name)
        if info is not None:
            self.loaded.remove(info)
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            self.pm.unregister(plugin)
        self.failures.append(PluginFailure(name, info.distribution if info else "?",
                                           info.version if info else "?", error, tb))
        log.error("plugin %s (%s) disabled: %s", name, info.distribution if info else "?", error)

    def _check_hooks(self) -> None:
        """``pm.check_pending()``, but a misspelled hook drops only the plugin that has it, by name."""
        try:
            self.pm.check_pending()
            return
        except pluggy.PluginValidationError:
            pass
        for hook_name, caller in list(vars(self.pm.hook).items()):
            if not isinstance(caller, pluggy.HookCaller) or caller.has_spec():
                continue
            for impl in caller.get_hookimpls():
                if not impl.opts.get("optionalhook") and self.info(impl.plugin_name) is not None:
                    self._drop(impl.plugin_name, f"unknown hook {hook_name!r} (misspelled?)")
        self.pm.check_pending()

    def register_types(self) -> None:
        """Call the registration hooks one plugin at a time and record what each registered."""
        self._check_hooks()
        steps: list[tuple[str, Any, Any]] = [
            ("detectors", self.pm.hook.faultmgr_register_detectors, self.detectors),
            ("actions", self.pm.hook.faultmgr_register_actions, self.actions),
            ("notifiers", self.pm.hook.faultmgr_register_notifiers, self.notifiers),
            ("sections", self.pm.hook.faultmgr_register_sections, self.sections),
        ]
        for kind, caller, registry in steps:
            for impl in caller.get_hookimpls():
                name = impl.plugin_name
                if self.info(name) is None:
                    continue
                before = set(registry.names())
                registry.current_plugin = name
                try:
                    self._call(caller.name, impl, registry)
                except Exception as exc:  # a broken plugin must not stop the others
                    self._forget(name, before, registry)
                    self._drop(name, f"{caller.name} failed: {type(exc).__name__}: {exc}",
                               traceback.format_exc())
                    continue
                info = self.info(name)
                if info is not None:
                    info.registered.setdefault(kind, []).extend(sorted(set(registry.names()) - before))

    @staticmethod
    def _forget(plugin: str, before: set[str], registry: Any) -> None:
        for name in set(registry.names()) - before:
            registry.remove(name)

    def _call(self, hook_name: str, impl: pluggy.HookImpl, registry: Any) -> None:
        tracer = log.getChild("trace")
        if os.environ.get(TRACE_ENV) == "1":
            tracer.info("%s -> %s", hook_name, impl.plugin_name)
        result: Any = impl.function(registry=registry)
        if hasattr(result, "__await__"):
            result.close()
            raise TypeError(f"{hook_name} returned a coroutine: hooks must be synchronous (def, not async def)")


def enable_tracing(pm: pluggy.PluginManager) -> None:
    """Log every hook call and its outcome to the ``faultmgr.plugins.trace`` logger (stderr)."""
    tracer = log.getChild("trace")
    if not tracer.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("faultmgr trace: %(message)s"))
        tracer.addHandler(handler)
        tracer.setLevel(logging.INFO)
        tracer.propagate = False

    def before(hook_name: str, impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, Any]) -> None:
        tracer.info("call %s(%s) -> %s", hook_name, ", ".join(sorted(kwargs)),
                    ", ".join(i.plugin_name for i in impls))

    def after(outcome: Any, hook_name: str, impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, Any]) -> None:
        exc = outcome.exception
        tracer.info("done %s%s", hook_name, f" raised {exc!r}" if exc else "")

    pm.add_hookcall_monitoring(before, after)


def load_plugins(disabled: Iterable[str] = (), *, entry_points: bool = True,
                 extra: Iterable[tuple[str, object]] = ()) -> Plugins:
    """Find, load and register every plugin but the disabled ones.

    :param disabled: plugin names to skip, added to ``FAULTMGR_DISABLE_PLUGINS``.
    :param entry_points: false to skip discovery (tests that register plugins by hand).
    :param extra: ``(name, module)`` pairs registered after the discovered ones.
    """
    plugins = Plugins()
    skip = set(disabled) | disabled_from_env()
    if os.environ.get(TRACE_ENV) == "1":
        enable_tracing(plugins.pm)
    found = find_plugins() if entry_points else []
    for plugin in found:
        if plugin.name in skip:
            plugins.disabled.append(plugin.name)
            continue
        try:
            module = plugin.entry_point.load()
        except Exception as exc:  # an import error in one plugin must not stop the others
            plugins.failures.append(PluginFailure(
                plugin.name, plugin.distribution, plugin.version,
                f"import failed: {type(exc).__name__}: {exc}", traceback.format_exc()))
            log.error("plugin %s from %s %s failed to load: %s: %s", plugin.name, plugin.distribution,
                      plugin.version, type(exc).__name__, exc)
            continue
        try:
            plugins.register_module(plugin.name, module, plugin.distribution, plugin.version)
        except Exception as exc:
            plugins.failures.append(PluginFailure(plugin.name, plugin.distribution, plugin.version,
                                                  f"registration failed: {exc}"))
    for name, module in extra:
        if name not in skip:
            plugins.register_module(name, module)
    for name in sorted(skip):
        if name not in plugins.disabled and any(p.name == name for p in found):
            plugins.disabled.append(name)
    plugins.register_types()
    return plugins
