"""``python -m faultmgr``."""

from faultmgr.cli.main import main

main()
