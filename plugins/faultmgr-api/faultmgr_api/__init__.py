"""faultmgr-api: the operator interfaces of a running daemon.

An aiohttp server in the daemon's own event loop serves the versioned JSON API (``/api/v1``, described by
``/api/v1/openapi.json``), Prometheus metrics (``/metrics``) and a dashboard page (``/``). The ``faultmgr
remote`` command group talks to that API from another machine. Enabled by an ``api:`` rule-file section.
"""
