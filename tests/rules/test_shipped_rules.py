"""The shipped rule files pass `faultmgr check` and validate against `faultmgr schema`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = sorted((ROOT / "rules").glob("*.yaml"))


@pytest.fixture
def secrets(tmp_path: Path) -> dict[str, str]:
    """The secret files the shipped rules name, as an operator would create them (mode 0600)."""
    (tmp_path / "heartbeat.keys").write_text("1 " + os.urandom(24).hex() + "\n")
    (tmp_path / "twilio.credentials").write_text("TWILIO_ACCOUNT_SID=AC" + "0" * 32 + "\n"
                                                 "TWILIO_AUTH_TOKEN=" + "0" * 32 + "\n")
    for path in tmp_path.iterdir():
        path.chmod(0o600)
    return {**os.environ, "FAULTMGR_SECRETS": str(tmp_path)}


def test_check_passes_on_the_shipped_rules(secrets: dict[str, str]) -> None:
    result = subprocess.run([sys.executable, "-m", "faultmgr", "check", str(ROOT / "rules")], env=secrets,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"ok: {len(RULES)} file(s)")


def test_check_refuses_a_world_readable_key(secrets: dict[str, str]) -> None:
    key = Path(secrets["FAULTMGR_SECRETS"]) / "heartbeat.keys"
    key.chmod(0o644)
    result = subprocess.run([sys.executable, "-m", "faultmgr", "check", str(ROOT / "rules")], env=secrets,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "chmod 600" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("path", RULES, ids=lambda p: p.name)
def test_shipped_rules_validate_against_the_schema(path: Path) -> None:
    schema = json.loads(subprocess.run([sys.executable, "-m", "faultmgr", "schema"], check=True,
                                       capture_output=True, text=True, timeout=120).stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(yaml.safe_load(path.read_text()), schema, cls=jsonschema.Draft202012Validator)


def test_schema_rejects_what_check_rejects() -> None:
    schema = json.loads(subprocess.run([sys.executable, "-m", "faultmgr", "schema"], check=True,
                                       capture_output=True, text=True, timeout=120).stdout)
    bad = {"receivers": {"ops": {"type": "log", "group_wiat": "3s"}}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema, cls=jsonschema.Draft202012Validator)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"detectors": {"x": {"type": "no-such-type"}}}, schema,
                            cls=jsonschema.Draft202012Validator)
