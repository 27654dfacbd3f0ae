"""FAULTMGR-MIB passes smilint at a strict level, and the code's OIDs match the MIB's."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from faultmgr_snmp import mib as code
from faultmgr_snmp import mib_dir
from prereq import need_program


def smilint(path: Path, standard_mibs: str) -> str:
    """smilint's report at level 9 (every error, warning and note; level 6 is the usual strict one)."""
    program = need_program("smilint", "smitools")
    result = subprocess.run([program, "-l", "9", "-s", "-m", str(path)], env={**os.environ, "SMIPATH": standard_mibs},
                            capture_output=True, text=True, timeout=60)
    # smilint exits 0 even when it reports problems: its output is the verdict.
    return result.stdout + result.stderr


def test_smilint_finds_no_problem(standard_mibs: str) -> None:
    assert smilint(mib_dir() / "FAULTMGR-MIB.txt", standard_mibs) == ""


def test_smilint_would_report_a_problem(standard_mibs: str, tmp_path: Path) -> None:
    # Guards the test above against a smilint that silently checks nothing.
    broken = tmp_path / "FAULTMGR-MIB.txt"
    broken.write_text((mib_dir() / "FAULTMGR-MIB.txt").read_text().replace("FROM SNMPv2-TC", "FROM SNMPv2-TCX"))
    assert "SNMPv2-TCX" in smilint(broken, standard_mibs)


def test_oids_in_code_match_the_mib(standard_mibs: str) -> None:
    smidump = need_program("smidump", "smitools")
    result = subprocess.run([smidump, "-f", "identifiers", str(mib_dir() / "FAULTMGR-MIB.txt")],
                            env={**os.environ, "SMIPATH": standard_mibs}, capture_output=True, text=True,
                            check=True, timeout=60)
    oids = {line.split()[1]: line.split()[3] for line in result.stdout.splitlines()
            if line.startswith("FAULTMGR-MIB") and len(line.split()) == 4}
    assert oids["faultmgrMIB"] == code.FAULTMGR_MIB
    assert oids["faultmgrAlertRaised"] == code.ALERT_RAISED
    assert oids["faultmgrAlertCleared"] == code.ALERT_CLEARED
    assert oids["faultmgrAlertAcknowledged"] == code.ALERT_ACKNOWLEDGED
    for name, oid in (("faultmgrAlertId", code.ALERT_ID), ("faultmgrAlertSeverity", code.ALERT_SEVERITY),
                      ("faultmgrAlertSubject", code.ALERT_SUBJECT), ("faultmgrAlertRule", code.ALERT_RULE),
                      ("faultmgrAlertDescription", code.ALERT_DESCRIPTION)):
        assert oids[name] + ".0" == oid
