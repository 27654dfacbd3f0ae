"""Maintenance switches: a target in maintenance is not checked and raises no alert.

Two ways in, as with ldirectord: a file named after the target in ``maintenancedir`` (its name, its host,
or ``host:port``), and a switch set by ``set_maintenance`` (the CLI) that is kept in the runtime's store and
so survives a restart.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from faultmgr.store import KeyValueStore

log = logging.getLogger(__name__)


class Maintenance:
    """Which target names are in maintenance, and why.

    :param store: durable store for switches (``None``: switches last until the process ends).
    :param namespace: the store namespace (one per detector instance).
    :param directory: ldirectord-style drop-file directory, or ``None``.
    """

    def __init__(self, store: KeyValueStore | None, namespace: str, directory: Path | None) -> None:
        self.store = store
        self.namespace = namespace
        self.directory = directory
        self.switched: set[str] = set()
        self.files: frozenset[str] = frozenset()

    def load(self) -> None:
        """Read the switches kept by an earlier run."""
        if self.store is not None:
            self.switched = {key for key, on in self.store.items(self.namespace).items() if on}

    def switch(self, name: str, on: bool) -> None:
        """Turn the switch of ``name`` on or off and keep it."""
        if on:
            self.switched.add(name)
            if self.store is not None:
                self.store.set(self.namespace, name, True)
        else:
            self.switched.discard(name)
            if self.store is not None:
                self.store.delete(self.namespace, name)

    def scan(self) -> frozenset[str]:
        """List the drop-file directory (blocking: call it from a thread). A missing directory is empty."""
        if self.directory is None:
            return frozenset()
        try:
            return frozenset(entry for entry in os.listdir(self.directory) if not entry.startswith("."))
        except FileNotFoundError:
            return frozenset()
        except OSError as exc:
            # Keep the last known files: an unreadable directory must not pull every target out of maintenance.
            log.warning("cannot read maintenancedir %s: %s", self.directory, exc.strerror)
            return self.files

    def reason(self, name: str, host: str, port: int | None) -> str | None:
        """``"switch"``, ``"file"`` or ``None`` when the target is in service."""
        if name in self.switched:
            return "switch"
        files = self.files
        if files and (name in files or host in files or (port is not None and f"{host}:{port}" in files)):
            return "file"
        return None
