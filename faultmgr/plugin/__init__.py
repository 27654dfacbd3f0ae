"""Finding, loading and registering plugins (see :mod:`faultmgr.plugin.manager`)."""
