"""The engine: events in; rules evaluated; alerts opened, grouped, escalated and resolved; notifications and
actions handed to the effects sink. Synchronous and clock-driven, so the daemon, ``simulate`` and tests run
exactly the same logic (the daemon calls :meth:`Engine.tick` a few times a second)."""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from faultmgr.alert import FIRING, PENDING, RESOLVED, AlertView
from faultmgr.clock import Clock
from faultmgr.config.build import Config
from faultmgr.engine.alerts import Alert, AlertStore, render
from faultmgr.engine.effects import Effects
from faultmgr.engine.flapping import FlapDetector
from faultmgr.engine.journal import Journal
from faultmgr.engine.routing import Router
from faultmgr.engine.rules import CompiledRule, ConditionState, RuleState
from faultmgr.engine.silences import Silence, SilenceStore
from faultmgr.event import Event, Severity
from faultmgr.logs import fields

log = logging.getLogger("faultmgr.engine")


class Engine:
    """Rules, alerts and routing for one config."""

    def __init__(self, config: Config, journal: Journal, sink: Effects, clock: Clock, hook: Any = None) -> None:
        self.journal = journal
        self.sink = sink
        self.clock = clock
        self.hook = hook
        self.alerts = AlertStore(journal)
        self.silences = SilenceStore(journal)
        self.flaps = FlapDetector(config.daemon.flap_changes, config.daemon.flap_interval)
        self.router = Router(self.alerts, self.silences, self.flaps, sink)
        self.rules: dict[str, CompiledRule] = {}
        self.events_seen = 0
        self.evaluations = 0
        self._routes: list[tuple[Alert, list[str], float]] = []
        self.configure(config)
        self._restore()

    # -- configuration --------------------------------------------------------------------------------
    def configure(self, config: Config) -> list[str]:
        """Install ``config``'s rules and receivers; state of rules that keep their name survives."""
        self.config = config
        old = self.rules
        self.rules = {}
        for name, spec in config.rules.items():
            rule = CompiledRule(name, spec)
            previous = old.get(name)
            if previous is not None and len(previous.conditions) == len(rule.conditions):
                rule.states = previous.states
            self.rules[name] = rule
        self._index()
        self._candidates: dict[tuple[str, str], tuple[list[tuple[CompiledRule, int]],
                                                      list[tuple[CompiledRule, int]]]] = {}
        self._by_subject: dict[tuple[str, str, str], list[tuple[CompiledRule, int]]] = {}
        self.router.configure({n: i.settings for n, i in config.receivers.items()}, config.inhibit)
        self.flaps.threshold = config.daemon.flap_changes
        self.flaps.interval = config.daemon.flap_interval
        removed = [n for n in old if n not in self.rules]
        for alert in list(self.alerts.firing()):
            if alert.rule in removed:
                self._resolve_alert(alert, None, self.clock.now(), reason="rule removed")
        self._route_pending()
        return removed

    def _index(self) -> None:
        self.by_kind: dict[str, list[tuple[CompiledRule, int]]] = defaultdict(list)
        self.globbed: list[tuple[CompiledRule, int]] = []
        self.resolvers: list[CompiledRule] = []
        for rule in self.rules.values():
            if not rule.spec.enabled:
                continue
            for idx, matcher in enumerate(rule.conditions):
                if matcher.exact_kind is not None:
                    self.by_kind[matcher.exact_kind].append((rule, idx))
                else:
                    self.globbed.append((rule, idx))
            if rule.resolve is not None:
                self.resolvers.append(rule)
        self.active_by_subject: dict[str, set[str]] = defaultdict(set)
        for rule in self.rules.values():
            for state in rule.states.values():
                for (_, subject), cond in state.conditions.items():
                    if cond.active or cond.hits:
                        self.active_by_subject[subject].add(rule.name)

    def _restore(self) -> None:
        """After a restart: firing alerts hold their rules' conditions again (no re-fire, no re-run)."""
        for alert in self.alerts.firing():
            rule = self.rules.get(alert.rule)
            if rule is None:
                continue
            state = rule.states.setdefault(alert.key, RuleState())
            state.holding = True
            for idx, subject, source, kind in alert.conditions:
                state.conditions[(int(idx), subject)] = ConditionState(True, source=source, kind=kind,
                                                                       last_match=alert.updated_at)
                self.active_by_subject[subject].add(rule.name)
            for receiver in rule.spec.notify:
                if receiver in alert.notified or self.journal.paged_since(receiver, alert.fingerprint,
                                                                          alert.starts_at, "firing"):
                    self.router.adopt(alert, receiver, self.clock.now())
                else:  # fired, but the daemon stopped before its page was written: page now
                    self._routes.append((alert, [receiver], self.clock.now()))
        for alert in self.alerts.owed:  # resolved, but the resolution was not written yet: write it now
            for receiver in list(alert.notified):
                if self.journal.paged_since(receiver, alert.fingerprint, alert.ends_at or 0, "resolved"):
                    continue
                self.router.adopt(alert, receiver, self.clock.now())
                for group in self.router.groups.values():
                    if group.receiver == receiver and alert.fingerprint in group.alerts:
                        group.next_flush = self.clock.now()
        self.alerts.owed = []
        self._route_pending()

    # -- events ---------------------------------------------------------------------------------------
    def ingest(self, event: Event) -> None:
        """Journal ``event`` and evaluate it against every rule that can match it."""
        self.events_seen += 1
        self.journal.record_event(event)
        # One line per event is what operators asked for; the guard keeps its cost to one cached level check
        # when INFO is off (benchmarks, tests, simulate).
        if log.isEnabledFor(logging.INFO):
            log.info("event #%d %s %s (%s) from %s", event.id, event.kind, event.subject, event.severity,
                     event.source, extra=fields(event_id=event.id, kind=event.kind, source=event.source,
                                                subject=event.subject, severity=str(event.severity)))
        # A hook call through pluggy costs microseconds even with no implementation: a sixth of the
        # engine's time per event in bench/engine.py, so it is skipped when no plugin observes events.
        if self.hook is not None and self.hook.faultmgr_event.get_hookimpls():
            try:
                self.hook.faultmgr_event(event=event)
            except Exception:
                log.exception("a faultmgr_event hook failed")
        changed: list[tuple[CompiledRule, str]] = []
        recovery = event.is_recovery
        for rule, idx in self._candidates_for(event):
            self.evaluations += 1
            if recovery and not rule.accepts_ok[idx]:
                continue
            if not rule.conditions[idx].matches_rest(event):
                continue
            key, did_change = rule.activate(idx, event)
            self.active_by_subject[event.subject].add(rule.name)
            if did_change:
                changed.append((rule, key))
            else:
                self._repeat(rule, key, event)
        candidates = set(self.active_by_subject.get(event.subject, ())) if recovery else set()
        candidates.update(r.name for r in self.resolvers)
        for name in candidates:
            found = self.rules.get(name)
            if found is not None:
                changed.extend((found, key) for key in found.deactivate(event))
        for rule, key in changed:
            self._evaluate(rule, key, event)
        self._route_pending()

    def _route_pending(self) -> None:
        """Route alert changes after every rule has seen the event, so an inhibiting alert opened by the
        same event (both heads dead) is already firing when the inhibited one (head-a dead) is routed."""
        routes, self._routes = self._routes, []
        for alert, receivers, now in routes:
            self.router.route(alert, receivers, now)

    def _candidates_for(self, event: Event) -> list[tuple[CompiledRule, int]]:
        """Rule conditions whose kind, source and subject globs accept the event. Kind and source are few, so
        what they select is cached per pair, split into conditions for any subject and conditions with a
        subject glob still to test; labels, payload and severity are tested by the caller."""
        pair = (event.kind, event.source)
        cached = self._candidates.get(pair)
        if cached is None:
            exact = self.by_kind.get(event.kind, [])
            selected = [(rule, idx) for rule, idx in (exact + self.globbed)
                        if rule.conditions[idx].selects(event.kind, event.source, None)]
            cached = ([c for c in selected if c[0].conditions[c[1]].subject == "*"],
                      [c for c in selected if c[0].conditions[c[1]].subject != "*"])
            if len(self._candidates) >= 10_000:  # bounded, whatever sources and kinds appear
                self._candidates.clear()
            self._candidates[pair] = cached
        anyone, globbed = cached
        if not globbed:
            return anyone
        triple = (event.kind, event.source, event.subject)
        found = self._by_subject.get(triple)
        if found is None:
            found = anyone + [(r, i) for r, i in globbed if r.conditions[i].selects_subject(event.subject)]
            if len(self._by_subject) >= 100_000:
                self._by_subject.clear()
            self._by_subject[triple] = found
        return found

    def _repeat(self, rule: CompiledRule, key: str, event: Event) -> None:
        alert = self.alerts.get(rule.fingerprint(key))
        if alert is not None and alert.is_firing:
            alert.count += 1
            alert.updated_at = event.time
            alert.last_event = event.to_dict()

    def _evaluate(self, rule: CompiledRule, key: str, event: Event | None) -> None:
        state = rule.states.setdefault(key, RuleState())
        holds = rule.holds(key)
        now = event.time if event is not None else self.clock.now()
        if holds and not state.holding:
            state.holding = True
            if rule.for_ <= 0:
                self._fire(rule, key, event, now)
            else:
                state.pending_since = now
                alert = self._open(rule, key, event, now)
                alert.state = PENDING
                self.alerts.save(alert)
                self._changed(alert, "pending")
        elif not holds and state.holding:
            state.holding = False
            state.pending_since = None
            live = self.alerts.get(rule.fingerprint(key))
            if live is not None and live.is_firing:
                self._resolve_alert(live, event, now)
            elif live is not None:
                live.state = RESOLVED
                live.ends_at = now
                self.alerts.save(live)
        if not holds and not any(c.active or c.hits for c in state.conditions.values()):
            rule.states.pop(key, None)
            for _, subject in state.conditions:
                if not any(subject == s for st in rule.states.values() for _, s in st.conditions):
                    self.active_by_subject[subject].discard(rule.name)
                    if not self.active_by_subject[subject]:
                        del self.active_by_subject[subject]

    def _open(self, rule: CompiledRule, key: str, event: Event | None, now: float) -> Alert:
        subjects = rule.active_subjects(key)
        if rule.mode == "match" and rule.spec.per == "subject":
            subject = key
        else:
            subject = rule.spec.labels.get("subject") or ",".join(subjects) or rule.name
        severity = str(rule.severity or (event.severity if event is not None else Severity.CRITICAL))
        values: dict[str, Any] = {"subject": subject, "rule": rule.name, "severity": severity}
        labels = {"rule": rule.name, "subject": subject, "severity": severity}
        if event is not None:
            labels.update(event.labels)
            labels.update({"source": event.source, "kind": event.kind})
            values.update(source=event.source, kind=event.kind, message=event.message, labels=event.labels,
                          payload=event.payload)
        labels.update({k: render(v, values) for k, v in rule.spec.labels.items()})
        labels["rule"], labels["subject"], labels["severity"] = rule.name, subject, severity
        annotations = {k: render(v, values) for k, v in rule.spec.annotations.items()}
        alert = self.alerts.open(rule.fingerprint(key), rule.name, key, subject, severity, event, labels,
                                 annotations, now)
        state = rule.states.get(key)
        alert.conditions = [[str(idx), subj, c.source, c.kind] for (idx, subj), c in
                            (state.conditions.items() if state else []) if c.active]
        return alert

    def _fire(self, rule: CompiledRule, key: str, event: Event | None, now: float) -> None:
        alert = self._open(rule, key, event, now)
        if alert.is_firing:
            return
        alert.state = FIRING
        alert.firing += 1
        alert.starts_at, alert.ends_at, alert.count = now, None, 1
        alert.acknowledged_by = alert.acknowledged_comment = alert.acknowledged_at = None
        alert.escalated = []
        alert.notified = []
        self.alerts.save(alert)
        self._flap(alert, rule, now)
        self._changed(alert, "firing")
        self._routes.append((alert, list(rule.spec.notify), now))
        if rule.spec.actions:  # (a view costs a copy of the alert: most rules only page)
            self.sink.run_actions(alert.view(), rule.spec.actions, event, False)

    def _resolve_alert(self, alert: Alert, event: Event | None, now: float, reason: str = "") -> None:
        alert.state = RESOLVED
        alert.ends_at = alert.updated_at = now
        if reason:
            alert.annotations["resolved_by"] = reason
        self.alerts.save(alert)
        rule = self.rules.get(alert.rule)
        self._flap(alert, rule, now)
        self._changed(alert, "resolved")
        receivers = rule.spec.notify if rule else [g.receiver for g in self.router.groups.values()
                                                    if alert.fingerprint in g.alerts]
        self._routes.append((alert, list(receivers), now))
        if rule is not None and rule.spec.actions:
            self.sink.run_actions(alert.view(), rule.spec.actions, event, True)

    def _flap(self, alert: Alert, rule: CompiledRule | None, now: float) -> None:
        if rule is None or not rule.spec.flap_detection:
            return
        if self.flaps.record(alert.fingerprint, now):
            alert.flapping = True
            self._changed(alert, "flapping")
            for receiver in rule.spec.notify:
                self.router.send(receiver, "notice", [alert], now, limited=False,
                                 title=f"[FLAPPING] {alert.rule} on {alert.subject}",
                                 text=f"{alert.rule} on {alert.subject} changed state {self.flaps.threshold} "
                                      f"times within {self.flaps.interval:g}s; its notifications are held "
                                      f"until it settles.")

    def _changed(self, alert: Alert, change: str) -> None:
        if log.isEnabledFor(logging.INFO):
            log.info("alert #%d %s on %s: %s", alert.id, alert.rule, alert.subject, change,
                     extra=fields(alert_id=alert.id, rule=alert.rule, subject=alert.subject,
                                  fingerprint=alert.fingerprint, change=change, severity=alert.severity))
        view = alert.view()
        self.sink.alert_changed(view, change)
        if self.hook is not None and self.hook.faultmgr_alert_changed.get_hookimpls():
            try:
                self.hook.faultmgr_alert_changed(alert=view, change=change)
            except Exception:
                log.exception("a faultmgr_alert_changed hook failed")

    # -- time -----------------------------------------------------------------------------------------
    def tick(self) -> None:
        """Run timers: ``for:`` durations, ``resolve_after``, group flushes, flapping, escalations."""
        now = self.clock.now()
        for rule in self.rules.values():
            for key in rule.expire(now):
                self._evaluate(rule, key, None)
            if rule.for_ > 0:
                for key, state in list(rule.states.items()):
                    if state.holding and state.pending_since is not None and now - state.pending_since >= rule.for_:
                        state.pending_since = None
                        self._fire(rule, key, state.last_event, now)
        self._route_pending()
        for fp in self.flaps.stopped(now):
            self._flapping_stopped(fp, now)
        self.router.due(now)
        self._escalate(now)

    def _flapping_stopped(self, fp: str, now: float) -> None:
        record = self.alerts.by_fingerprint(fp)
        if record is None:
            return
        record.flapping = False
        rule = self.rules.get(record.rule)
        if rule is None:
            return
        state = "still firing" if record.is_firing else "resolved"
        for receiver in rule.spec.notify:
            self.router.send(receiver, "notice", [record], now, limited=False,
                             title=f"[FLAPPING STOPPED] {record.rule} on {record.subject}: {state}",
                             text=f"{record.rule} on {record.subject} settled; it is {state}.")
        if record.is_firing:
            self.router.route(record, rule.spec.notify, now)

    def _escalate(self, now: float) -> None:
        for alert in self.alerts.firing():
            rule = self.rules.get(alert.rule)
            if rule is None or not rule.spec.escalate or alert.acknowledged_by:
                continue
            if self.router.muted(alert, now):
                continue
            for idx, tier in enumerate(rule.spec.escalate):
                if idx in alert.escalated or now - alert.starts_at < tier.after:
                    continue
                alert.escalated.append(idx)
                self.alerts.save(alert)
                self._changed(alert, "escalated")
                for receiver in tier.notify:
                    self.router.send(receiver, "escalation", [alert], now,
                                     title=f"[ESCALATED] {alert.annotations.get('summary') or alert.rule} "
                                           f"(unacknowledged for {int((now - alert.starts_at) // 60)} min)")

    # -- operator actions -----------------------------------------------------------------------------
    def acknowledge(self, alert_id: int, who: str, comment: str = "") -> AlertView:
        alert = self._live(alert_id)
        alert.acknowledged_by, alert.acknowledged_comment = who, comment
        alert.acknowledged_at = self.clock.now()
        self.alerts.save(alert)
        now = self.clock.now()
        self.journal.record_control(who, "ack", f"alert #{alert_id}", comment, now)
        self._changed(alert, "acknowledged")
        rule = self.rules.get(alert.rule)
        for receiver in rule.spec.notify if rule else []:
            self.router.send(receiver, "acknowledgement", [alert], now, limited=False,
                             title=f"[ACK] {alert.annotations.get('summary') or alert.rule + ' on ' + alert.subject}"
                                   f" by {who}", text=f"acknowledged by {who}: {comment}" if comment else
                             f"acknowledged by {who}")
        return alert.view()

    def unacknowledge(self, alert_id: int, who: str) -> AlertView:
        alert = self._live(alert_id)
        alert.acknowledged_by = alert.acknowledged_comment = alert.acknowledged_at = None
        self.alerts.save(alert)
        self.journal.record_control(who, "unack", f"alert #{alert_id}", "", self.clock.now())
        self._changed(alert, "unacknowledged")
        return alert.view()

    def _live(self, alert_id: int) -> Alert:
        alert = next((a for a in self.alerts.by_fp.values() if a.id == alert_id), None)
        if alert is None:
            raise KeyError(f"no active alert #{alert_id}")
        return alert

    def silence(self, matchers: list[str], duration: float, who: str, comment: str,
                starts_at: float | None = None) -> Silence:
        now = self.clock.now()
        start = starts_at if starts_at is not None else now
        silence = self.silences.add(matchers, start, start + duration, who, comment, now)
        self.journal.record_control(who, "silence", ",".join(str(m) for m in silence.matchers), comment, now)
        return silence

    def expire_silence(self, silence_id: int, who: str) -> Silence:
        now = self.clock.now()
        silence = self.silences.expire(silence_id, now)
        self.journal.record_control(who, "expire-silence", f"silence #{silence_id}", "", now)
        for alert in self.alerts.firing():
            rule = self.rules.get(alert.rule)
            if rule is not None and silence.matches(alert.labels):
                self.router.route(alert, rule.spec.notify, now)
        return silence

    def alert_views(self) -> list[AlertView]:
        return [a.view() for a in sorted(self.alerts.by_fp.values(), key=lambda a: a.id)]

    def describe(self, alert: AlertView) -> dict[str, Any]:
        """An alert with why it is (not) being notified, for the CLI and API."""
        live = self.alerts.get(alert.fingerprint)
        return {**alert.to_dict(), "muted": self.router.muted(live, self.clock.now()) if live else None}
