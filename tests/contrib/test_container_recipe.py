"""The container recipe's install step, run for real: no container engine runs here (and the base image is not
reachable), so the test does what the Containerfile's ``pip install`` line does — a non-editable install of the
listed distributions into a fresh virtual environment — and checks the result works. Editable installs hide
files a wheel leaves out (MIBs, templates, static pages); this does not."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "contrib" / "container" / "Containerfile"
pytestmark = pytest.mark.slow


def install_targets() -> list[str]:
    """The paths the recipe's ``pip install`` names (``/src`` is the repository)."""
    text = RECIPE.read_text().replace("\\\n", " ")
    [line] = [line for line in text.splitlines() if "pip install" in line]
    return [ROOT.as_posix() + path[len("/src"):] for path in re.findall(r"/src[^\s&]*", line.split("&&")[0])]


def test_the_recipe_installs_every_first_party_plugin() -> None:
    listed = {Path(path).name for path in install_targets()[1:]}
    shipped = {path.name for path in (ROOT / "plugins").iterdir() if (path / "setup.cfg").exists()}
    assert listed == shipped - {"faultmgr-demo"}  # the demo is for a workstation, not for a production image


def test_a_plain_install_of_the_recipe_runs(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    # The build requirements once, not in an isolated environment per distribution (that took minutes).
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "setuptools>=68", "wheel"], check=True, timeout=600)
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--no-build-isolation", *install_targets()],
                         capture_output=True, text=True, timeout=900,
                         env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    assert pip.returncode == 0, pip.stderr[-3000:]
    faultmgr = str(venv / "bin" / "faultmgr")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "FAULTMGR_DISABLE_PLUGINS")}
    listed = subprocess.run([faultmgr, "plugins", "--json"], capture_output=True, text=True, timeout=120, env=env,
                            cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    plugins = json.loads(listed.stdout)
    text = json.dumps(plugins)
    for dist in ("faultmgr-heartbeat", "faultmgr-vip", "faultmgr-snmp", "faultmgr-api", "faultmgr-email"):
        assert dist in text, f"{dist} not loaded from the plain install: {text[:2000]}"
    assert "faultmgr-demo" not in text
    # Files a wheel must carry: the MIB, the e-mail templates, the dashboard's page.
    site = subprocess.run([str(venv / "bin" / "python"), "-c", "import faultmgr_snmp, faultmgr_email, faultmgr_api;"
                           "print(faultmgr_snmp.__file__, faultmgr_email.__file__, faultmgr_api.__file__)"],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env)
    assert site.returncode == 0, site.stderr
    snmp, email, api = (Path(p).parent for p in site.stdout.split())
    assert str(venv) in str(snmp), "imported from the source tree, not from the install"
    assert list(snmp.glob("mibs/FAULTMGR-MIB*")), "the MIB is missing from the wheel"
    assert list(email.glob("templates/*.j2")), "the e-mail templates are missing from the wheel"
    assert list(api.glob("static/*.html")), "the dashboard page is missing from the wheel"
    # The config the image expects under /etc/faultmgr passes check with the installed code.
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "heartbeat.keys").write_text("1 " + os.urandom(32).hex() + "\n")
    (secrets / "twilio.credentials").write_text("TWILIO_ACCOUNT_SID=AC" + "0" * 32 + "\nTWILIO_AUTH_TOKEN=" +
                                                "0" * 32 + "\n")
    for path in secrets.iterdir():
        path.chmod(0o600)
    check = subprocess.run([faultmgr, "check", str(ROOT / "contrib" / "etc" / "faultmgr")], capture_output=True,
                           text=True, timeout=120, cwd=tmp_path, env={**env, "FAULTMGR_SECRETS": str(secrets)})
    assert check.returncode == 0, check.stdout + check.stderr
    # The shipped rule files are installed as data (share/faultmgr/rules), found without the source tree, and
    # a site's file that includes them with ${faultmgr:rules} passes check.
    found = subprocess.run([str(venv / "bin" / "python"), "-c", "import faultmgr; print(faultmgr.shipped_rules())"],
                           capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env)
    assert found.stdout.strip() == str(venv / "share" / "faultmgr" / "rules"), found.stdout + found.stderr
    assert {p.name for p in (venv / "share" / "faultmgr" / "rules").glob("*.yaml")} == \
        {p.name for p in (ROOT / "rules").glob("*.yaml")}
    head_a = [str(ROOT / "contrib" / "deploy" / "two-heads" / "head-a"), str(ROOT / "contrib" / "etc" / "faultmgr" /
                                                                            "receivers.yaml")]
    check = subprocess.run([faultmgr, "check", *head_a], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                           env={**env, "FAULTMGR_SECRETS": str(secrets)})
    assert check.returncode == 0, check.stdout + check.stderr
