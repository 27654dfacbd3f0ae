"""Boots user-mode Linux (a real 6.1 kernel with IPVS) once and runs every IPVS case inside it.

The host kernel has no IPVS. ``linux.uml`` runs as an ordinary process with the host's root directory as
its root filesystem (hostfs), so the guest runs this project's virtualenv unchanged: the init script below
loads the IPVS modules and runs ``uml_ipvs_cases.py`` with pytest, then writes pytest's exit status and
output to files on the host. See shared/KERNEL-TESTS.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prereq import need, need_program

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parents[2]
CASES = HERE / "uml_ipvs_cases.py"
BOOT_TIMEOUT = 120
MODULES = ("ip_vs", "ip_vs_wrr", "ip_vs_wlc", "ip_vs_rr", "dummy")


def uml_kernel() -> tuple[str | None, Path | None]:
    """Path of ``linux.uml`` (from ``dpkg -L user-mode-linux``) and of its modules folder."""
    try:
        files = subprocess.run(["dpkg", "-L", "user-mode-linux"], capture_output=True, text=True,
                               check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return None, None
    kernel = next((f for f in files if f.endswith("/linux.uml") and os.access(f, os.X_OK)), None)
    roots = [Path(f) for f in files if f.rstrip("/").endswith("/uml/modules")]
    versions = sorted(p for root in roots if root.is_dir() for p in root.iterdir() if p.is_dir())
    return kernel, versions[-1] if versions else None


def init_script(out: Path, python: str) -> str:
    """The guest's PID 1: mounts, modules, the inner pytest run, status to the host, halt."""
    ci = os.environ.get("CI", "")
    return f"""#!/bin/sh
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root CI='{ci}' PYTHONDONTWRITEBYTECODE=1
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t tmpfs tmpfs /lib/modules
mkdir -p /lib/modules/$(uname -r)
mount --bind /usr/lib/uml/modules/$(uname -r) /lib/modules/$(uname -r)
{{
  for m in {' '.join(MODULES)}; do modprobe $m || echo "modprobe $m failed"; done
  cd {PROJECT} && {python} -m pytest -p no:cacheprovider -p no:faultmgr -q -rA {CASES}
  echo $? > {out}/status
}} > {out}/output 2>&1
halt -f
"""


@pytest.mark.uml
def test_ipvs_cases_inside_user_mode_linux(tmp_path: Path) -> None:
    kernel, modules = uml_kernel()
    need(kernel is not None, "needs linux.uml (Debian package user-mode-linux)")
    need(modules is not None, "needs the UML kernel modules (Debian package user-mode-linux)")
    need_program("modprobe", "kmod")
    need_program("ipvsadm")
    python = str(PROJECT / ".venv" / "bin" / "python")
    if not os.access(python, os.X_OK):
        python = sys.executable
    init = tmp_path / "init.sh"
    init.write_text(init_script(tmp_path, python))
    init.chmod(0o755)

    boot = subprocess.run(
        ["timeout", str(BOOT_TIMEOUT), str(kernel), "mem=512M", "root=/dev/root", "rootfstype=hostfs",
         "rootflags=/", "rw", f"init={init}", "con=null", "con0=fd:0,fd:1"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=BOOT_TIMEOUT + 10)

    status = tmp_path / "status"
    output = (tmp_path / "output").read_text() if (tmp_path / "output").exists() else "(no output)"
    if not status.exists():
        pytest.fail(f"the guest wrote no status (linux.uml exit {boot.returncode}); guest output:\n{output}\n"
                    f"console (tail):\n{boot.stdout[-3000:]}")
    assert status.read_text().strip() == "0", f"IPVS cases failed inside user-mode Linux:\n{output}"
    assert " passed" in output and "skipped" not in output, output
