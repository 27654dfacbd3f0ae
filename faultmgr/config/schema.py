"""The JSON Schema of the whole rule-file language, built from the same declarations that validate it:
the core's sections and every installed plugin's types and sections."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, create_model

from faultmgr.config.build import INSTANCE_SECTIONS, instance_model
from faultmgr.config.model import DaemonSection, InhibitSection, PluginsSection, RuleSection

if TYPE_CHECKING:
    from faultmgr.plugin.manager import Plugins

SCHEMA_ID = "https://faultmgr.invalid/schema/rules.json"


def _typed(core: type[BaseModel], cls: Any, type_name: str, kind: str) -> type[BaseModel]:
    base = instance_model(core, cls.Settings, type_name)
    safe = "".join(c if c.isalnum() else "_" for c in type_name)
    described = cls.summary or f"{kind} type {type_name}"
    return create_model(  # type: ignore[call-overload,no-any-return]
        f"{kind.capitalize()}_{safe}", __base__=base,
        type=(Literal[type_name], Field(description=described)),  # type: ignore[arg-type]
    )


def _section_type(section: str, plugins: Plugins) -> Any:
    kind, core = INSTANCE_SECTIONS[section]
    registries: dict[str, Any] = {"detectors": plugins.detectors, "actions": plugins.actions,
                                  "receivers": plugins.notifiers}
    registry = registries[section]
    models = [_typed(core, reg.cls, reg.name, kind) for reg in registry]
    if not models:
        return dict[str, core]  # type: ignore[valid-type]
    if len(models) == 1:
        return dict[str, models[0]]  # type: ignore[valid-type]
    union: Any = Union[tuple(models)]  # noqa: UP007
    return dict[str, Annotated[union, Field(discriminator="type")]]  # type: ignore[valid-type]


def rules_model(plugins: Plugins) -> type[BaseModel]:
    """A pydantic model of a whole rule file (every section optional, as each file may hold a part)."""
    fields: dict[str, Any] = {
        "include": (str | list[str] | None, Field(None, description="other rule files or directories (globs "
                                                                    "allowed), relative to this file")),
        "plugins": (PluginsSection | None, Field(None, description="which plugins to use")),
        "daemon": (DaemonSection | None, Field(None, description="settings of the daemon itself")),
        "detectors": (_section_type("detectors", plugins), Field(None, description="detector instances by name")),
        "actions": (_section_type("actions", plugins), Field(None, description="action instances by name")),
        "receivers": (_section_type("receivers", plugins), Field(None, description="receivers (notifier "
                                                                                   "instances) by name")),
        "rules": (dict[str, RuleSection], Field(None, description="rules by name")),
        "inhibit": (list[InhibitSection], Field(None, description="inhibition rules")),
    }
    for section in plugins.sections:
        fields[section.name] = (section.model | None, Field(None, description=section.description))
    return create_model(  # type: ignore[call-overload,no-any-return]
        "FaultmgrRuleFile", __config__=ConfigDict(extra="forbid"), **fields)


def json_schema(plugins: Plugins) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a rule file."""
    schema = rules_model(plugins).model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "faultmgr rule file"
    return schema
