"""contrib/prometheus: the example alerting rules and the Grafana dashboard use metrics the daemon really
exports, and every expression is valid PromQL (checked with promtool)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml
from prereq import need_program

Daemon = Any
CONTRIB = Path(__file__).resolve().parents[3] / "contrib" / "prometheus"
RULES = CONTRIB / "faultmgr-alerts.yml"
DASHBOARD = CONTRIB / "grafana-faultmgr.json"
METRIC = re.compile(r"\bfaultmgr_[a-z_]+\b")
GRAFANA_VARS = {"$__rate_interval": "5m", "$__range": "1h", "$instance": ".*", "${datasource}": "x"}


def dashboard_exprs() -> list[str]:
    data = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in data["panels"] for t in p.get("targets", [])]
    exprs += [a["expr"] for a in data["annotations"]["list"]]
    for old, new in GRAFANA_VARS.items():
        exprs = [e.replace(old, new) for e in exprs]
    return exprs


def rule_exprs() -> list[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [r["expr"] for g in groups for r in g["rules"]]


def test_rules_pass_promtool_check_and_unit_tests() -> None:
    promtool = need_program("promtool", "prometheus")
    checked = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run([promtool, "test", "rules", "faultmgr-alerts.test.yml"], cwd=CONTRIB,
                            capture_output=True, text=True, timeout=60)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_dashboard_expressions_are_valid_promql(tmp_path: Path) -> None:
    promtool = need_program("promtool", "prometheus")
    exprs = dashboard_exprs()
    assert len(exprs) >= 20
    rules = {"groups": [{"name": "dashboard", "rules": [{"record": f"dashboard:expr{i}", "expr": e}
                                                          for i, e in enumerate(exprs)]}]}
    path = tmp_path / "dashboard-exprs.yml"
    path.write_text(yaml.safe_dump(rules))
    checked = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_metric_named_is_exported(daemon: Daemon) -> None:
    # make sure the labelled families have at least one series
    daemon.post("/api/v1/events", {"kind": "probe.failed", "source": "ext", "subject": "contrib-probe",
                                   "severity": "warning", "payload": {"latency_ms": 5, "check": "tcp"}})
    text = daemon.get("/metrics", token=None).text
    exported = set(re.findall(r"^# (?:HELP|TYPE) (faultmgr_[a-z_]+)", text, re.M))
    exported |= {n + suffix for n in exported for suffix in ("_total", "_bucket", "_count", "_sum")}
    named = {m for e in rule_exprs() + dashboard_exprs() for m in METRIC.findall(e)}
    assert named, "no metric names found"
    assert named <= exported, f"not exported: {sorted(named - exported)}"
