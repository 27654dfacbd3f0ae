"""The pagerduty notifier is found through the ``faultmgr`` entry point and registered under its type name."""

from __future__ import annotations

from faultmgr_pagerduty import PagerDutyNotifier

from faultmgr.plugin.manager import load_plugins


def test_registered_through_the_entry_point() -> None:
    plugins = load_plugins()
    registered = plugins.notifiers.get("pagerduty")
    assert registered is not None and registered.cls is PagerDutyNotifier
    info = plugins.info("pagerduty")
    assert info is not None and info.distribution == "faultmgr-pagerduty"
    assert PagerDutyNotifier.Settings.model_json_schema()["properties"]
