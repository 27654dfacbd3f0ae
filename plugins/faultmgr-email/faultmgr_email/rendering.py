"""Subject and body of a page, rendered from Jinja2 templates in a sandbox.

Templates come from the rule file (operators write them), so they run in Jinja2's
:class:`~jinja2.sandbox.SandboxedEnvironment`: a template can read the notification's fields but cannot reach
Python internals. Undefined names are errors (``StrictUndefined``), so ``faultmgr check`` catches a typo by
rendering a sample notification instead of a page going out with a blank where the subject was.
"""

from __future__ import annotations

import re
import time
from importlib import resources
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from faultmgr.alert import AlertView, Notification

_WHITESPACE = re.compile(r"\s+")
TRUNCATION_MARK = "..."


def _timestamp(value: float | None) -> str:
    """Seconds since the epoch -> ``2026-11-25 07:30:06 UTC`` (the empty string for none)."""
    if not value:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(value))


def _labels(value: dict[str, str]) -> str:
    """``{"node": "n1", "svc": "www"}`` -> ``node=n1, svc=www`` (sorted, for stable text)."""
    return ", ".join(f"{key}={value[key]}" for key in sorted(value))


def build_environment() -> SandboxedEnvironment:
    """The sandbox every template of this plugin is compiled in."""
    env = SandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["timestamp"] = _timestamp
    env.filters["labels"] = _labels
    return env


def default_template(name: str) -> str:
    """The source of a template shipped with the plugin (``subject.j2`` or ``body.j2``)."""
    return resources.files("faultmgr_email").joinpath("templates", name).read_text(encoding="utf-8")


def check_syntax(source: str) -> str:
    """Raise ``ValueError`` (one line, with the template line number) if ``source`` does not compile."""
    try:
        build_environment().parse(source)
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        where = f" (template line {line})" if line else ""
        raise ValueError(f"template does not compile{where}: {exc}") from None
    return source


def single_line(text: str, limit: int) -> str:
    """Collapse all whitespace (CR and LF included, so nothing can start a new header) and cut to ``limit``."""
    line = _WHITESPACE.sub(" ", text).strip()
    if len(line) > limit:
        line = line[: max(0, limit - len(TRUNCATION_MARK))].rstrip() + TRUNCATION_MARK
    return line


def template_context(notification: Notification) -> dict[str, Any]:
    """What templates see: the notification's fields plus a few summaries of its alert group."""
    alerts = notification.alerts
    starts = [a.starts_at for a in alerts if a.starts_at]
    return {
        "notification": notification,
        "title": notification.title,
        "status": notification.status,
        "kind": notification.kind,
        "receiver": notification.receiver,
        "text": notification.text,
        "group_labels": notification.group_labels,
        "alerts": alerts,
        "firing": notification.firing,
        "resolved": notification.resolved,
        "since": min(starts) if starts else None,
        "events": sum(a.count for a in alerts),
        "subjects": sorted({a.subject for a in alerts}),
    }


class MessageTemplates:
    """A compiled subject template and body template."""

    def __init__(self, subject: str, body: str, subject_limit: int) -> None:
        env = build_environment()
        self._subject = env.from_string(subject)
        self._body = env.from_string(body)
        self.subject_limit = subject_limit

    def render(self, notification: Notification) -> tuple[str, str]:
        """Return ``(subject, body)``; the subject is one line of at most ``subject_limit`` characters.

        Raises :class:`jinja2.TemplateError` (an undefined name, a sandbox violation).
        """
        context = template_context(notification)
        subject = single_line(self._subject.render(context), self.subject_limit)
        return subject, self._body.render(context)


def sample_notification() -> Notification:
    """A plausible notification to render the templates against at ``faultmgr check``."""
    now = time.time()
    alert = AlertView(
        id=1, fingerprint="0123456789abcdef", rule="sample-rule", subject="node1", severity="critical",
        state="firing", labels={"node": "node1"},
        annotations={"summary": "sample alert", "runbook": "https://example.invalid/runbook"},
        starts_at=now - 60, updated_at=now, count=3,
    )
    return Notification(
        id=1, dedup_key="sample", receiver="sample", kind="test", status="firing",
        title="sample-rule on node1", alerts=[alert], group_labels={"rule": "sample-rule"}, created_at=now,
    )
