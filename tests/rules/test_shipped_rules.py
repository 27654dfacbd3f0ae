"""The shipped rule files pass `faultmgr check` together with the site part a site writes (the deployment samples
in contrib/ define the detectors, actions and receivers they name), validate against `faultmgr schema`, name only
what docs/rules.md documents, and are found where faultmgr looks for them."""

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
RECEIVERS = ROOT / "contrib" / "etc" / "faultmgr" / "receivers.yaml"
TWO_HEADS = ROOT / "contrib" / "deploy" / "two-heads"
#: Each shipped file, with the site part that completes it (the site's own file includes the shipped one).
SITES = {"ha-oscar-head.yaml": [TWO_HEADS / "head-a", RECEIVERS],
         "ha-oscar-watcher.yaml": [TWO_HEADS / "watcher", RECEIVERS],
         "security.yaml": [ROOT / "rules" / "security.yaml", RECEIVERS]}


@pytest.fixture
def secrets(tmp_path: Path) -> dict[str, str]:
    """The secret files the shipped rules name, as an operator would create them (mode 0600)."""
    (tmp_path / "heartbeat.keys").write_text("1 " + os.urandom(24).hex() + "\n")
    (tmp_path / "twilio.credentials").write_text("TWILIO_ACCOUNT_SID=AC" + "0" * 32 + "\n"
                                                 "TWILIO_AUTH_TOKEN=" + "0" * 32 + "\n")
    for path in tmp_path.iterdir():
        path.chmod(0o600)
    return {**os.environ, "FAULTMGR_SECRETS": str(tmp_path)}


def test_every_shipped_file_has_a_site_part() -> None:
    assert sorted(SITES) == [path.name for path in RULES]


@pytest.mark.parametrize("name", sorted(SITES))
def test_check_passes_on_the_shipped_rules_with_a_site_part(name: str, secrets: dict[str, str]) -> None:
    from faultmgr.config.build import read_all

    docs, issues = read_all(SITES[name])
    assert issues == []
    assert ROOT / "rules" / name in {Path(doc.file) for doc in docs}  # included by the site's own file
    shipped = yaml.safe_load((ROOT / "rules" / name).read_text())
    result = subprocess.run([sys.executable, "-m", "faultmgr", "check", *map(str, SITES[name])], env=secrets,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(shipped['rules'])} rule(s)" in result.stdout, result.stdout


def test_shipped_rules_name_only_documented_parts() -> None:
    """What a site must define for a shipped file is listed in docs/rules.md (and in the file's header)."""
    docs = (ROOT / "docs" / "rules.md").read_text()
    for path in RULES:
        rules = yaml.safe_load(path.read_text())["rules"]
        names = {rule["match"].get("source") for rule in rules.values()} - {None}
        for rule in rules.values():
            names |= set(rule.get("notify", [])) | set(rule.get("actions", []))
            names |= {n for tier in rule.get("escalate", []) for n in tier["notify"]}
        for name in names:
            assert f"`{name}`" in docs, f"{path.name} names {name!r}, which docs/rules.md does not document"
            assert name in path.read_text().split("rules:", 1)[0] or path.name == "security.yaml", (
                f"{path.name}'s header does not list {name!r}")


def test_the_shipped_rules_are_found_from_a_checkout() -> None:
    from faultmgr import shipped_rules

    assert shipped_rules() == ROOT / "rules"


def test_check_refuses_a_world_readable_key(secrets: dict[str, str]) -> None:
    key = Path(secrets["FAULTMGR_SECRETS"]) / "heartbeat.keys"
    key.chmod(0o644)
    result = subprocess.run([sys.executable, "-m", "faultmgr", "check", *map(str, SITES["ha-oscar-head.yaml"])],
                            env=secrets, capture_output=True, text=True, timeout=120)
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


def test_the_loader_expands_the_shipped_rules_folder_and_refuses_other_references() -> None:
    from faultmgr.config.yamlfile import YamlProblem, parse_text

    doc = parse_text('include: ["${faultmgr:rules}/ha-oscar-head.yaml"]\n', "site.yaml")
    assert doc.data["include"] == [str(ROOT / "rules" / "ha-oscar-head.yaml")]
    with pytest.raises(YamlProblem, match=r"unknown reference \$\{faultmgr:rulez\}") as info:
        parse_text("include:\n  - ${faultmgr:rulez}/x.yaml\n", "site.yaml")
    assert info.value.line == 2
