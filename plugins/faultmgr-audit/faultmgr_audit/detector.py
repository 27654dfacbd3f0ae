"""The ``audit`` detector: follows security logs, parses them and emits security events.

One task polls every source every ``poll_interval``: the follower hands complete lines to the source's
parser, records go through the match rules and the stateful detections, and findings become events.
Nothing a line holds can stop the loop: a source whose poll raises is reported and polled again next time.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from faultmgr.component import Detector
from faultmgr.config.settings import PluginSettings
from faultmgr.config.types import Duration
from faultmgr.tasks import stop_task
from faultmgr_audit.detections import (
    BruteForceSettings,
    DeniedSettings,
    Detections,
    RootLoginSettings,
    WatchSettings,
)
from faultmgr_audit.follower import LogFollower, Notice
from faultmgr_audit.matching import MatchRule, RuleSet
from faultmgr_audit.parser import Parser, build_registry
from faultmgr_audit.pipeline import AuditPipeline
from faultmgr_audit.record import Finding

if TYPE_CHECKING:
    from faultmgr.runtime import Runtime
    from faultmgr_audit.parser import ParserRegistry

# Follower notices -> (event kind, severity).
_NOTICE_EVENTS = {
    "truncated": ("audit.log.truncated", "warning"),
    "rotated": ("audit.log.rotated", "info"),
    "symlink": ("audit.log.symlink", "warning"),
    "missing": ("audit.log.missing", "warning"),
    "not_regular": ("audit.log.unreadable", "warning"),
    "error": ("audit.log.unreadable", "warning"),
    "stalled": ("audit.log.stalled", "warning"),
    "resumed": ("audit.log.stalled", "ok"),
}


class SourceSettings(PluginSettings):
    """One followed log file."""

    path: Path = Field(description="the log file")
    parser: str = Field(description="parser type: linux-audit, syslog-auth, dsi, or one a plugin registers")
    parser_options: dict[str, Any] = Field({}, description="options of the parser type")
    stall_after: Duration | None = Field(None, description="emit audit.log.stalled when the file has not "
                                                          "grown for this long (unset: never)")
    follow_symlinks: bool = Field(False, description="follow the path when it is a symbolic link (off: a "
                                                     "symlink is refused and reported)")
    start_at: Literal["end", "start"] = Field("end", description="where to start in a file never read before")


class AuditSettings(PluginSettings):
    """Settings of an ``audit`` detector."""

    sources: list[SourceSettings] = Field([], description="log files to follow")
    poll_interval: Duration = Field(0.25, description="how often the files are checked for new lines")
    max_line_bytes: int = Field(65536, ge=256, description="longer lines keep this many bytes from their start "
                                "and their last min(1024, max_line_bytes/4) bytes, joined by ' [...] '")
    read_budget: int = Field(256 << 10, ge=4096, description="bytes read from one file per poll at most; a "
                             "source that is behind is polled again at once, after other tasks ran")
    match: list[MatchRule] = Field([], description="field-matching rules (events audit.match by default)")
    regex_timeout: Duration = Field(0.05, description="time limit of one regex run; a run that hits it "
                                                      "counts as no match")
    max_match_chars: int = Field(4096, ge=1, description="regexes see at most this many characters of a field")
    bruteforce: BruteForceSettings = Field(BruteForceSettings.model_validate({}), description="brute-force detection")
    root_login: RootLoginSettings = Field(RootLoginSettings.model_validate({}), description="root login detection")
    watch: WatchSettings = Field(WatchSettings.model_validate({}), description="watched-file detection")
    denied: DeniedSettings = Field(DeniedSettings.model_validate({}), description="denied-access detection")


class AuditDetector(Detector):
    """Follows audit trails (Linux audit, syslog authentication, DSI) and raises security events."""

    Settings = AuditSettings
    summary = "security audit trails: Linux audit, sshd/sudo, DSI records; brute force, root logins, watches"
    settings: AuditSettings
    events = {
        "audit.match": "a match rule matched a record (labels: rule, parser, type, user, source_ip, key)",
        "audit.bruteforce": "too many failed logins from one source (subject: the source IP); ok when quiet",
        "audit.root_login": "a root login from outside the allowed networks (subject: the source IP)",
        "audit.watch": "a watched file was touched (audit key=; subject: the file)",
        "audit.denied": "a privileged process was denied access (subject: the process)",
        "audit.log.truncated": "a followed log shrank or was rewritten (subject: the path)",
        "audit.log.rotated": "a followed log was rotated (subject: the path)",
        "audit.log.stalled": "a followed log stopped growing for stall_after; ok when it grows again",
        "audit.log.symlink": "a followed path is a symbolic link and was not followed",
        "audit.log.missing": "a followed path does not exist",
        "audit.log.unreadable": "a followed path is not a regular file or cannot be read",
        "audit.line.cut": "lines longer than max_line_bytes were cut",
        "audit.rule.timeout": "a match rule's regex hit its time limit (counted as no match)",
    }

    def __init__(self, name: str, settings: PluginSettings, runtime: Runtime) -> None:
        super().__init__(name, settings, runtime)
        self._task: asyncio.Task[None] | None = None
        self._sources: list[tuple[LogFollower, Parser]] = []
        self.pipeline = AuditPipeline(
            RuleSet(self.settings.match, max_chars=self.settings.max_match_chars,
                    timeout=self.settings.regex_timeout),
            Detections(self.settings.bruteforce, self.settings.root_login, self.settings.watch,
                       self.settings.denied))
        self._reported_cut = 0
        self._reported_timeouts = 0

    def check(self) -> list[str]:
        problems = [] if self.settings.sources else ["no sources: nothing to follow"]
        registry = self._registry()
        for source in self.settings.sources:
            try:
                registry.create(source.parser, source.parser_options)
            except ValueError as exc:
                problems.append(f"source {source.path}: {exc}")
        return problems

    @staticmethod
    def _registry() -> ParserRegistry:
        from faultmgr_audit.plugin import loading_pluginmanager

        return build_registry(loading_pluginmanager())

    def build_sources(self) -> None:
        """Open followers and parsers for every source (``start`` does this; tests may call it alone)."""
        registry = self._registry()
        monotonic = self.runtime.clock.monotonic
        self._sources = [
            (LogFollower(s.path, store=self.runtime.store, store_key=(f"audit:{self.name}", str(s.path)),
                         max_line_bytes=self.settings.max_line_bytes, follow_symlinks=s.follow_symlinks,
                         start_at=s.start_at, read_budget=self.settings.read_budget,
                         stall_after=s.stall_after, clock=monotonic),
             registry.create(s.parser, s.parser_options))
            for s in self.settings.sources
        ]

    async def start(self) -> None:
        self.build_sources()
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"audit:{self.name}")

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None
        self.drain()
        for follower, _ in self._sources:
            follower.close()

    @property
    def sources(self) -> list[tuple[LogFollower, Parser]]:
        """Each source's follower and parser (built by :meth:`build_sources`)."""
        return list(self._sources)

    def drain(self) -> None:
        """Emit what the parsers still hold (an audit event without its EOE record yet)."""
        now = self.runtime.clock.monotonic()
        for follower, parser in self._sources:
            self._emit_all(self.pipeline.flush(parser, now, force=True), str(follower.path))

    async def _run(self) -> None:
        while True:
            behind = self.poll()
            # A backlog is read in read_budget slices with the event loop free in between, so other
            # detectors' timers (heartbeats) are not held up by a catch-up after a restart.
            await asyncio.sleep(0 if behind else self.settings.poll_interval)

    def poll(self) -> bool:
        """Check every source once (the task calls this every ``poll_interval``); true when a source has
        more to read than one poll's budget."""
        now = self.runtime.clock.monotonic()
        for follower, parser in self._sources:
            try:
                lines, notices = follower.poll(save=False)
                for notice in notices:
                    self._notice(follower, notice)
                path = str(follower.path)
                self._emit_all(self.pipeline.process(parser, lines, now), path)
                self._emit_all(self.pipeline.flush(parser, now), path)
                follower.save()  # only now: a crash before this repeats these lines, never loses them
            except Exception:  # one source's failure (a bug, a disk error) must not stop the others
                self.log.exception("polling %s failed", follower.path)
        self._emit_all(self.pipeline.tick(now))
        self._report_counters()
        return any(follower.behind for follower, _ in self._sources)

    def _notice(self, follower: LogFollower, notice: Notice) -> None:
        kind, severity = _NOTICE_EVENTS[notice.what]
        self.emit(kind, str(follower.path), severity, labels={"path": str(follower.path)},
                  payload=notice.payload, message=notice.message)

    def _emit_all(self, findings: list[Finding], path: str | None = None) -> None:
        for f in findings:
            if path is not None:
                f.labels.setdefault("log", path)
            self.emit(f.kind, f.subject, f.severity, labels=f.labels, payload=f.payload, message=f.message)

    def _report_counters(self) -> None:
        cut = sum(follower.status()["cut_lines"] for follower, _ in self._sources)
        if cut > self._reported_cut:
            self.emit("audit.line.cut", self.name, "warning", payload={"lines": cut - self._reported_cut},
                      message=f"{cut - self._reported_cut} line(s) longer than {self.settings.max_line_bytes} "
                              "bytes were cut")
            self._reported_cut = cut
        timeouts = self.pipeline.rules.regex_timeouts
        if timeouts > self._reported_timeouts:
            self.emit("audit.rule.timeout", self.name, "warning",
                      payload={"runs": timeouts - self._reported_timeouts},
                      message="a match rule's regex hit its time limit; rewrite the pattern")
            self._reported_timeouts = timeouts

    def status(self) -> dict[str, Any]:
        return {"sources": [dict(f.status(), parser=p.name, unparsed=p.unparsed) for f, p in self._sources],
                "lines": self.pipeline.lines, "records": self.pipeline.records,
                "parser_errors": self.pipeline.parser_errors,
                "regex_timeouts": self.pipeline.rules.regex_timeouts, **self.pipeline.detections.status()}
