"""Where the rule files shipped with faultmgr (the repository's ``rules/``) are on this machine.

A site's own file includes them (``include: ["${faultmgr:rules}/ha-oscar-head.yaml"]``) and defines the
detectors, actions and receivers they name. They are installed as data files into ``<prefix>/share/faultmgr/rules``
(setup.cfg ``[options.data_files]``); a source checkout (an editable install) uses its own ``rules/`` folder, so
an edit there takes effect without reinstalling.
"""

from __future__ import annotations

import site
import sys
from pathlib import Path

#: The folder below an installation prefix that holds the shipped rule files.
SHARE = Path("share", "faultmgr", "rules")


def candidates() -> list[Path]:
    """The folders looked at, in order: the source checkout's ``rules/``, then ``share/faultmgr/rules`` under
    this interpreter's prefix (a virtual environment's), the user base (``pip install --user``) and the system
    prefixes."""
    checkout = Path(__file__).resolve().parent.parent
    found = [checkout / "rules"] if (checkout / "setup.cfg").is_file() else []
    prefixes = [Path(sys.prefix), Path(sys.base_prefix), Path(site.getuserbase()), Path("/usr/local"),
                Path("/usr")]
    for prefix in prefixes:
        if prefix / SHARE not in found:
            found.append(prefix / SHARE)
    return found


def shipped_rules() -> Path | None:
    """The folder of the shipped rule files (the first candidate holding ``*.yaml`` files), or ``None`` when
    faultmgr was installed without them."""
    for folder in candidates():
        if folder.is_dir() and any(folder.glob("*.yaml")):
            return folder
    return None
