"""The demo's report: a readable timeline per stage and a summary table, or the same as one JSON object."""

from __future__ import annotations

import json
from typing import Any

from faultmgr_demo.story import Stage

TYPE_WIDTH = 9


def as_json(mode: dict[str, Any], stages: list[Stage]) -> str:
    """One JSON object: how the demo ran and every stage's record."""
    return json.dumps({**mode, "stages": [stage.record for stage in stages]}, indent=2, default=str)


def _first(items: list[dict[str, Any]], key: str = "after_ms") -> int | None:
    values = [item[key] for item in items if item.get(key) is not None]
    return min(values) if values else None


def _client_line(client: dict[str, Any]) -> str:
    if not client["failed"]:
        return f"client: all {client['requests']} requests answered; no interruption"
    if client["still_down"]:
        return (f"client: {client['failed']} of {client['requests']} requests failed; service DOWN for "
                f"{client['interrupted_ms']} ms so far (no head left to serve it)")
    return (f"client: {client['failed']} of {client['requests']} requests failed; service interrupted for "
            f"{client['interrupted_ms']} ms")


def render(mode: dict[str, Any], stages: list[Stage]) -> str:
    """The timeline for people."""
    dry = " [dry run]" if mode["dry_run"] else ""
    header = f"faultmgr demo: {mode['where']}"
    if dry:
        header += " — DRY RUN: VIP and pool actions only say what they would do"
    if not mode.get("pool", True):
        header += " — without the load-balancer pool (no HAProxy)"
    lines = [header, ""]
    for number, stage in enumerate(stages, 1):
        record = stage.record
        lines.append(f"{number}. {record['title']}")
        for entry in record["timeline"]:
            text = entry["text"]
            if entry["type"] == "action" and dry:
                text += dry
            node = f"{entry['node']:8}" if entry["node"] else " " * 8
            lines.append(f"   {'+' + format(entry['at_ms'], ',') + ' ms':>11}  {entry['type']:{TYPE_WIDTH}} {node} {text}")
        lines.append(f"   {_client_line(record['client'])}")
        for missing in record["missing"]:
            lines.append(f"   MISSING: {missing}")
        lines.append("")
    lines.append(f"{'stage':40} {'detected':>10} {'action':>10} {'notified':>12} {'client interrupted':>20}")
    for stage in stages:
        record = stage.record
        detected, acted = _first(record["detected"]), _first(record["actions"])
        notified = _first(record["notified"])
        mails = sum(1 for n in record["notified"] if n["via"] == "mail")
        traps = sum(1 for n in record["notified"] if n["via"] == "trap")
        client = record["client"]
        outage = f"{client['interrupted_ms']:,} ms" + (" (down)" if client["still_down"] else "")
        lines.append(f"{record['title'][:40]:40} {_ms(detected):>10} {_ms(acted):>10} "
                     f"{_ms(notified):>12} {outage:>20}   ({mails} mail(s), {traps} trap(s))")
    return "\n".join(lines)


def _ms(value: int | None) -> str:
    return "-" if value is None else f"+{value:,} ms"
