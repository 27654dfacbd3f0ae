"""Test prerequisites (import as `from prereq import need, need_root, need_program`).

Suites that need root, a Debian package or a kernel feature call :func:`need`: on a developer's machine
a missing prerequisite skips with the reason; under CI (``CI=true``) it fails, so CI never goes green by
skipping what it was meant to run.
"""

from __future__ import annotations

import os
import shutil

import pytest


def need(condition: bool, reason: str) -> None:
    """Skip (or, under CI, fail) when ``condition`` is false."""
    if condition:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI prerequisite missing: {reason}")
    pytest.skip(reason)


def need_root() -> None:
    need(os.geteuid() == 0, "needs root")


def need_program(name: str, package: str | None = None) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
    need(path is not None, f"needs {name} (Debian package {package or name}; `make system-deps`)")
    assert path is not None
    return path
