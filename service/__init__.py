"""REST service and the ``kgr`` command line."""
