"""The snmp notifier is found through the ``faultmgr`` entry point and registered under its type name."""

from __future__ import annotations

from faultmgr_snmp import SnmpNotifier

from faultmgr.plugin.manager import load_plugins


def test_registered_through_the_entry_point() -> None:
    plugins = load_plugins()
    registered = plugins.notifiers.get("snmp")
    assert registered is not None and registered.cls is SnmpNotifier
    info = plugins.info("snmp")
    assert info is not None and info.distribution == "faultmgr-snmp"
    assert SnmpNotifier.Settings.model_json_schema()["properties"]
