"""Runs one heartbeat or eHB detector from a JSON file and prints its events as JSON lines.

Used by test_netns.py to run a node inside a network namespace (``ip netns exec NS python hbnode.py FILE``).
The file holds ``{"type": "heartbeat"|"ehb", "name": ..., "settings": {...}}``. SIGTERM stops it cleanly.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

from faultmgr_heartbeat import EhbDetector, HeartbeatDetector

from faultmgr.event import Event
from faultmgr.runtime import Runtime
from faultmgr.store import KeyValueStore


def emit(event: Event) -> None:
    print(json.dumps({"kind": event.kind, "subject": event.subject, "labels": event.labels}), flush=True)


async def main(spec_file: str) -> None:
    spec = json.loads(Path(spec_file).read_text())
    cls = EhbDetector if spec.get("type") == "ehb" else HeartbeatDetector
    detector = cls(spec["name"], cls.Settings(**spec["settings"]),
                   Runtime(emit=emit, state_dir=Path(spec_file).parent, store=KeyValueStore.memory()))
    await detector.start()
    print(json.dumps({"kind": "started"}), flush=True)
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    await stopping.wait()
    await detector.stop()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
