"""An example faultmgr plugin distribution: copy it to start your own."""
