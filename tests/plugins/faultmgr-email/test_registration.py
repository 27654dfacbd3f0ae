"""The email notifier is found through the ``faultmgr`` entry point and registered under its type name."""

from __future__ import annotations

from faultmgr_email import EmailNotifier

from faultmgr.plugin.manager import load_plugins


def test_registered_through_the_entry_point() -> None:
    plugins = load_plugins()
    registered = plugins.notifiers.get("email")
    assert registered is not None and registered.cls is EmailNotifier
    info = plugins.info("email")
    assert info is not None and info.distribution == "faultmgr-email"
    assert EmailNotifier.Settings.model_json_schema()["properties"]
