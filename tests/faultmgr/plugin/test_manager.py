"""Plugin discovery and loading: real distributions (dist-info folders on sys.path), real entry points."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from faultmgr.plugin.manager import load_plugins


def make_distribution(root: Path, dist: str, module: str, code: str, ep_name: str | None = None) -> None:
    """A minimal installed distribution: a module and a dist-info with a ``faultmgr`` entry point."""
    (root / f"{module}.py").write_text(textwrap.dedent(code))
    info = root / f"{dist.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[faultmgr]\n{ep_name or module} = {module}\n")


GOOD = """
    from faultmgr import Notifier, hookimpl

    class Pager(Notifier):
        summary = "test pager"
        async def send(self, notification):
            return "ok"

    @hookimpl
    def faultmgr_register_notifiers(registry):
        registry.register("pager", Pager)
"""


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_third_party_distribution_is_discovered(site: Path) -> None:
    make_distribution(site, "faultmgr-pager", "fm_pager", GOOD)
    plugins = load_plugins()
    info = plugins.info("fm_pager")
    assert info is not None and info.distribution == "faultmgr-pager" and info.version == "1.2.3"
    assert info.registered["notifiers"] == ["pager"]
    assert plugins.notifiers.get("pager") is not None


def test_import_failure_is_reported_and_others_keep_working(site: Path) -> None:
    make_distribution(site, "faultmgr-broken", "fm_broken", "import no_such_module_anywhere\n")
    make_distribution(site, "faultmgr-pager", "fm_pager", GOOD)
    plugins = load_plugins()
    failure = plugins.failure("fm_broken")
    assert failure is not None and failure.distribution == "faultmgr-broken"
    assert "ModuleNotFoundError" in failure.error and "no_such_module_anywhere" in failure.error
    assert plugins.notifiers.get("pager") is not None
    assert plugins.notifiers.get("log") is not None  # the built-ins too


def test_misspelled_hook_drops_only_that_plugin(site: Path) -> None:
    make_distribution(site, "faultmgr-typo", "fm_typo", """
        from faultmgr import hookimpl

        @hookimpl
        def faultmgr_register_notifier(registry):
            pass
    """)
    make_distribution(site, "faultmgr-pager", "fm_pager", GOOD)
    plugins = load_plugins()
    failure = plugins.failure("fm_typo")
    assert failure is not None and "unknown hook 'faultmgr_register_notifier'" in failure.error
    assert plugins.notifiers.get("pager") is not None


def test_failing_registration_and_async_hooks_are_contained(site: Path) -> None:
    make_distribution(site, "faultmgr-raises", "fm_raises", """
        from faultmgr import hookimpl

        @hookimpl
        def faultmgr_register_detectors(registry):
            raise RuntimeError("boom")
    """)
    make_distribution(site, "faultmgr-async", "fm_async", """
        from faultmgr import hookimpl

        @hookimpl
        async def faultmgr_register_actions(registry):
            pass
    """)
    make_distribution(site, "faultmgr-clash", "fm_clash", """
        from faultmgr import Notifier, hookimpl

        class Log(Notifier):
            async def send(self, n):
                return ""

        @hookimpl
        def faultmgr_register_notifiers(registry):
            registry.register("log", Log)
    """)
    plugins = load_plugins()
    assert "RuntimeError: boom" in plugins.failure("fm_raises").error  # type: ignore[union-attr]
    assert "returned a coroutine" in plugins.failure("fm_async").error  # type: ignore[union-attr]
    assert "registered by both 'log' and 'fm_clash'" in plugins.failure("fm_clash").error  # type: ignore[union-attr]
    assert plugins.notifiers.get("log").plugin == "log"  # type: ignore[union-attr]


def test_disable_by_environment_and_config(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_distribution(site, "faultmgr-pager", "fm_pager", GOOD)
    monkeypatch.setenv("FAULTMGR_DISABLE_PLUGINS", "fm_pager, webhook")
    plugins = load_plugins(disabled=["command"])
    assert plugins.notifiers.get("pager") is None and plugins.notifiers.get("webhook") is None
    assert plugins.actions.get("command") is None
    assert {"fm_pager", "webhook", "command"} <= set(plugins.disabled)


def test_order_is_deterministic_builtins_first(site: Path) -> None:
    make_distribution(site, "aaa-first-alphabetically", "fm_aaa", GOOD.replace('"pager"', '"aaa"'))
    names = [p.name for p in load_plugins().loaded]
    assert names == [p.name for p in load_plugins().loaded]
    assert names[:4] == ["command", "external", "log", "webhook"]


def test_trace_logs_hook_calls(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "faultmgr", "plugins"], capture_output=True, text=True,
                            env={"FAULTMGR_TRACE_PLUGINS": "1", "PATH": "/usr/bin:/bin"}, timeout=60)
    assert result.returncode == 0
    assert "faultmgr trace: faultmgr_register_detectors -> external" in result.stderr


def test_plugins_command_lists_failures(site: Path) -> None:
    make_distribution(site, "faultmgr-broken", "fm_broken", "raise ImportError('needs libfoo')\n")
    env_path = str(site)
    result = subprocess.run([sys.executable, "-m", "faultmgr", "plugins"], capture_output=True, text=True,
                            env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"}, timeout=60)
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("fm_broken"))
    assert "faultmgr-broken 1.2.3" in line and "failed: import failed: ImportError: needs libfoo" in line
    assert any(line.startswith("log ") and "notifier" in line for line in result.stdout.splitlines())
