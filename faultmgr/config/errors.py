"""Problems found in rule files, each tied to a file, a line and a column."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class ConfigIssue:
    """One problem: printed as ``file:line:col: message — hint``.

    :param severity: ``error`` (the config cannot be used) or ``warning`` (it can, but look).
    """

    file: str
    line: int
    col: int
    message: str
    hint: str | None = None
    severity: str = "error"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}" if self.line else self.file
        tag = "" if self.severity == "error" else f"{self.severity}: "
        return f"{where}: {tag}{self.message}" + (f" — {self.hint}" if self.hint else "")


class ConfigError(Exception):
    """The config could not be loaded; ``issues`` says why, all of it."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = sorted(issues)
        super().__init__("\n".join(str(i) for i in self.issues))

    @property
    def errors(self) -> list[ConfigIssue]:
        return [i for i in self.issues if i.severity == "error"]
