"""What several commands share: loading plugins and rule files with clean error reporting."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import click

from faultmgr.config.build import Config, disabled_in, load
from faultmgr.config.errors import ConfigError
from faultmgr.plugin.manager import Plugins, load_plugins

DEFAULT_CONFIG = "/etc/faultmgr/faultmgr.yaml"
CONFIG_ENV = "FAULTMGR_CONFIG"
EXIT_USER_ERROR = 2


class UserError(click.ClickException):
    """A mistake of the user's (bad rule file, unknown receiver, daemon not reachable): one line on stderr,
    exit code 2, no traceback."""

    exit_code = EXIT_USER_ERROR

    def show(self, file: object = None) -> None:
        click.echo(f"faultmgr: {self.format_message()}", err=True)


def config_paths(paths: Sequence[str]) -> list[str]:
    """The paths given, else ``$FAULTMGR_CONFIG``, else ``/etc/faultmgr/faultmgr.yaml``."""
    if paths:
        return list(paths)
    return [os.environ.get(CONFIG_ENV, DEFAULT_CONFIG)]


def plugins_for(paths: Sequence[str]) -> Plugins:
    """Plugins loaded with those disabled by the config and the environment."""
    return load_plugins(disabled=disabled_in(paths))


def report_plugin_failures(plugins: Plugins) -> None:
    for failure in plugins.failures:
        click.echo(f"faultmgr: warning: plugin {failure.name} from {failure.distribution} {failure.version} "
                   f"not loaded: {failure.error}", err=True)


def load_or_exit(paths: Sequence[str], plugins: Plugins | None = None) -> tuple[Config, Plugins]:
    """Load the config or print every problem (one line each) and exit 2."""
    plugins = plugins or plugins_for(paths)
    report_plugin_failures(plugins)
    try:
        return load(paths, plugins), plugins
    except ConfigError as exc:
        for issue in exc.issues:
            click.echo(str(issue), err=True)
        raise SystemExit(2) from None


def existing(path: str) -> Path:
    return Path(path)
