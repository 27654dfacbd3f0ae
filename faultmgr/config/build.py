"""From rule files to a validated :class:`Config`: read, follow ``include:``, merge, validate, cross-check.

Every problem is collected (not just the first) as a positioned :class:`ConfigIssue`.
"""

from __future__ import annotations

import builtins
import glob
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from faultmgr.component import Component
from faultmgr.config.errors import ConfigError, ConfigIssue
from faultmgr.config.model import (
    ActionCore,
    DaemonSection,
    DetectorCore,
    InhibitSection,
    PluginsSection,
    ReceiverCore,
    RuleSection,
)
from faultmgr.config.positions import Positions, did_you_mean, issues_from
from faultmgr.config.yamlfile import Document, read_document

if TYPE_CHECKING:
    from faultmgr.plugin.manager import Plugins
    from faultmgr.plugin.registry import TypeRegistry

CORE_SECTIONS = ("include", "plugins", "daemon", "detectors", "actions", "receivers", "rules", "inhibit")
SINGLE_SECTIONS = ("plugins", "daemon")
INSTANCE_SECTIONS: dict[str, tuple[str, type[BaseModel]]] = {
    "detectors": ("detector", DetectorCore),
    "actions": ("action", ActionCore),
    "receivers": ("receiver", ReceiverCore),
}


@dataclass
class Instance:
    """One declared detector, action or receiver: its type's class and its validated settings."""

    name: str
    kind: str
    type: str
    cls: builtins.type[Component]
    settings: Any
    plugin: str


@dataclass
class Config:
    """A validated configuration."""

    files: list[str]
    daemon: DaemonSection
    plugins: PluginsSection
    detectors: dict[str, Instance]
    actions: dict[str, Instance]
    receivers: dict[str, Instance]
    rules: dict[str, RuleSection]
    inhibit: list[InhibitSection]
    sections: dict[str, Any] = field(default_factory=dict)
    warnings: list[ConfigIssue] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    #: Where each key was written (file, line, column), for messages about the loaded config.
    positions: Positions = field(default_factory=Positions)


@cache
def instance_model(core: type[BaseModel], settings: type[BaseModel], type_name: str) -> type[BaseModel]:
    """The model of one instance: the core keys of its section plus its type's settings."""
    name = f"{settings.__name__}_{core.__name__}"
    return type(name, (core, settings), {"__module__": settings.__module__,
                                         "__doc__": settings.__doc__ or f"settings of {type_name}"})


def expand(paths: Iterable[str | Path]) -> tuple[list[Path], list[ConfigIssue]]:
    """Files named, plus the ``*.yaml``/``*.yml`` files of directories named, in a stable order."""
    out: list[Path] = []
    issues: list[ConfigIssue] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
            if not found:
                issues.append(ConfigIssue(str(path), 0, 0, "directory holds no .yaml or .yml files",
                                          severity="warning"))
            out.extend(found)
        elif path.exists():
            out.append(path)
        else:
            issues.append(ConfigIssue(str(path), 0, 0, "no such file or directory"))
    return out, issues


def read_all(paths: Iterable[str | Path]) -> tuple[list[Document], list[ConfigIssue]]:
    """Read every file and everything it includes (each once), in order."""
    files, issues = expand(paths)
    docs: list[Document] = []
    seen: set[Path] = set()
    queue = list(files)
    while queue:
        path = queue.pop(0)
        real = path.resolve()
        if real in seen:
            continue
        seen.add(real)
        result = read_document(path)
        if isinstance(result, ConfigIssue):
            issues.append(result)
            continue
        docs.append(result)
        include = result.data.get("include")
        if include is None:
            continue
        line, col = result.keys.get(("include",), (1, 1))
        items = [include] if isinstance(include, str) else include
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            issues.append(ConfigIssue(result.file, line, col, "include must be a path or a list of paths"))
            continue
        for item in items:
            pattern = str(path.parent / item)
            matches = sorted(glob.glob(pattern)) if any(c in item for c in "*?[") else [pattern]
            sub, problems = expand(matches)
            issues.extend(ConfigIssue(result.file, line, col, f"include {item!r}: {p.message}", None,
                                      p.severity) for p in problems)
            if not matches:
                issues.append(ConfigIssue(result.file, line, col, f"include {item!r} matches no file",
                                          severity="warning"))
            queue.extend(sub)
    return docs, issues


def merge(docs: list[Document], plugins: Plugins) -> tuple[dict[str, Any], Positions, list[ConfigIssue]]:
    """Merge documents: named entries by name (a name defined twice is an error), lists appended."""
    merged: dict[str, Any] = {}
    positions = Positions()
    issues: list[ConfigIssue] = []
    known = list(CORE_SECTIONS) + plugins.sections.names()
    for doc in docs:
        for key, value in doc.data.items():
            line, col = doc.keys.get((key,), (1, 1))
            if key == "include" or key.startswith("x-"):
                continue  # x-...: a place for YAML anchors to share (as Compose files have), not a section
            if key not in known:
                issues.append(ConfigIssue(doc.file, line, col, f"unknown section {key!r}",
                                          did_you_mean(key, known) or f"sections: {', '.join(sorted(known))}"))
                continue
            if key not in merged:
                merged[key] = value
                positions.add(doc, (key,))
            elif key in SINGLE_SECTIONS or not isinstance(value, (dict, list)) or \
                    type(value) is not type(merged[key]):
                first = positions.of((key,))
                issues.append(ConfigIssue(doc.file, line, col, f"section {key!r} is already defined "
                                          f"at {first[0]}:{first[1]}", "define it in one file"))
            elif isinstance(value, list):
                offset = len(merged[key])
                merged[key].extend(value)
                _shift(doc, key, offset, positions)
            else:
                for name, entry in value.items():
                    if name in merged[key]:
                        first = positions.of((key, name))
                        nline, ncol = doc.keys.get((key, name), (line, col))
                        issues.append(ConfigIssue(doc.file, nline, ncol, f"{key} entry {name!r} is already "
                                                  f"defined at {first[0]}:{first[1]}:{first[2]}"))
                        continue
                    merged[key][name] = entry
                    positions.add(doc, (key, name))
    return merged, positions, issues


def _shift(doc: Document, key: str, offset: int, positions: Positions) -> None:
    shifted = Document(doc.file, doc.data)
    for table, target in ((doc.keys, shifted.keys), (doc.values, shifted.values)):
        for path, pos in table.items():
            if len(path) >= 2 and path[0] == key and isinstance(path[1], int):
                target[(key, path[1] + offset, *path[2:])] = pos
    positions.add(shifted, (key,))


def _instances(section: str, raw: Any, registry: TypeRegistry[Any], plugins: Plugins,
               positions: Positions) -> tuple[dict[str, Instance], list[ConfigIssue]]:
    kind, core = INSTANCE_SECTIONS[section]
    out: dict[str, Instance] = {}
    issues: list[ConfigIssue] = []
    if not isinstance(raw, dict):
        return out, [positions.issue((section,), f"{section} must be a mapping of names to {kind} settings")]
    for name, entry in raw.items():
        path = (section, name)
        if not isinstance(entry, dict):
            issues.append(positions.issue(path, f"{kind} {name!r} must be a mapping of settings", value=True))
            continue
        type_name = entry.get("type")
        if not isinstance(type_name, str):
            issues.append(positions.issue(path, f"{kind} {name!r} needs a 'type'",
                                          f"known types: {', '.join(registry.names()) or 'none'}"))
            continue
        registered = registry.get(type_name)
        if registered is None:
            hint = did_you_mean(type_name, registry.names()) or f"known types: {', '.join(registry.names())}"
            if plugins.failures:
                hint += f"; plugins that failed to load: {plugins.failed_distributions()}"
            issues.append(positions.issue((*path, "type"), f"unknown {kind} type {type_name!r}", hint,
                                          value=True))
            continue
        model = instance_model(core, registered.cls.Settings, type_name)
        try:
            settings = model.model_validate(entry)
        except ValidationError as exc:
            issues.extend(issues_from(exc, positions, path, model, f"{kind} {name!r} ({type_name})"))
            continue
        out[name] = Instance(name, kind, type_name, registered.cls, settings, registered.plugin)
    return out, issues


def _named(section: str, raw: Any, model: type[BaseModel], positions: Positions,
           what: str) -> tuple[dict[str, Any], list[ConfigIssue]]:
    out: dict[str, Any] = {}
    issues: list[ConfigIssue] = []
    if not isinstance(raw, dict):
        return out, [positions.issue((section,), f"{section} must be a mapping of names to {what}s")]
    for name, entry in raw.items():
        try:
            out[name] = model.model_validate(entry)
        except ValidationError as exc:
            issues.extend(issues_from(exc, positions, (section, name), model, f"{what} {name!r}"))
    return out, issues


def _single(section: str, raw: Any, model: type[BaseModel], positions: Positions) -> tuple[Any, list[ConfigIssue]]:
    try:
        return model.model_validate(raw if raw is not None else {}), []
    except ValidationError as exc:
        return model(), issues_from(exc, positions, (section,), model, f"section {section!r}")


def _names(raw: Any) -> list[tuple[int, str]]:
    return [(i, n) for i, n in enumerate(raw)] if isinstance(raw, list) else []


def _references(cfg: Config, positions: Positions) -> list[ConfigIssue]:
    """Names used by rules and fallbacks must be declared. Checked on the raw merged data, so a rule that has
    other errors, or a receiver that is itself invalid, still gets its references checked."""
    issues: list[ConfigIssue] = []
    raw = cfg.raw
    declared: dict[str, dict[str, Any]] = {s: raw[s] if isinstance(raw.get(s), dict) else {}
                                           for s in INSTANCE_SECTIONS}

    def ref(path: tuple[Any, ...], name: Any, section: str, what: str) -> None:
        table = declared[section]
        if not isinstance(name, str) or name in table:
            return
        hint = did_you_mean(name, list(table)) or (f"defined {what}s: {', '.join(sorted(table))}"
                                                   if table else f"no {what}s are defined")
        issues.append(positions.issue(path, f"{what} {name!r} is not defined", hint, value=True))

    rules: dict[str, Any] = raw["rules"] if isinstance(raw.get("rules"), dict) else {}
    for rname, rule in rules.items():
        if not isinstance(rule, dict):
            continue
        for i, receiver in _names(rule.get("notify")):
            ref(("rules", rname, "notify", i), receiver, "receivers", "receiver")
        for i, action in _names(rule.get("actions")):
            ref(("rules", rname, "actions", i), action, "actions", "action")
        for i, tier in _names(rule.get("escalate")):
            for j, receiver in _names(tier.get("notify") if isinstance(tier, dict) else None):
                ref(("rules", rname, "escalate", i, "notify", j), receiver, "receivers", "receiver")
    for rname, rule in cfg.rules.items():
        for spec in rule.conditions():
            if not any(c in spec.source for c in "*?[") and spec.source not in declared["detectors"]:
                issues.append(positions.issue(("rules", rname), f"rule {rname!r} matches source "
                              f"{spec.source!r}, which is no detector here", severity="warning"))
        if not rule.notify and not rule.actions:
            issues.append(positions.issue(("rules", rname), f"rule {rname!r} pages nobody and runs no action",
                                          "add notify: or actions:", severity="warning"))
    for section, what in (("receivers", "receiver"), ("actions", "action")):
        for name, entry in declared[section].items():
            if isinstance(entry, dict) and "fallback" in entry:
                ref((section, name, "fallback"), entry["fallback"], section, what)
    for name, inst in cfg.receivers.items():
        seen, current = {name}, inst.settings.fallback
        while current in cfg.receivers:
            if current in seen:
                issues.append(positions.issue(("receivers", name, "fallback"),
                                              f"receiver fallback chain of {name!r} loops back to {current!r}"))
                break
            seen.add(current)
            current = cfg.receivers[current].settings.fallback
    return issues


def build(docs: list[Document], plugins: Plugins, files: list[str] | None = None) -> Config:
    """Validate merged documents; raises :class:`ConfigError` with every problem found."""
    merged, positions, issues = merge(docs, plugins)
    plugins_cfg, found = _single("plugins", merged.get("plugins"), PluginsSection, positions)
    issues += found
    daemon, found = _single("daemon", merged.get("daemon"), DaemonSection, positions)
    issues += found
    registries: dict[str, TypeRegistry[Any]] = {"detectors": plugins.detectors, "actions": plugins.actions,
                                                "receivers": plugins.notifiers}
    tables: dict[str, dict[str, Instance]] = {}
    for section, registry in registries.items():
        tables[section], found = _instances(section, merged.get(section, {}), registry, plugins, positions)
        issues += found
    rules, found = _named("rules", merged.get("rules", {}), RuleSection, positions, "rule")
    issues += found
    inhibit: list[InhibitSection] = []
    raw_inhibit = merged.get("inhibit", [])
    if not isinstance(raw_inhibit, list):
        issues.append(positions.issue(("inhibit",), "inhibit must be a list of {source, target, equal}"))
        raw_inhibit = []
    for i, entry in enumerate(raw_inhibit):
        try:
            inhibit.append(InhibitSection.model_validate(entry))
        except ValidationError as exc:
            issues += issues_from(exc, positions, ("inhibit", i), InhibitSection, f"inhibit rule #{i + 1}")
    sections: dict[str, Any] = {}
    for extra in plugins.sections:
        if extra.name in merged:
            try:
                sections[extra.name] = extra.model.model_validate(merged[extra.name])
            except ValidationError as exc:
                issues += issues_from(exc, positions, (extra.name,), extra.model, f"section {extra.name!r}")
    cfg = Config(files or sorted({d.file for d in docs}), daemon, plugins_cfg, tables["detectors"],
                 tables["actions"], tables["receivers"], rules, inhibit, sections, raw=merged)
    cfg.positions = positions
    issues += _references(cfg, positions)
    if not any(i.severity == "error" for i in issues):
        for problems in plugins.hook.faultmgr_validate_config(config=cfg):
            first_file = cfg.files[0] if cfg.files else "<config>"
            issues += [ConfigIssue(first_file, 0, 0, p) for p in problems or []]
    errors = [i for i in issues if i.severity == "error"]
    if errors:
        raise ConfigError(issues)
    cfg.warnings = sorted(issues)
    return cfg


def load(paths: Iterable[str | Path], plugins: Plugins) -> Config:
    """Read, merge and validate rule files; raises :class:`ConfigError` listing every problem."""
    paths = list(paths)
    docs, issues = read_all(paths)
    errors = [i for i in issues if i.severity == "error"]
    if not docs and not errors:
        errors.append(ConfigIssue(", ".join(map(str, paths)) or "<none>", 0, 0, "no rule files found"))
    try:
        cfg = build(docs, plugins)
    except ConfigError as exc:
        raise ConfigError(issues + exc.issues) from None
    if errors:
        raise ConfigError(issues + cfg.warnings)
    cfg.warnings = sorted(issues + cfg.warnings)
    return cfg


def disabled_in(paths: Iterable[str | Path]) -> list[str]:
    """Plugin names disabled by ``plugins: {disable: [...]}``, read before plugins load (errors ignored here:
    the full load reports them)."""
    docs, _ = read_all(paths)
    out: list[str] = []
    for doc in docs:
        section = doc.data.get("plugins")
        if isinstance(section, dict) and isinstance(section.get("disable"), list):
            out.extend(str(n) for n in section["disable"])
    return out
