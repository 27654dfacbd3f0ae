"""``faultmgr notify-test``: send a test notification through a receiver's real notifier."""

from __future__ import annotations

import asyncio
import time

import click

from faultmgr.alert import AlertView, Notification
from faultmgr.cli.common import UserError, config_paths, load_or_exit
from faultmgr.component import DeliveryError
from faultmgr.runtime import Runtime


@click.command("notify-test")
@click.option("-c", "--config", "config", multiple=True, type=click.Path(), help="rule file or directory")
@click.argument("receiver")
@click.option("--message", default="faultmgr test notification: if you read this, this receiver works",
              show_default=True, help="text of the test alert")
def notify_test_command(config: tuple[str, ...], receiver: str, message: str) -> None:
    """Send a test notification to RECEIVER through its real notifier and report the outcome (exit 0 when
    it was accepted, 1 when the channel refused it).

    Example: faultmgr notify-test -c /etc/faultmgr/ oncall-sms
    """
    cfg, _ = load_or_exit(config_paths(config))
    inst = cfg.receivers.get(receiver)
    if inst is None:
        raise UserError(f"no receiver {receiver!r} (defined: {', '.join(sorted(cfg.receivers))})")
    notifier = inst.cls(receiver, inst.settings, Runtime(emit=lambda _e: None))
    problems = notifier.check()
    if problems:
        raise UserError(f"receiver {receiver!r}: {'; '.join(problems)}")
    now = time.time()
    alert = AlertView(0, "test", "notify-test", "faultmgr", "info", "firing", {"rule": "notify-test"},
                      {"summary": message}, now, None, now)
    note = Notification(0, f"notify-test:{receiver}:{int(now)}", receiver, "test", "firing",
                        f"[TEST] {message}", [alert], {}, now, message)

    async def send() -> str:
        await notifier.start()
        try:
            receipt: str = await notifier.send(note)  # type: ignore[attr-defined]
            return receipt
        finally:
            await notifier.stop()

    try:
        receipt = asyncio.run(send())
    except DeliveryError as exc:
        kind = "permanent" if exc.permanent else "transient"
        click.echo(f"FAILED ({kind}): {exc}", err=True)
        raise SystemExit(1) from None
    click.echo(f"sent: {receipt}")


COMMANDS = [notify_test_command]
