"""Fixtures for the audit detector's tests: a runtime that records events, a detector builder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from faultmgr_audit import AuditDetector

from faultmgr.clock import VirtualClock
from faultmgr.event import Event
from faultmgr.runtime import Runtime
from faultmgr.store import KeyValueStore


@pytest.fixture
def events() -> list[Event]:
    return []


@pytest.fixture
def store() -> KeyValueStore:
    return KeyValueStore.memory()


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def make_detector(events: list[Event], store: KeyValueStore, clock: VirtualClock,
                  tmp_path: Path) -> Callable[..., AuditDetector]:
    """``make_detector(sources=[...], ...)`` -> an AuditDetector on a recording runtime (not started)."""

    def make(name: str = "audit", **settings: Any) -> AuditDetector:
        runtime = Runtime(emit=events.append, clock=clock, state_dir=tmp_path, store=store)
        return AuditDetector(name, AuditDetector.Settings(**settings), runtime)

    return make



SHIPPED = Path(__file__).resolve().parents[3] / "rules" / "security.yaml"


@pytest.fixture
def shipped_settings(tmp_path: Path) -> Callable[[], dict[str, Any]]:
    """``shipped_settings()`` -> the audit detector settings of rules/security.yaml with every source moved
    into ``tmp_path`` (same file names, created empty, read from the start) and a 10 ms poll interval."""

    def settings() -> dict[str, Any]:
        found = dict(yaml.safe_load(SHIPPED.read_text())["detectors"]["audit"])
        for key in ("type", "description", "labels"):
            found.pop(key, None)
        sources = []
        for source in found["sources"]:
            path = tmp_path / Path(source["path"]).name
            path.touch()
            sources.append(dict(source, path=str(path), start_at="start"))
        found["sources"] = sources
        found["poll_interval"] = 0.01
        return found

    return settings
