"""Fixtures for the audit detector's tests: a runtime that records events, a detector builder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
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

