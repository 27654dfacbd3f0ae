"""Fixtures for the probe tests: a runtime that records events, and a detector factory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from faultmgr_probes import ProbeDetector

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
def make_detector(events: list[Event], store: KeyValueStore, tmp_path: Path) -> Callable[..., ProbeDetector]:
    """``make_detector(targets=[...], **settings)`` -> a ProbeDetector whose events land in ``events``."""

    def make(name: str = "probes", **settings: Any) -> ProbeDetector:
        runtime = Runtime(emit=events.append, state_dir=tmp_path, store=store)
        return ProbeDetector(name, ProbeDetector.Settings(**settings), runtime)

    return make

