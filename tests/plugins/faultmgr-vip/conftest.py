"""Fixtures of the VIP suite: the network lab (see lab.py) and a runtime for actions built directly.

lab.py and lab_daemons.py are loaded under the unique module names ``faultmgr_vip_lab`` and
``faultmgr_vip_lab_daemons`` (pytest runs in importlib mode, and other suites may have a module called ``lab``);
tests import them by those names.
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


def _load(name: str, filename: str) -> Any:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(filename))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


labmod = _load("faultmgr_vip_lab", "lab.py")
_load("faultmgr_vip_lab_daemons", "lab_daemons.py")


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
