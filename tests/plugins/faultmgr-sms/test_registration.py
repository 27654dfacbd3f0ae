"""The sms notifier is found through the ``faultmgr`` entry point and registered under its type name."""

from __future__ import annotations

from faultmgr_sms import SmsNotifier

from faultmgr.plugin.manager import load_plugins


def test_registered_through_the_entry_point() -> None:
    plugins = load_plugins()
    registered = plugins.notifiers.get("sms")
    assert registered is not None and registered.cls is SmsNotifier
    info = plugins.info("sms")
    assert info is not None and info.distribution == "faultmgr-sms"
    assert SmsNotifier.Settings.model_json_schema()["properties"]
