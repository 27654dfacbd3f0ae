"""The plugin module named by the ``faultmgr`` entry point: it only registers types (hooks register,
objects run)."""

from __future__ import annotations

from faultmgr import Detector, Notifier, hookimpl
from faultmgr.plugin.registry import TypeRegistry
from faultmgr_example.load import LoadDetector
from faultmgr_example.textfile import TextFileNotifier


@hookimpl
def faultmgr_register_detectors(registry: TypeRegistry[Detector]) -> None:
    registry.register("example.load", LoadDetector)


@hookimpl
def faultmgr_register_notifiers(registry: TypeRegistry[Notifier]) -> None:
    registry.register("example.textfile", TextFileNotifier)
