"""Fixtures of the VIP suite: the network lab (see lab.py) and a runtime for actions built directly.

lab.py is loaded under the unique module name ``faultmgr_vip_lab`` (pytest runs in importlib mode, and other
suites may have a module called ``lab``); tests import it by that name.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prereq import need_program, need_root

from faultmgr.runtime import Runtime
from faultmgr.store import KeyValueStore


def _load_lab() -> Any:
    if "faultmgr_vip_lab" in sys.modules:
        return sys.modules["faultmgr_vip_lab"]
    spec = importlib.util.spec_from_file_location("faultmgr_vip_lab", Path(__file__).with_name("lab.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["faultmgr_vip_lab"] = module
    spec.loader.exec_module(module)
    return module


labmod = _load_lab()


@pytest.fixture
def lab() -> Iterator[Any]:
    """A fresh lab (head-a, head-b, client, watcher on one bridge), torn down whatever happens."""
    need_root()
    need_program("ip", "iproute2")
    need_program("bridge", "iproute2")
    labmod.remove_stale()
    instance = labmod.Lab()
    try:
        instance.up()
        yield instance
    finally:
        instance.down()


@pytest.fixture
def runtime(tmp_path: Path) -> Runtime:
    """A runtime as the daemon would hand it, with an in-memory store and no other components."""
    return Runtime(emit=lambda event: None, state_dir=tmp_path, store=KeyValueStore.memory())
