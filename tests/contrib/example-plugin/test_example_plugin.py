"""The example plugin, tested the way its README tells plugin authors to."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from faultmgr_example.load import LoadDetector
from faultmgr_example.textfile import TextFileNotifier

from faultmgr.alert import AlertView, Notification
from faultmgr.event import Event
from faultmgr.runtime import Runtime
from faultmgr.testing import Harness

RULES = """
detectors: {load: {type: example.load, threshold: 2}}
receivers: {pager-log: {type: example.textfile, path: /tmp/never-written.txt}}
rules: {loaded: {match: {kind: load.high, source: load}, for: 5m, notify: [pager-log]}}
"""


def test_loaded_for_five_minutes_pages(faultmgr_harness: Callable[[str], Harness]) -> None:
    h = faultmgr_harness(RULES)
    h.feed("load.high", "node1", "warning", source="load")
    h.advance(299)
    assert h.notifications == []
    h.advance(2)
    assert [n.receiver for n in h.notifications] == ["pager-log"]


def test_detector_reads_the_load_and_emits_on_crossing(tmp_path: Path) -> None:
    loadavg = tmp_path / "loadavg"
    events: list[Event] = []
    detector = LoadDetector("load", LoadDetector.Settings(threshold=2, loadavg_file=loadavg, node="n1"),
                            Runtime(emit=events.append))
    for value in ("0.5", "3.1", "3.5", "1.0"):
        loadavg.write_text(f"{value} 0.1 0.1 1/100 999\n")
        detector.check_once()
    assert [(e.kind, e.subject, str(e.severity)) for e in events] == [("load.high", "n1", "warning"),
                                                                      ("load.ok", "n1", "ok")]


async def test_textfile_notifier_appends(tmp_path: Path) -> None:
    out = tmp_path / "pages.txt"
    notifier = TextFileNotifier("pager-log", TextFileNotifier.Settings(path=out), Runtime(emit=lambda e: None))
    alert = AlertView(1, "fp", "loaded", "n1", "warning", "firing")
    await notifier.send(Notification(1, "k", "pager-log", "alert", "firing", "[FIRING] loaded", [alert]))
    assert out.read_text().splitlines()[1:] == ["  firing loaded n1"]
