"""Reading one YAML rule file safely, and remembering where every key and value came from.

PyYAML's safe composer builds the node graph; we convert it ourselves so that:

* every value's line and column is kept (errors name them);
* only plain data tags are accepted (``!!python/object`` and friends are refused with their position);
* aliases cannot blow up (a billion-laughs document is stopped after ``MAX_NODES`` expanded nodes) and
  recursive aliases and very deep nesting are refused;
* duplicate keys are errors instead of silently keeping the last one;
* oversized, binary and empty files get one clear message, before any parsing.
"""

from __future__ import annotations

import datetime
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from faultmgr.config.errors import ConfigIssue
from faultmgr.shipped import candidates, shipped_rules

MAX_BYTES = 8 * 1024 * 1024
MAX_NODES = 200_000
MAX_DEPTH = 64
#: ``${env:NAME}`` or ``${env:NAME:-default}`` in a string value is replaced from the environment (the explicit
#: ``env:`` prefix keeps shell snippets such as ``${HOME}`` in a command's argv untouched).
ENV_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
#: ``${faultmgr:rules}`` is the folder of the rule files shipped with faultmgr, wherever it is installed
#: (:func:`faultmgr.shipped.shipped_rules`): a site's file includes them with it.
BUILTIN_REF = re.compile(r"\$\{faultmgr:([^}]*)\}")

Path_ = tuple[str | int, ...]


@dataclass
class Document:
    """One parsed rule file: its data and where each path's key and value sit (1-based line, col)."""

    file: str
    data: dict[str, Any]
    values: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def position(self, path: Path_) -> tuple[int, int]:
        """The best position for ``path``: its key, else its value, else the nearest ancestor's."""
        for end in range(len(path), -1, -1):
            sub = path[:end]
            if sub in self.keys:
                return self.keys[sub]
            if sub in self.values:
                return self.values[sub]
        return (1, 1)


class YamlProblem(Exception):
    def __init__(self, message: str, line: int = 1, col: int = 1, hint: str | None = None) -> None:
        super().__init__(message)
        self.line, self.col, self.hint = line, col, hint


class _Converter:
    def __init__(self, loader: yaml.SafeLoader, doc: Document) -> None:
        self.loader = loader
        self.doc = doc
        self.count = 0
        self.stack: set[int] = set()

    def convert(self, node: yaml.Node, path: Path_, depth: int = 0) -> Any:
        self.count += 1
        mark = node.start_mark
        if self.count > MAX_NODES:
            raise YamlProblem(f"document expands to more than {MAX_NODES} values", mark.line + 1,
                              mark.column + 1, "an alias bomb (billion laughs)? rule files never need this")
        if depth > MAX_DEPTH:
            raise YamlProblem(f"nesting deeper than {MAX_DEPTH} levels", mark.line + 1, mark.column + 1)
        self.doc.values.setdefault(path, (mark.line + 1, mark.column + 1))
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
        if id(node) in self.stack:
            raise YamlProblem("recursive alias", mark.line + 1, mark.column + 1)
        self.stack.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                self._check_tag(node, "tag:yaml.org,2002:seq")
                return [self.convert(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
            self._check_tag(node, "tag:yaml.org,2002:map")
            assert isinstance(node, yaml.MappingNode)
            return self._mapping(node, path, depth)
        finally:
            self.stack.discard(id(node))

    def _check_tag(self, node: yaml.Node, expected: str) -> None:
        if node.tag != expected:
            mark = node.start_mark
            raise YamlProblem(f"tag {node.tag!r} is not allowed", mark.line + 1, mark.column + 1,
                              "rule files hold plain data only")

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        try:
            value = self.loader.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            mark = node.start_mark
            raise YamlProblem(f"tag {node.tag!r} is not allowed", mark.line + 1, mark.column + 1,
                              "rule files hold plain data only") from exc
        if isinstance(value, (datetime.date, datetime.datetime)):
            return node.value
        if isinstance(value, bytes):
            mark = node.start_mark
            raise YamlProblem("binary values are not allowed", mark.line + 1, mark.column + 1)
        if isinstance(value, str) and "${env:" in value:
            value = self._expand(value, node)
        if isinstance(value, str) and "${faultmgr:" in value:
            value = self._builtin(value, node)
        return value

    @staticmethod
    def _builtin(value: str, node: yaml.Node) -> str:
        def one(match: re.Match[str]) -> str:
            mark = node.start_mark
            if match.group(1) != "rules":
                raise YamlProblem(f"unknown reference ${{faultmgr:{match.group(1)}}}", mark.line + 1,
                                  mark.column + 1, "the one known is ${faultmgr:rules}")
            folder = shipped_rules()
            if folder is None:
                raise YamlProblem("the shipped rule files are not installed", mark.line + 1, mark.column + 1,
                                  f"looked in {', '.join(map(str, candidates()))}")
            return str(folder)

        return BUILTIN_REF.sub(one, value)

    @staticmethod
    def _expand(value: str, node: yaml.Node) -> str:
        def one(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in os.environ:
                return os.environ[name]
            if default is not None:
                return default
            mark = node.start_mark
            raise YamlProblem(f"environment variable {name} is not set", mark.line + 1, mark.column + 1,
                              f"set it, or give a default: ${{env:{name}:-...}}")

        return ENV_REF.sub(one, value)

    def _mapping(self, node: yaml.MappingNode, path: Path_, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        written: set[str] = set()  # keys of this mapping itself; merged ones (<<) may be overridden by them
        for key_node, value_node in node.value:
            kmark = key_node.start_mark
            if key_node.tag == "tag:yaml.org,2002:merge":
                merged = self.convert(value_node, path, depth + 1)
                items = merged if isinstance(merged, list) else [merged]
                for item in items:
                    if not isinstance(item, dict):
                        raise YamlProblem("a merge key (<<) needs a mapping", kmark.line + 1, kmark.column + 1)
                    for k, v in item.items():
                        out.setdefault(k, v)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlProblem("a key must be a plain string", kmark.line + 1, kmark.column + 1)
            key = self._scalar(key_node)
            if not isinstance(key, str):
                key = str(key).lower() if isinstance(key, bool) else str(key)
            if key in written:
                first = self.doc.keys[(*path, key)]
                raise YamlProblem(f"duplicate key {key!r} (first at line {first[0]})", kmark.line + 1,
                                  kmark.column + 1)
            written.add(key)
            self.doc.keys[(*path, key)] = (kmark.line + 1, kmark.column + 1)
            out[key] = self.convert(value_node, (*path, key), depth + 1)
        return out


def parse_text(text: str, file: str) -> Document:
    """Parse rule-file text; raises :class:`YamlProblem` with a position."""
    if not text.strip():
        raise YamlProblem("the file is empty", 1, 1, hint="a rule file needs at least one section (rules:, detectors:, ...)")
    loader = yaml.SafeLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            problem = exc.problem or str(exc)
            if "expected a single document" in str(exc):
                problem = "several YAML documents in one file; put each in its own file"
            raise YamlProblem(f"YAML syntax: {problem}", (mark.line + 1) if mark else 1,
                              (mark.column + 1) if mark else 1) from None
        except yaml.YAMLError as exc:
            raise YamlProblem(f"YAML syntax: {exc}") from None
        if node is None:
            raise YamlProblem("the file holds no data (only comments?)", 0, 0,
                              hint="a rule file needs at least one section (rules:, detectors:, ...)")
        doc = Document(file, {})
        data = _Converter(loader, doc).convert(node, ())
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise YamlProblem("the top level must be a mapping of sections (rules:, detectors:, ...)",
                          node.start_mark.line + 1, node.start_mark.column + 1)
    doc.data = data
    return doc


def read_document(path: Path, max_bytes: int = MAX_BYTES) -> Document | ConfigIssue:
    """Read and parse one file; a problem comes back as a :class:`ConfigIssue` instead of raising."""
    name = str(path)
    # Problems with the whole file are reported at 1:1, so that editors and CI annotations that expect
    # file:line:col find them like any other.
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):  # a FIFO or a device would block the read forever
            return ConfigIssue(name, 1, 1, "not a regular file", "rule files are plain YAML files")
        if info.st_size > max_bytes:
            return ConfigIssue(name, 1, 1, f"file is {info.st_size / 1048576:.1f} MiB, more than the "
                               f"{max_bytes // 1048576} MiB a rule file may be", "is this really a rule file?")
        with path.open("rb") as fh:
            raw = fh.read(max_bytes + 1)
    except OSError as exc:
        return ConfigIssue(name, 1, 1, f"cannot read: {exc.strerror or exc}")
    if b"\0" in raw[:65536]:
        return ConfigIssue(name, 1, 1, "binary data (NUL bytes), not a YAML rule file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return ConfigIssue(name, line, 1, "not valid UTF-8 text", "rule files are UTF-8 YAML")
    try:
        return parse_text(text, name)
    except YamlProblem as exc:
        return ConfigIssue(name, exc.line, exc.col, str(exc), exc.hint)
    except RecursionError:
        return ConfigIssue(name, 1, 1, f"nesting deeper than {MAX_DEPTH} levels")
