"""``faultmgr check``: validate rule files without running anything."""

from __future__ import annotations

import click

from faultmgr.cli.common import config_paths, plugins_for, report_plugin_failures
from faultmgr.config.build import load
from faultmgr.config.errors import ConfigError
from faultmgr.runtime import Runtime


@click.command("check")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("-q", "--quiet", is_flag=True, help="print problems only")
def check_command(paths: tuple[str, ...], quiet: bool) -> None:
    """Validate rule files: syntax, types, unknown keys, references, durations, regexes.

    Prints every problem as `file:line:col: message`; exits 0 when clean, 1 with warnings only,
    2 with errors. Runs no detector and sends nothing.

    Example: faultmgr check /etc/faultmgr/ rules/
    """
    targets = config_paths(paths)
    plugins = plugins_for(targets)
    report_plugin_failures(plugins)
    try:
        cfg = load(targets, plugins)
    except ConfigError as exc:
        for issue in exc.issues:
            click.echo(str(issue), err=True)
        errors = len(exc.errors)
        click.echo(f"{errors} error(s), {len(exc.issues) - errors} warning(s)", err=True)
        raise SystemExit(2) from None
    problems: list[str] = []
    for kind, section, table in (("detector", "detectors", cfg.detectors), ("action", "actions", cfg.actions),
                                 ("receiver", "receivers", cfg.receivers)):
        for inst in table.values():
            component = inst.cls(inst.name, inst.settings, _check_runtime())
            # Named where the instance is written (an included shipped file is not where a key file is set).
            file, line, col = cfg.positions.of((section, inst.name))
            where = f"{file}:{line}:{col}" if line else (file or cfg.files[0])
            problems += [f"{where}: {kind} {inst.name!r} ({inst.type}): {p}" for p in component.check()]
    for issue in cfg.warnings:
        click.echo(str(issue), err=True)
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        click.echo(f"{len(problems)} error(s)", err=True)
        raise SystemExit(2)
    if not quiet:
        click.echo(f"ok: {len(cfg.files)} file(s), {len(cfg.rules)} rule(s), {len(cfg.detectors)} detector(s), "
                   f"{len(cfg.actions)} action(s), {len(cfg.receivers)} receiver(s)")
    raise SystemExit(1 if cfg.warnings else 0)


def _check_runtime() -> Runtime:
    return Runtime(emit=lambda _event: None, dry_run=True)


COMMANDS = [check_command]
