"""What the control socket can be asked: status, reload, alerts, acknowledgements, silences, injected events.

Every request that changes something is journalled with the peer's user name (see :mod:`faultmgr.control`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from faultmgr.builtins.external import admit
from faultmgr.config.types import parse_duration

#: How many resolved alerts `alerts` with ``resolved`` returns at most (the newest).
RESOLVED_SHOWN = 100

if TYPE_CHECKING:
    from faultmgr.daemon import Daemon


class ControlCommands:
    """Dispatches control requests to the daemon."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.extra: dict[str, Any] = {}
        daemon.plugins.hook.faultmgr_control_commands(commands=self.extra)

    async def handle(self, who: str, request: dict[str, Any]) -> dict[str, Any]:
        cmd = request["cmd"]
        method = getattr(self, "cmd_" + cmd.replace(".", "_").replace("-", "_"), None)
        if method is not None:
            result: dict[str, Any] = await method(who, request)
            return result
        handler = self.extra.get(cmd)
        if handler is None:
            return {"ok": False, "error": f"unknown command {cmd!r}"}
        answer: dict[str, Any] = await handler(self.daemon, who, request)
        return answer

    async def cmd_status(self, who: str, req: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "status": self.daemon.status()}

    async def cmd_reload(self, who: str, req: dict[str, Any]) -> dict[str, Any]:
        return await self.daemon.reload(who)

    async def cmd_alerts(self, who: str, req: dict[str, Any]) -> dict[str, Any]:
        engine = self.daemon.engine
        alerts = [engine.describe(a) for a in engine.alert_views()]
        if req.get("resolved"):  # the newest resolved ones, from the journal
            fields = set(alerts[0]) if alerts else None
            for record in self.daemon.journal.alerts(("resolved",))[-RESOLVED_SHOWN:]:
                record.setdefault("ends_at", None)
                record["muted"] = None
                alerts.append({k: v for k, v in record.items() if fields is None or k in fields})
        return {"ok": True, "alerts": alerts}

    async def cmd_ack(self, who: str, req: dict[str, Any]) -> dict[str, Any]:
        view = self.daemon.engine.acknowledge(int(req["id"]), who, str(req.get("comment", "")))
        return {"ok": True, "alert": view.to_dict()}

    async def cmd_unack(self, who: str, req: dict[str, Any]) -> dict[str, Any]:
        view = self.daemon.engine.unacknowledge(int(req["id"]), who)
        return {"ok": True, "alert": view.to_dict()}

    async def cmd_silence_add(self, who: str, req: dict[str, Any]) -> dict[str, Any]:
        matchers = req.get("matchers")
        if not isinstance(matchers, list) or not all(isinstance(m, str) for m in matchers):
            raise ValueError("matchers must be a list of strings such as 'subject=web1'")
        duration = parse_duration(req.get("duration", "1h"))
        silence = self.daemon.engine.silence(matchers, duration, who, str(req.get("comment", "")))
        return {"ok": True, "silence": silence.to_dict()}

    async def cmd_silence_list(self, who: str, req: dict[str, Any]) -> dict[str, Any]:
        now = self.daemon.clock.now()
        items = self.daemon.engine.silences.listing(now, bool(req.get("all", False)))
        return {"ok": True, "silences": [s.to_dict() for s in items]}

    async def cmd_silence_expire(self, who: str, req: dict[str, Any]) -> dict[str, Any]:
        silence = self.daemon.engine.expire_silence(int(req["id"]), who)
        return {"ok": True, "silence": silence.to_dict()}

    async def cmd_inject(self, who: str, req: dict[str, Any]) -> dict[str, Any]:
        """Inject an event as if an ``external`` detector had seen it."""
        now = self.daemon.clock.now()
        event = admit(self.daemon.config.detectors, req.get("event"), now, who)
        self.daemon.journal.record_control(who, "inject", f"{event.source}/{event.kind}", event.subject, now)
        self.daemon.emit(event)
        return {"ok": True}
