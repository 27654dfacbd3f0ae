"""Where each path of the merged config came from, and turning pydantic errors into positioned issues."""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from faultmgr.config.errors import ConfigIssue
from faultmgr.config.yamlfile import Document, Path_


class Positions:
    """Path -> (file, line, col) over several documents merged together."""

    def __init__(self) -> None:
        self._keys: dict[Path_, tuple[str, int, int]] = {}
        self._values: dict[Path_, tuple[str, int, int]] = {}

    def add(self, doc: Document, prefix: Path_ = ()) -> None:
        for path, (line, col) in doc.keys.items():
            if path[: len(prefix)] == prefix:
                self._keys.setdefault(path, (doc.file, line, col))
        for path, (line, col) in doc.values.items():
            if path[: len(prefix)] == prefix:
                self._values.setdefault(path, (doc.file, line, col))

    def of(self, path: Path_, value: bool = False) -> tuple[str, int, int]:
        """Position of ``path``'s key (or value), or of its nearest ancestor that has one."""
        first, second = (self._values, self._keys) if value else (self._keys, self._values)
        for end in range(len(path), -1, -1):
            sub = path[:end]
            for table in (first, second):
                if sub in table:
                    return table[sub]
        return ("<config>", 0, 0)

    def issue(self, path: Path_, message: str, hint: str | None = None, severity: str = "error",
              value: bool = False) -> ConfigIssue:
        file, line, col = self.of(path, value)
        return ConfigIssue(file, line, col, message, hint, severity)


def _unwrap(annotation: Any) -> type[BaseModel] | None:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if origin in (typing.Union, types.UnionType, list, dict, tuple):
        for arg in typing.get_args(annotation):
            found = _unwrap(arg)
            if found is not None:
                return found
    return None


def allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys a mapping at ``loc`` (inside ``model``) accepts, for did-you-mean hints."""
    current: type[BaseModel] | None = model
    for part in loc:
        if current is None:
            return []
        if not isinstance(part, str):
            continue
        field = next((f for n, f in current.model_fields.items() if part in (n, f.alias)), None)
        if field is None:
            continue  # a dict key (an instance name), not a field
        current = _unwrap(field.annotation)
    if current is None:
        return []
    return [f.alias or n for n, f in current.model_fields.items()]


def did_you_mean(word: str, choices: list[str]) -> str | None:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else None


def _message(err: Any) -> str:
    msg = str(err.get("msg", "invalid"))
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    return msg


def issues_from(exc: ValidationError, positions: Positions, base: Path_, model: type[BaseModel],
                what: str) -> list[ConfigIssue]:
    """One positioned issue per pydantic error; ``what`` names the thing (``detector 'hb'``)."""
    out = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        path = base + loc
        dotted = ".".join(str(p) for p in loc)
        if err["type"] == "extra_forbidden":
            key = str(loc[-1])
            hint = did_you_mean(key, allowed_keys(model, loc[:-1]))
            where = f" in {what}" + (f" ({'.'.join(str(p) for p in loc[:-1])})" if len(loc) > 1 else "")
            out.append(positions.issue(path, f"unknown key {key!r}{where}", hint))
        elif err["type"] == "missing":
            out.append(positions.issue(base + loc[:-1], f"{what}: missing required key {dotted!r}"))
        else:
            prefix = f"{what}: {dotted}: " if dotted else f"{what}: "
            out.append(positions.issue(path, prefix + _message(err), value=True))
    return out
